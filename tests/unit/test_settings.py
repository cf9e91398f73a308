"""A deployment's secret: only a developer's own machine may run on the published default."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from libs.common.settings import DEV_SECRET, service_settings


def test_development_runs_on_the_default_secret() -> None:
    assert service_settings("catalog", environment="development").secret_key == DEV_SECRET


@pytest.mark.parametrize("environment", ["test", "production"])
def test_every_other_environment_refuses_the_default_secret(environment: str) -> None:
    with pytest.raises(ValidationError, match="development default"):
        service_settings("catalog", environment=environment)


@pytest.mark.parametrize("environment", ["test", "production"])
def test_a_short_secret_is_refused_outside_development(environment: str) -> None:
    with pytest.raises(ValidationError, match="at least 32 characters"):
        service_settings("catalog", environment=environment, secret_key="too-short")


def test_a_real_secret_is_taken_in_production() -> None:
    secret = "a-real-deployment-secret-of-32-characters-or-more"
    assert service_settings("catalog", environment="production", secret_key=secret).secret_key
