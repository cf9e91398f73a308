"""The deployment files: generated from the federation file, the Kubernetes overlay renders
with kustomize and every object is valid by the Kubernetes schemas and the operators' CRD
schemas, and compose.yaml is valid by the Compose specification."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import kubernetes_validate.utils
import pytest
import yaml

from deploy.manifests import HERE, files
from libs.common.federation import default_federation

SCHEMAS = Path(__file__).resolve().parents[1] / "fixtures" / "schemas"
K8S_VERSION = "1.32.0"
CRDS = {
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"): "rabbitmqcluster.v1beta1.json",
    ("postgresql.cnpg.io/v1", "Cluster"): "cnpg-cluster.v1.json",
}


@pytest.fixture(scope="module")
def rendered() -> list[dict]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (with its built-in kustomize) is needed to render deploy/k8s"
    out = subprocess.run(
        [kubectl, "kustomize", str(HERE / "k8s" / "overlays" / "demo")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def test_the_committed_deployment_files_are_the_generated_ones():
    stale = [
        str(path.relative_to(HERE.parent))
        for path, text in files(default_federation()).items()
        if not path.exists() or path.read_text() != text
    ]
    assert not stale, f"out of date (run `make manifests`): {stale}"


def test_every_rendered_object_is_valid_by_its_schema(rendered, monkeypatch):
    # The package reads its (large) schema files again for every object: read each once.
    monkeypatch.setattr(
        kubernetes_validate.utils,
        "schema_contents",
        functools.cache(kubernetes_validate.utils.schema_contents),
    )
    crd_validators = {
        key: jsonschema.Draft7Validator(json.loads((SCHEMAS / name).read_text())["openAPIV3Schema"])
        for key, name in CRDS.items()
    }
    problems = []
    for obj in rendered:
        key = (obj["apiVersion"], obj["kind"])
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        try:
            if key in crd_validators:
                crd_validators[key].validate(obj)
            else:
                kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except (jsonschema.ValidationError, kubernetes_validate.ValidationError) as exc:
            problems.append(f"{where}: {exc.message}")
    assert not problems


def test_a_schema_check_catches_a_wrong_field(rendered):
    deployment = next(o for o in rendered if o["kind"] == "Deployment")
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["replica"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)
    cluster = next(o for o in rendered if o["kind"] == "RabbitmqCluster")
    broken = json.loads(json.dumps(cluster))
    broken["spec"]["replicas"] = "three"
    schema = json.loads((SCHEMAS / CRDS[("rabbitmq.com/v1beta1", "RabbitmqCluster")]).read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema["openAPIV3Schema"])


def test_every_unit_runs_replicated_behind_probes_budgets_and_a_network_policy(rendered):
    fed = default_federation()
    by_kind: dict[str, dict[str, dict]] = {}
    for obj in rendered:
        by_kind.setdefault(obj["kind"], {})[obj["metadata"]["name"]] = obj
    keys = [
        "catalog",
        "requests",
        "notifier",
        *(f"circulation-{lib.code}" for lib in fed.libraries),
    ]
    for key in keys:
        dep = by_kind["Deployment"][f"illfed-{key}"]
        assert dep["spec"]["replicas"] >= 2
        (container,) = dep["spec"]["template"]["spec"]["containers"]
        assert container["args"] == ["serve-unit", key]
        assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
        assert container["livenessProbe"]["httpGet"]["path"] == "/health"
        assert container["resources"]["requests"] and container["resources"]["limits"]
        assert f"illfed-{key}" in by_kind["PodDisruptionBudget"]
        assert by_kind["Job"][f"illfed-migrate-{key}"]["spec"]["template"]["spec"]["containers"][0][
            "args"
        ] == ["migrate", key]
        egress = by_kind["NetworkPolicy"][f"illfed-{key}"]["spec"]["egress"]
        targets = [peer["podSelector"]["matchLabels"] for rule in egress for peer in rule["to"]]
        assert {"cnpg.io/cluster": f"illfed-pg-{key}"} in targets
        assert {"app.kubernetes.io/name": "illfed-rabbitmq"} in targets
    assert by_kind["RabbitmqCluster"]["illfed-rabbitmq"]["spec"]["replicas"] == 3


def test_no_secret_is_written_into_the_manifests(rendered):
    assert not [o for o in rendered if o["kind"] == "Secret"]
    for obj in rendered:
        for env in _envs(obj):
            assert "SECRET" not in env["name"] or "valueFrom" in env, env
            assert "PASSWORD" not in env["name"] or "valueFrom" in env, env


def _envs(obj: dict):
    spec = obj.get("spec", {}).get("template", {}).get("spec", {})
    for container in spec.get("containers", []):
        yield from container.get("env", [])


def test_the_compose_file_is_valid_by_the_compose_specification():
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text())
    doc = yaml.safe_load((HERE / "compose.yaml").read_text())
    compose_spec = jsonschema.Draft7Validator(schema)
    compose_spec.validate(doc)
    services = doc["services"]
    assert {"postgres", "rabbitmq-1", "rabbitmq-2", "rabbitmq-3", "mailpit"} <= set(services)
    assert services["catalog"]["depends_on"]["migrate-catalog"] == {
        "condition": "service_completed_successfully"
    }
    broken = {**doc, "services": {**services, "catalog": {**services["catalog"], "port": 1}}}
    with pytest.raises(jsonschema.ValidationError):
        compose_spec.validate(broken)
