"""Slowing down repeated failed sign-ins (HKPL-08), per client and per identifier.

Card numbers are sequential, so a hard lock-out after a few wrong secrets would let anyone
shut any patron out by typing their number; and a lock-out told only for real cards would
say which numbers exist. Instead each identifier (whether an account has it or not) and each
client has a count of wrong secrets in a row: past the policy's number, every further try
must wait, longer after each failure up to a ceiling, and the count is forgotten once the
failures stop. Every wait ends by the injectable clock; the real patron gets in once it has.

The counts are kept in memory by the one process that serves the library's sign-ins, and
identifiers are kept only as keyed hashes (no HKID number typed by anyone is held as such).
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from libs.common.policy.models import CredentialTerms
from services.circulation.domain.hkid import is_valid_hkid, normalize_hkid

MAX_KEYS = 100_000
"""Counts kept at most; beyond, the oldest are dropped (a flood of made-up identifiers must
not grow the process without bound)."""


@dataclass
class _Failures:
    count: int
    last: datetime
    wait_until: datetime


class SignInThrottle:
    def __init__(self, max_keys: int = MAX_KEYS) -> None:
        self._counts: dict[str, _Failures] = {}
        self._max_keys = max_keys
        self._salt = secrets.token_bytes(16)

    def _key(self, kind: str, value: str) -> str:
        digest = hashlib.blake2b(value.encode(), key=self._salt, digest_size=16).hexdigest()
        return f"{kind}:{digest}"

    def identifier_key(self, identifier: str) -> str:
        """One key per identifier however it is typed (``k 123456 7`` is ``K123456(7)``)."""
        ident = identifier.strip().upper()
        return self._key("identifier", normalize_hkid(ident) if is_valid_hkid(ident) else ident)

    def client_key(self, client: str) -> str:
        return self._key("client", client)

    def wait(self, *, client: str, identifier: str, terms: CredentialTerms, now: datetime) -> int:
        """Whole seconds to wait before this client may try this identifier again (0: go)."""
        until = [
            f.wait_until
            for key in (self.client_key(client), self.identifier_key(identifier))
            if (f := self._current(key, terms, now)) is not None
        ]
        longest = max(until, default=now)
        return math.ceil((longest - now).total_seconds()) if longest > now else 0

    def failed(
        self, *, client: str, identifier: str, terms: CredentialTerms, now: datetime
    ) -> None:
        """Count a wrong secret against the client and the identifier."""
        for key, limit in (
            (self.client_key(client), terms.client_lockout_after_failures),
            (self.identifier_key(identifier), terms.lockout_after_failures),
        ):
            previous = self._current(key, terms, now)
            count = (previous.count if previous else 0) + 1
            self._counts.pop(key, None)  # re-inserted last: the dict stays oldest first
            self._counts[key] = _Failures(count, now, now + _wait(count, limit, terms))
        self._prune(terms, now)

    def succeeded(self, *, client: str, identifier: str, terms: CredentialTerms) -> None:
        """The secret matched: the identifier's count starts again, and the failure counted
        against the client before checking is taken back (only that one: signing in to one's
        own account must not buy more guesses at somebody else's)."""
        self._counts.pop(self.identifier_key(identifier), None)
        key = self.client_key(client)
        found = self._counts.get(key)
        if found is not None:
            found.count -= 1
            limit = terms.client_lockout_after_failures
            found.wait_until = found.last + _wait(found.count, limit, terms)

    def forget(self, identifiers: Iterable[str]) -> None:
        """Staff lift the wait of an account's identifiers."""
        for identifier in identifiers:
            self._counts.pop(self.identifier_key(identifier), None)

    def waiting(self, identifiers: Iterable[str], terms: CredentialTerms, now: datetime) -> bool:
        """Whether sign-in with any of these identifiers must wait now."""
        return any(
            (f := self._current(self.identifier_key(i), terms, now)) is not None
            and f.wait_until > now
            for i in identifiers
        )

    def _current(self, key: str, terms: CredentialTerms, now: datetime) -> _Failures | None:
        found = self._counts.get(key)
        if found is not None and now >= found.wait_until + _forget_after(terms):
            del self._counts[key]
            return None
        return found

    def _prune(self, terms: CredentialTerms, now: datetime) -> None:
        if len(self._counts) <= self._max_keys:
            return
        for key in [
            k for k, f in self._counts.items() if now >= f.wait_until + _forget_after(terms)
        ]:
            del self._counts[key]
        while len(self._counts) > self._max_keys:
            del self._counts[next(iter(self._counts))]


def _wait(count: int, limit: int, terms: CredentialTerms) -> timedelta:
    """The wait after ``count`` failures in a row: none below ``limit``, then doubling."""
    over = count - limit
    if over < 0:
        return timedelta(0)
    doubled = terms.lockout_seconds * 2 ** min(over, 20)  # 2**20 s is past any ceiling
    return timedelta(seconds=min(doubled, terms.max_lockout_seconds))


def _forget_after(terms: CredentialTerms) -> timedelta:
    """How long after its wait ends a count is forgotten, failures having stopped."""
    return timedelta(seconds=terms.max_lockout_seconds)
