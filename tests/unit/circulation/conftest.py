from __future__ import annotations

from datetime import date

import pytest
from argon2 import PasswordHasher

from libs.common.policy import Policy, load_policy
from services.circulation.domain.hashing import SecretHasher


@pytest.fixture(scope="session")
def hkpl() -> Policy:
    return load_policy("hkpl")


@pytest.fixture(scope="session")
def hkall() -> Policy:
    return load_policy("hkall")


@pytest.fixture(scope="session")
def mala() -> Policy:
    return load_policy("mala")


@pytest.fixture(scope="session")
def hasher() -> SecretHasher:
    # Real argon2id, with the cost turned down so tests stay fast.
    return SecretHasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def today() -> date:
    return date(2026, 3, 2)
