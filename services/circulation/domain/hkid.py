"""HKID numbers: format and check digit."""

from __future__ import annotations

import re

from services.circulation.domain.errors import InvalidHkid

_HKID = re.compile(r"^([A-Z]{1,2})([0-9]{6})\(?([0-9A])\)?$")


def _char_value(ch: str) -> int:
    return 36 if ch == " " else (ord(ch) - ord("A") + 10 if ch.isalpha() else int(ch))


def hkid_check_digit(prefix: str, digits: str) -> str:
    """The check digit of an HKID number from its letter(s) and six digits.

    Weights 9..2 over eight positions; a one-letter prefix is padded with a space worth 36.
    The check digit makes the weighted sum divisible by 11; 10 is written ``A``.
    """
    body = prefix.rjust(2) + digits
    total = sum(weight * _char_value(ch) for weight, ch in zip(range(9, 1, -1), body, strict=True))
    check = (11 - total % 11) % 11
    return "A" if check == 10 else str(check)


def normalize_hkid(raw: str) -> str:
    """The HKID number as printed, ``A123456(3)``; raises :class:`InvalidHkid` when the
    format or the check digit is wrong."""
    compact = re.sub(r"\s+", "", raw).upper()
    match = _HKID.match(compact)
    if match is None:
        raise InvalidHkid("an HKID number is one or two letters, six digits and a check digit")
    prefix, digits, check = match.groups()
    if hkid_check_digit(prefix, digits) != check:
        raise InvalidHkid("the HKID number's check digit is wrong")
    return f"{prefix}{digits}({check})"


def is_valid_hkid(raw: str) -> bool:
    try:
        normalize_hkid(raw)
    except InvalidHkid:
        return False
    return True


def hkid_problem(raw: str) -> str | None:
    """Why ``raw`` is not a valid HKID number, in plain words, or ``None`` when it is."""
    try:
        normalize_hkid(raw)
    except InvalidHkid as exc:
        return str(exc)
    return None


def looks_like_hkid(raw: str) -> bool:
    """Whether ``raw`` has the shape of an HKID number (its check digit may still be wrong)."""
    return _HKID.match(re.sub(r"\s+", "", raw).upper()) is not None
