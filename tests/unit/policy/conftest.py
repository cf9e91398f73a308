from __future__ import annotations

import pytest

from libs.common.policy import Policy, load_policy


@pytest.fixture(scope="session")
def hkpl() -> Policy:
    return load_policy("hkpl")


@pytest.fixture(scope="session")
def hkall() -> Policy:
    return load_policy("hkall")


@pytest.fixture(scope="session")
def mala() -> Policy:
    return load_policy("mala")
