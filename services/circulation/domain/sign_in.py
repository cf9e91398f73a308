"""Sign-in (HKPL-08): a card number or HKID number with a password or the last four digits of
the registered phone number. Both secrets are stored only as slow (argon2) hashes, and
repeated failures are slowed down outside (the throttle)."""

from __future__ import annotations

from datetime import datetime

from libs.common.policy import Decision, Policy
from services.circulation.domain.base import DomainModel
from services.circulation.domain.credentials import CredentialSet, SignInCredential, refused
from services.circulation.domain.errors import CredentialNotFound
from services.circulation.domain.events import DomainEvent
from services.circulation.domain.hashing import SecretHasher, phone_last_four
from services.circulation.domain.hkid import hkid_problem, looks_like_hkid


def set_password(creds: CredentialSet, password: str, hasher: SecretHasher) -> CredentialSet:
    if not 6 <= len(password) <= 128:
        raise ValueError("a password has 6 to 128 characters")
    return creds.model_copy(update={"password_hash": hasher.hash(password)})


def set_phone_digits(creds: CredentialSet, phone: str, hasher: SecretHasher) -> CredentialSet:
    """Keep (the slow hash of) the last four digits of the registered telephone number."""
    return creds.model_copy(update={"phone_digits_hash": hasher.hash(phone_last_four(phone))})


class SignIn(DomainModel):
    decision: Decision
    credentials: CredentialSet
    credential: SignInCredential | None = None
    events: tuple[DomainEvent, ...] = ()

    @property
    def secret_failed(self) -> bool:
        """Whether the secret did not match (what the sign-in throttle counts)."""
        return any(r.code == "sign_in_failed" for r in self.decision.refusals)


NO_MATCH = "the card number or HKID number and the password or phone digits do not match"
SECRETS_CHECKED = 2
"""argon2 verifications per sign-in, whoever signs in: the password and the phone digits."""


def secret_matches(creds: CredentialSet | None, secret: str, hasher: SecretHasher) -> bool:
    """Whether ``secret`` is the account's password or phone digits. Always the same
    :data:`SECRETS_CHECKED` slow verifications, for an account with both secrets, one, none,
    or no account at all (``None``): the time it takes says nothing about the account."""
    password = hasher.verify(creds.password_hash if creds else None, secret)
    phone = hasher.verify(creds.phone_digits_hash if creds else None, secret)
    return password or phone


def _refusal(rule: str, code: str, reason: str) -> Decision:
    return refused("sign-in", rule, code, reason)


def sign_in_unknown(
    identifier: str, secret: str, *, hasher: SecretHasher, policy: Policy
) -> Decision:
    """HKPL-08 for an identifier no account has: refused as a wrong secret is, after the same
    slow work. An HKID number with a wrong check digit is a typing mistake whoever types it,
    and is said so plainly (that says nothing about any account)."""
    secret_matches(None, secret, hasher)
    rule = policy.credentials.rule or "HKPL-08"
    problem = hkid_problem(identifier) if looks_like_hkid(identifier) else None
    if problem is not None:
        return _refusal(rule, "invalid_hkid", problem)
    return _refusal(rule, "sign_in_failed", NO_MATCH)


def sign_in(
    creds: CredentialSet,
    *,
    identifier: str,
    secret: str,
    hasher: SecretHasher,
    policy: Policy,
    at: datetime,
) -> SignIn:
    """HKPL-08: a card number, or an HKID number once the smart ID card is registered for
    library use, with the password or the last four digits of the registered phone.

    Repeated failures are slowed down outside, per client and per identifier (see
    :mod:`services.circulation.domain.throttle`), the same way whether the identifier names
    an account or not, so an account is never locked for good by whoever types its number.
    """
    rule = policy.credentials.rule or "HKPL-08"
    kind = creds.identifies(identifier)
    if kind is None:
        raise CredentialNotFound("the identifier does not name a credential of this account")
    # The secret is checked before anything about the card is said: whoever does not know
    # it learns nothing (that a card was reported lost, or that an HKID number is on record
    # without a smart ID card) beyond "no match", the answer an unknown identifier gets.
    if not secret_matches(creds, secret, hasher):
        return SignIn(decision=_refusal(rule, "sign_in_failed", NO_MATCH), credentials=creds)
    if kind == "library_card":
        card = creds.card(identifier.strip().upper())
        if card.status != "active":
            # As at checkout: a lost card and one replaced after its loss stop working by
            # HKPL-15, a cancelled one by HKPL-17.
            return SignIn(
                decision=_refusal(
                    "HKPL-17" if card.status == "cancelled" else "HKPL-15",
                    "card_not_active",
                    f"this library card is no longer valid ({card.status.replace('_', ' ')})",
                ),
                credentials=creds,
            )
    elif kind == "smart_id" and creds.smart_id is not None and creds.smart_id.status != "active":
        sid = creds.smart_id
        return SignIn(
            decision=_refusal(
                "HKPL-15" if sid.reported_lost_at is not None else "HKPL-14",
                "card_not_active",
                "this smart ID card is no longer registered for library use",
            ),
            credentials=creds,
        )
    elif kind == "hkid_number":
        # HKPL-08: an HKID number signs in only for a reader who has applied to use the smart
        # ID card for library services, as at borrowing (HKPL-14). Said only to whoever knows
        # the secret, so it tells a stranger nothing about which HKID numbers are on record.
        return SignIn(
            decision=_refusal(
                "HKPL-08",
                "smart_id_not_registered",
                "an HKID number signs in only once the smart ID card is registered for library "
                "use; sign in with the library card number, or apply at a library",
            ),
            credentials=creds,
        )
    return SignIn(
        decision=Decision.allow("sign-in"),
        credentials=creds.model_copy(update={"failed_sign_ins": 0, "locked_at": None}),
        credential=kind,
    )


def unlock_sign_in(creds: CredentialSet) -> CredentialSet:
    """Staff clear a lock-out an earlier release stored on the account (the throttle's waits
    are lifted beside it, see the handler)."""
    return creds.model_copy(update={"failed_sign_ins": 0, "locked_at": None})
