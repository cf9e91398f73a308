"""Every time claim of a token (``exp``, ``iat``, ``nbf``) is judged by the injectable clock,
never the machine's: a federation whose clock is set years ahead of, or behind, the machine's
date still accepts its own tokens, and refuses them once they expire by its clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from libs.common.auth import ALGORITHM, ISSUER, TokenIssuer
from libs.common.clock import ManualClock
from libs.common.errors import Problem

SECRET = "a-test-secret-that-is-long-enough-for-hs256"
AUDIENCE = "illfed:circulation:hkpl"
YEARS_AHEAD = datetime(2071, 3, 1, 2, 0, tzinfo=UTC)
YEARS_BEHIND = datetime(2001, 3, 4, 5, 6, tzinfo=UTC)


def issuer(clock: ManualClock) -> TokenIssuer:
    return TokenIssuer(SECRET, AUDIENCE, clock, ttl_seconds=3600)


@pytest.mark.parametrize("when", [YEARS_AHEAD, YEARS_BEHIND], ids=["years-ahead", "years-behind"])
@pytest.mark.parametrize(
    ("subject", "role", "library"),
    [("hkpl", "library", "hkpl"), ("consortium-ops", "operator", None), ("P1", "patron", "hkpl")],
    ids=["service", "operator", "patron-session"],
)
def test_tokens_follow_the_injected_clock_not_the_machines(when, subject, role, library):
    clock = ManualClock(when)
    tokens = issuer(clock)
    token = tokens.issue(subject, role, library)
    principal = tokens.verify(token)
    assert (principal.subject, principal.role, principal.library) == (subject, role, library)
    clock.advance(minutes=59)
    assert tokens.verify(token).subject == subject
    clock.advance(minutes=2)
    with pytest.raises(Problem) as refused:
        tokens.verify(token)
    assert refused.value.status == 401 and "expired" in refused.value.detail


@pytest.mark.parametrize("when", [YEARS_AHEAD, YEARS_BEHIND], ids=["years-ahead", "years-behind"])
def test_a_token_issued_or_valid_only_later_by_the_clock_is_refused(when):
    clock = ManualClock(when)
    tokens = issuer(clock)
    now = int(when.timestamp())
    base = {"iss": ISSUER, "sub": "hkpl", "aud": AUDIENCE, "role": "library", "lib": "hkpl"}
    for claims in (
        {**base, "iat": now + 3600, "exp": now + 7200},  # issued an hour from now
        {**base, "iat": now, "nbf": now + 3600, "exp": now + 7200},  # not valid for an hour
    ):
        token = jwt.encode(claims, SECRET, algorithm=ALGORITHM)
        with pytest.raises(Problem) as refused:
            tokens.verify(token)
        assert refused.value.status == 401 and "not valid yet" in refused.value.detail
        # Once the clock reaches it, the same token is good.
        clock.set(when + timedelta(hours=1))
        assert tokens.verify(token).subject == "hkpl"
        clock.set(when)
    # A few seconds of difference between the clocks of two processes are tolerated.
    token = jwt.encode({**base, "iat": now + 5, "nbf": now + 5, "exp": now + 60}, SECRET, ALGORITHM)
    assert tokens.verify(token).subject == "hkpl"


def test_a_token_verified_once_does_not_vouch_for_an_altered_copy_of_it():
    clock = ManualClock(YEARS_AHEAD)
    tokens = issuer(clock)
    token = tokens.issue("P1", "patron", "hkpl")
    assert tokens.verify(token).subject == "P1"  # its claims are kept from now on
    header, payload, signature = token.split(".")
    forged_claims = jwt.encode(
        {"iss": ISSUER, "sub": "P2", "aud": AUDIENCE, "role": "operator", "exp": 4102444800},
        "another-secret-that-is-long-enough-for-hs256",
        algorithm=ALGORITHM,
    ).split(".")[1]
    for altered in (f"{header}.{forged_claims}.{signature}", f"{header}.{payload}.{signature}x"):
        with pytest.raises(Problem) as refused:
            tokens.verify(altered)
        assert refused.value.status == 401 and "not valid" in refused.value.detail
    other = TokenIssuer(SECRET, "illfed:circulation:hku", clock)
    with pytest.raises(Problem) as refused:
        other.verify(token)
    assert "not meant for this service" in refused.value.detail
