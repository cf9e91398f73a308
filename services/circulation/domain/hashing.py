"""Slow hashing of sign-in secrets (HKPL-08): passwords and the last four phone digits."""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class SecretHasher:
    """argon2id hashing for passwords and the last four phone digits (never stored plain).

    Four digits are a small space: the slow hash makes each guess costly offline, and the
    sign-in lock-out bounds guesses online.
    """

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        self._dummy: str | None = None

    def hash(self, secret: str) -> str:
        return self._hasher.hash(secret)

    def waste(self, secret: str) -> None:
        """Take as long as :meth:`verify` without anything to match: signing in with an
        identifier nobody has must not answer faster than with one that exists."""
        if self._dummy is None:
            self._dummy = self._hasher.hash("no secret matches this")
        self.verify(self._dummy, secret)

    def verify(self, encoded: str | None, secret: str) -> bool:
        if not encoded:
            return False
        try:
            return self._hasher.verify(encoded, secret)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


def phone_last_four(phone: str) -> str:
    """The last four digits of a telephone number, the alternative secret of HKPL-08."""
    digits = re.sub(r"\D", "", phone)
    if len(digits) < 4:
        raise ValueError("a telephone number needs at least four digits")
    return digits[-4:]
