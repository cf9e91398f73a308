"""Property-based calls to every operation of every service, generated from its own OpenAPI
document (schemathesis), on a seeded federation with the token an honest caller of each
operation holds: no server error, no status code or content type the document does not
list, and answers shaped as documented. Valid and invalid inputs alike; bounded and
deterministic (a fixed number of examples per operation, no example database)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES = 15
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
BOUNDED = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    # the first failing example of each operation is reported as found, not shrunk
    phases=[Phase.explicit, Phase.generate],
)


def _fuzz(operation, headers: dict[str, str], known: dict[str, object]) -> None:
    """Valid and invalid requests to one operation, each answer checked; valid ones also
    about what the seeding made, not only about ids nobody has."""
    strategies = [
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    ]
    names = {p.name for p in operation.path_parameters}
    if names and names <= known.keys():
        strategies.append(
            operation.as_strategy(
                GenerationMode.POSITIVE, path_parameters={n: known[n] for n in names}
            )
        )
    cases = st.one_of(*strategies)

    @BOUNDED
    @given(case=cases)
    def call(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    call()


@pytest.mark.parametrize("name", ["catalog", "requests", "notifier", "circulation"])
def test_every_operation_answers_as_its_document_says(federation, name):
    service = federation[name]
    # A generated ?until=…&wait=… would hold a call for up to 20 s; the service may answer
    # sooner (with the state then), and here does.
    service.runtime.changes.max_wait = 0.05
    schema = schemathesis.openapi.from_asgi("/openapi.json", service.app)
    schema.config.generation.update(with_security_parameters=False)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        token = service.token_for(operation.method, operation.path)
        try:
            _fuzz(operation, {"Authorization": f"Bearer {token}"}, service.known)
        except (Exception, BaseExceptionGroup) as exc:  # every operation is tried; all that
            # failed are reported
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)
