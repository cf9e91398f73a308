"""Errors for operations asked of the wrong state (a state conflict, not a rule refusal).

A rule that refuses answers with a :class:`~libs.common.policy.Decision`; these exceptions
are for requests that make no sense in the current state: returning a loan twice, collecting
a hold that is not ready. The REST layer maps them to ``409 Conflict``.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of the circulation domain's state errors; ``code`` is stable for clients."""

    code = "domain_error"


class ItemNotAvailable(DomainError):
    code = "item_not_available"


class LoanNotActive(DomainError):
    code = "loan_not_active"


class HoldNotFound(DomainError):
    code = "hold_not_found"


class HoldNotReady(DomainError):
    code = "hold_not_ready"


class DuplicateHold(DomainError):
    code = "duplicate_hold"


class CredentialNotFound(DomainError):
    code = "credential_not_found"


class InvalidHkid(DomainError, ValueError):
    code = "invalid_hkid"


class SmartIdFieldRefused(DomainError, ValueError):
    """A smart ID card reading carried a field HKPL-14 does not allow to be read."""

    code = "smart_id_field_refused"
    rule = "HKPL-14"

    def __init__(self, purpose: str, fields: list[str]) -> None:
        self.purpose, self.fields = purpose, fields
        super().__init__(
            f"only the fields HKPL-14 allows may be read from a smart ID card at {purpose}; "
            f"refused: {', '.join(sorted(fields))}"
        )


class CredentialInUse(DomainError):
    """A card number or smart ID card that already belongs to an account."""

    code = "credential_in_use"
