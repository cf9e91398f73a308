"""HKPL-08: repeated failed sign-ins wait, per client and per identifier, by the injectable
clock; every wait ends, and the throttle never knows (or says) whether an account exists."""

from __future__ import annotations

from datetime import timedelta

from services.circulation.domain.throttle import SignInThrottle
from tests.unit.circulation.builders import hk

NOW = hk(2026, 3, 2)


def test_hkpl_08_an_identifier_waits_after_the_policys_failures_longer_each_time(hkpl):
    terms = hkpl.credentials
    throttle, now = SignInThrottle(), NOW
    for _ in range(terms.lockout_after_failures):
        assert throttle.wait(client="a", identifier="HKPL0001", terms=terms, now=now) == 0
        throttle.failed(client="a", identifier="HKPL0001", terms=terms, now=now)
    # Typed another way, from another client: the same identifier, the same wait.
    assert throttle.wait(client="b", identifier=" hkpl0001", terms=terms, now=now) == 60
    assert throttle.waiting(["HKPL0001"], terms, now)
    waits = []
    for _ in range(6):
        now += timedelta(seconds=waits[-1] if waits else 60)
        assert throttle.wait(client="b", identifier="HKPL0001", terms=terms, now=now) == 0
        throttle.failed(client="b", identifier="HKPL0001", terms=terms, now=now)
        waits.append(throttle.wait(client="c", identifier="HKPL0001", terms=terms, now=now))
    assert waits == [120, 240, 480, 900, 900, 900]  # doubling, up to the policy's ceiling
    # Failures stopped: once the wait is over, the right secret may be tried, and the count
    # is forgotten some time later.
    now += timedelta(seconds=900)
    assert throttle.wait(client="c", identifier="HKPL0001", terms=terms, now=now) == 0
    now += timedelta(seconds=terms.max_lockout_seconds)
    throttle.failed(client="c", identifier="HKPL0001", terms=terms, now=now)
    assert throttle.wait(client="c", identifier="HKPL0001", terms=terms, now=now) == 0


def test_hkpl_08_a_client_trying_many_identifiers_waits(hkpl):
    terms = hkpl.credentials
    throttle = SignInThrottle()
    for n in range(terms.client_lockout_after_failures):
        throttle.failed(client="a", identifier=f"HKPL{n:04d}", terms=terms, now=NOW)
    assert throttle.wait(client="a", identifier="HKPL9999", terms=terms, now=NOW) == 60
    assert throttle.wait(client="b", identifier="HKPL9999", terms=terms, now=NOW) == 0
    assert (
        throttle.wait(
            client="a", identifier="HKPL9999", terms=terms, now=NOW + timedelta(minutes=1)
        )
        == 0
    )


def test_hkpl_08_a_matching_secret_takes_back_only_its_own_count(hkpl):
    terms = hkpl.credentials
    throttle = SignInThrottle()
    limit = terms.client_lockout_after_failures
    for n in range(limit - 1):
        throttle.failed(client="a", identifier=f"HKPL{n:04d}", terms=terms, now=NOW)
    # Counted before the secret is checked, taken back when it matched...
    throttle.failed(client="a", identifier="MINE0001", terms=terms, now=NOW)
    throttle.succeeded(client="a", identifier="MINE0001", terms=terms)
    assert throttle.wait(client="a", identifier="HKPL9999", terms=terms, now=NOW) == 0
    # ...but signing in to one's own account does not wipe the client's earlier failures.
    throttle.failed(client="a", identifier="HKPL9999", terms=terms, now=NOW)
    assert throttle.wait(client="a", identifier="HKPL9999", terms=terms, now=NOW) == 60


def test_the_throttle_keeps_a_bounded_number_of_counts(hkpl):
    terms = hkpl.credentials
    throttle = SignInThrottle(max_keys=50)
    for n in range(500):
        throttle.failed(
            client=f"10.0.{n // 250}.{n % 250}", identifier=f"X{n:06d}", terms=terms, now=NOW
        )
    assert len(throttle._counts) <= 50
