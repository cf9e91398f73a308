"""Slow hashing of sign-in secrets (HKPL-08): passwords and the last four phone digits."""

from __future__ import annotations

import asyncio
import functools
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

T = TypeVar("T")


class SecretHasher:
    """argon2id hashing for passwords and the last four phone digits (never stored plain).

    Four digits are a small space: the slow hash makes each guess costly offline, and the
    sign-in throttle bounds guesses online.

    Every :meth:`verify` is one argon2 verification, even when there is no hash to match (it
    then runs against a hash nothing matches): how long a sign-in takes tells nobody whether
    the account, or one of its secrets, exists.
    """

    def __init__(self, hasher: PasswordHasher | None = None, workers: int | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        self._dummy: str | None = None
        # argon2 takes tens of milliseconds of CPU and memory: on the event loop it would
        # stall every request of the process (every service of the embedded one). It runs in
        # these few threads instead, which also bound how many run at once.
        self._workers = ThreadPoolExecutor(
            max_workers=workers or min(4, os.cpu_count() or 1), thread_name_prefix="argon2"
        )

    async def off_loop(self, fn: Callable[..., T], /, *args: object, **kwargs: object) -> T:
        """``fn(*args, **kwargs)``, which hashes or verifies, in the hasher's worker threads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._workers, functools.partial(fn, *args, **kwargs))

    def hash(self, secret: str) -> str:
        return self._hasher.hash(secret)

    def verify(self, encoded: str | None, secret: str) -> bool:
        if not encoded:
            if self._dummy is None:
                self._dummy = self._hasher.hash("no secret matches this")
            self._verify(self._dummy, secret)
            return False
        return self._verify(encoded, secret)

    def _verify(self, encoded: str, secret: str) -> bool:
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
