"""Patrons and their credentials: registration (HKPL-16), cards and the smart ID card
(HKPL-14, HKPL-18), sign-in with its throttle (HKPL-08), lost cards (HKPL-15), replacements
(HKPL-12, HKPL-19), cancellation (HKPL-17) and change of address."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.outcome import Outcome
from libs.common.policy import Decision, Refusal
from services.circulation.adapters import ledger_repo, patrons_repo
from services.circulation.domain import cards, clearance, smart_id_use
from services.circulation.domain import credentials as cred
from services.circulation.domain import sign_in as signing
from services.circulation.domain.clearance import Clearance, LeavingReason
from services.circulation.domain.credentials import CredentialChange, CredentialSet
from services.circulation.domain.errors import (
    CredentialInUse,
    CredentialNotFound,
    SmartIdFieldRefused,
)
from services.circulation.domain.hkid import hkid_problem, is_valid_hkid, normalize_hkid
from services.circulation.domain.patrons import (
    GuarantorRelationship,
    Patron,
    PatronApplication,
    block_refusals,
    link_guarantor,
    linked_guarantor,
    register_patron,
    registration_guarantor_decision,
)
from services.circulation.domain.smart_id import read_smart_id
from services.circulation.handlers import sessions
from services.circulation.handlers.clearance import clearance_of
from services.circulation.handlers.context import Invalid, Library, NotFound, Refused, ensure
from services.circulation.handlers.notices import notify_events


async def load_patron(
    conn: AsyncConnection, lib: Library, patron_id: str, *, for_update: bool = False
) -> Patron:
    patron = await patrons_repo.get_patron(conn, lib.code, patron_id, for_update=for_update)
    if patron is None:
        raise NotFound(f"no patron {patron_id}")
    return patron


def smart_id_refused(exc: SmartIdFieldRefused) -> Refused:
    """HKPL-14 names what may be read; anything else sent is refused, not ignored."""
    refusal = Refusal(
        rule=exc.rule,
        code="smart_id_field_refused",
        action=f"smart ID reading at {exc.purpose}",
        reason=f"only the fields HKPL-14 allows may be read from a smart ID card; not "
        f"allowed: {', '.join(sorted(exc.fields))}",
    )
    return Refused(Decision.of(refusal.action, [refusal]), 422)


async def _new_card(conn: AsyncConnection, card_number: str) -> None:
    if await patrons_repo.card_owner(conn, card_number) is not None:
        raise CredentialInUse(f"library card {card_number} is already in use")


async def hkid_account(conn: AsyncConnection, hkid_number: str) -> str | None:
    """The account an (normalised) HKID number already belongs to: given at registration
    or on a smart ID card registered for library use. One account per number (HKPL-08)."""
    return await patrons_repo.hkid_owner(conn, hkid_number) or await patrons_repo.smart_id_owner(
        conn, hkid_number
    )


def checked_hkid(raw: str) -> str:
    """The HKID number normalised (``A123456(3)``), or a plain reason why it is not one."""
    problem = hkid_problem(raw)
    if problem is not None:
        raise Invalid(problem)
    return normalize_hkid(raw)


@dataclass(frozen=True)
class GuarantorLink:
    """HKPL-16: the registered patron who stands as guarantor, by patron id or card number."""

    relationship: GuarantorRelationship
    patron_id: str | None = None
    card_number: str | None = None


async def find_guarantor(conn: AsyncConnection, lib: Library, link: GuarantorLink) -> Patron:
    """The registered patron a guarantor link names; a plain 422 when nobody is."""
    if link.card_number:
        owner = await patrons_repo.card_owner(conn, link.card_number.strip().upper())
        if owner is None:
            raise Invalid(f"no patron holds library card {link.card_number} to stand as guarantor")
    else:
        owner = link.patron_id
    candidate = await patrons_repo.get_patron(conn, lib.code, owner) if owner else None
    if candidate is None:
        raise Invalid(f"no patron {owner} to stand as guarantor")
    return candidate


async def register(
    conn: AsyncConnection,
    lib: Library,
    application: PatronApplication,
    *,
    card_number: str | None = None,
    password: str | None = None,
    hkid_number: str | None = None,
    guarantor_link: GuarantorLink | None = None,
) -> tuple[Patron, CredentialSet]:
    """HKPL-16: an applicant under 18 is registered only with an adult guarantor.

    HKPL-08: an HKID number given at registration (check digit verified, normalised, one
    account per number) is kept, the number only (HKPL-14); it signs in once the patron's
    smart ID card is registered for library use, not before.

    A guarantor who is a registered patron is linked by ``guarantor_link`` (HKPL-16): an
    adult resident whose account is in use, and then liable for the borrower's charges."""
    if lib.policy.categories and application.category not in lib.policy.categories:
        known = ", ".join(sorted(lib.policy.categories))
        raise Invalid(f"unknown patron category {application.category!r}; known: {known}")
    today = lib.today()
    if application.date_of_birth > today:
        raise Invalid("the date of birth is after today")
    hkid = checked_hkid(hkid_number) if hkid_number else None
    if hkid is not None and await hkid_account(conn, hkid) is not None:
        raise CredentialInUse("this HKID number is already registered to another account")
    if guarantor_link is not None:
        candidate = await find_guarantor(conn, lib, guarantor_link)
        ensure(
            registration_guarantor_decision(
                candidate, applicant_born=application.date_of_birth, on=today
            ),
            422,
        )
        application = application.model_copy(
            update={"guarantor": linked_guarantor(candidate, guarantor_link.relationship)}
        )
    registration = register_patron(application, at=lib.now(), on=today)
    ensure(registration.decision, 422)
    patron = registration.patron
    assert patron is not None
    creds = CredentialSet(patron_id=patron.patron_id, hkid_number=hkid)
    if card_number:
        await _new_card(conn, card_number)
        creds = cards.issue_library_card(creds, card_number, on=today)
    if password:
        creds = await lib.hasher.off_loop(signing.set_password, creds, password, lib.hasher)
    if patron.phone:
        creds = await lib.hasher.off_loop(signing.set_phone_digits, creds, patron.phone, lib.hasher)
    await patrons_repo.save_patron(conn, patron, lib.clock)
    await patrons_repo.save_credentials(conn, creds)
    return patron, creds


async def change_contact(
    conn: AsyncConnection, lib: Library, patron_id: str, changes: Mapping[str, Any]
) -> Patron:
    """Change of address, e-mail, telephone or language; a new telephone number replaces
    the phone-digit secret of sign-in (HKPL-08)."""
    patron = await load_patron(conn, lib, patron_id, for_update=True)
    # "status" is computed from the rest, so it is not given back to the model.
    updated = Patron.model_validate({**patron.model_dump(exclude={"status"}), **changes})
    await patrons_repo.save_patron(conn, updated, lib.clock)
    if "phone" in changes and updated.phone != patron.phone:
        creds = await patrons_repo.get_credentials(conn, patron_id)
        if updated.phone:
            creds = await lib.hasher.off_loop(
                signing.set_phone_digits, creds, updated.phone, lib.hasher
            )
        else:
            creds = creds.model_copy(update={"phone_digits_hash": None})
        await patrons_repo.save_credentials(conn, creds)
        # The phone digits are a sign-in secret: whoever signed in with the old ones is out.
        await sessions.end_all(conn, lib, patron_id, "phone_changed")
    return updated


async def set_guarantor(
    conn: AsyncConnection, lib: Library, patron_id: str, link: GuarantorLink
) -> Patron:
    """HKPL-16: link a borrower under 18 to the registered patron who is their guarantor
    (replacing the guarantor recorded at registration); refused naming HKPL-16 when the
    patron is under 18, not a resident, cancelled, or the borrower themself."""
    minor = await load_patron(conn, lib, patron_id, for_update=True)
    candidate = await find_guarantor(conn, lib, link)
    decision, updated = link_guarantor(minor, candidate, link.relationship, on=lib.today())
    ensure(decision, 422)
    await patrons_repo.save_patron(conn, updated, lib.clock)
    return updated


async def set_password(conn: AsyncConnection, lib: Library, patron_id: str, password: str) -> None:
    await load_patron(conn, lib, patron_id, for_update=True)
    creds = await patrons_repo.get_credentials(conn, patron_id)
    creds = await lib.hasher.off_loop(signing.set_password, creds, password, lib.hasher)
    await patrons_repo.save_credentials(conn, creds)
    # A new password is what a patron asks for when someone else may know the old one: every
    # session signed in so far ends, this device's too.
    await sessions.end_all(conn, lib, patron_id, "password_changed")


async def issue_card(
    conn: AsyncConnection,
    lib: Library,
    patron_id: str,
    card_number: str,
    *,
    guarantor_card: bool = False,
) -> CredentialSet:
    """HKPL-18: a further card opens the same account, with the same quota."""
    patron = await load_patron(conn, lib, patron_id, for_update=True)
    if patron.cancelled_on is not None:
        raise Refused(Decision.of("card issue", block_refusals(patron, "card issue")))
    await _new_card(conn, card_number)
    creds = await patrons_repo.get_credentials(conn, patron_id)
    creds = cards.issue_library_card(
        creds, card_number, on=lib.today(), guarantor_card=guarantor_card
    )
    await patrons_repo.save_credentials(conn, creds)
    patron, lifted = cards.card_ends_smart_id_suspension(creds, patron, at=lib.now())
    if lifted:
        await patrons_repo.save_patron(conn, patron, lib.clock)
        await notify_events(conn, lib, {patron.patron_id: patron}, lifted)
    return creds


async def _apply(
    conn: AsyncConnection,
    lib: Library,
    change: CredentialChange,
    *,
    end_sessions: str | None = None,
) -> CredentialChange:
    """Store an allowed credential change: the account, its credentials, any fee, notices.

    ``end_sessions`` names why every session of the patron ends with the change; a change
    that cancels the account ends them in any case (nothing is left to sign in to)."""
    ensure(change.decision)
    await patrons_repo.save_patron(conn, change.patron, lib.clock)
    await patrons_repo.save_credentials(conn, change.credentials)
    await ledger_repo.add_entries(conn, change.charge)
    await notify_events(conn, lib, {change.patron.patron_id: change.patron}, change.events)
    if change.patron.cancelled_on is not None:
        end_sessions = "account_cancelled"
    if end_sessions is not None:
        await sessions.end_all(conn, lib, change.patron.patron_id, end_sessions)
    return change


async def report_own_card_lost(
    conn: AsyncConnection, lib: Library, patron_id: str, card_number: str
) -> CredentialChange:
    """HKPL-15, reported by the signed-in patron: only a card of their own account."""
    if await patrons_repo.card_owner(conn, card_number) != patron_id:
        raise NotFound(f"no library card {card_number} on this account")
    return await report_card_lost(conn, lib, card_number)


async def _card_account(
    conn: AsyncConnection, lib: Library, card_number: str
) -> tuple[Patron, CredentialSet]:
    owner = await patrons_repo.card_owner(conn, card_number)
    if owner is None:
        raise NotFound(f"no library card {card_number}")
    patron = await load_patron(conn, lib, owner, for_update=True)
    return patron, await patrons_repo.get_credentials(conn, owner)


async def report_card_lost(conn: AsyncConnection, lib: Library, card_number: str):
    """HKPL-15: the card stops working and the account is suspended until a replacement."""
    patron, creds = await _card_account(conn, lib, card_number)
    change = cards.report_library_card_lost(
        creds, patron, card_number, at=lib.now(), on=lib.today()
    )
    # Every session of the account ends, not only those signed in with the lost card: whoever
    # has the card may know the four phone digits too, the account is suspended (HKPL-15),
    # and a library expects a loss report to shut the account until the patron is back.
    return await _apply(conn, lib, change, end_sessions="card_reported_lost")


async def replace_card(conn: AsyncConnection, lib: Library, card_number: str, new_number: str):
    """HKPL-12: a replacement card, its fee posted to the ledger; HKPL-15: binding it lifts
    the lost card's suspension."""
    patron, creds = await _card_account(conn, lib, card_number)
    await _new_card(conn, new_number)
    change = cards.replace_library_card(
        creds,
        patron,
        lib.policy,
        replaces=card_number,
        new_card_number=new_number,
        at=lib.now(),
        on=lib.today(),
    )
    return await _apply(conn, lib, change)


async def _outstanding(conn: AsyncConnection, lib: Library, patron_id: str) -> cred.Outstanding:
    """HKPL-17: what must be settled before the account may be given up; MALA-14: the
    patron's inter-library loans and their charges first of all."""
    cleared = await clearance_of(conn, lib, patron_id)
    unpaid = sum(m.amount_minor for m in cleared.unpaid() if m.currency == lib.policy.currency)
    return cred.Outstanding(
        items_on_loan=len(cleared.loans),
        unpaid=lib.policy.money(unpaid),
        ill_reason=cleared.ill_reason(),
    )


async def close_account(
    conn: AsyncConnection, lib: Library, patron_id: str, reason: LeavingReason
) -> tuple[CredentialChange, Clearance]:
    """MALA-14: the patron graduates or leaves: closed only once the clearance is clear
    (refused, naming what remains, otherwise)."""
    patron, creds = await _account(conn, lib, patron_id)
    cleared = await clearance_of(conn, lib, patron_id)
    change = clearance.close_account(
        creds, patron, cleared, reason=reason, at=lib.now(), on=lib.today()
    )
    return await _apply(conn, lib, change), cleared


async def cancel_card(conn: AsyncConnection, lib: Library, card_number: str):
    """HKPL-17: the borrower cancels a library card."""
    patron, creds = await _card_account(conn, lib, card_number)
    change = cards.cancel_library_card(
        creds,
        patron,
        card_number,
        at=lib.now(),
        on=lib.today(),
        outstanding=await _outstanding(conn, lib, patron.patron_id),
    )
    change = await _apply(conn, lib, change)
    # A cancelled card signs in no more; the sessions it started end with it.
    await sessions.end_all(conn, lib, patron.patron_id, "card_cancelled", card_number=card_number)
    return change


async def _account(conn: AsyncConnection, lib: Library, patron_id: str):
    patron = await load_patron(conn, lib, patron_id, for_update=True)
    return patron, await patrons_repo.get_credentials(conn, patron_id)


async def apply_smart_id(
    conn: AsyncConnection, lib: Library, patron_id: str, reading: Mapping[str, Any]
):
    """HKPL-14: register the smart ID card for library use from the registration reading;
    only English name, Chinese name, HKID number, date of birth and date of issue."""
    try:
        read = read_smart_id("registration", reading)
    except SmartIdFieldRefused as exc:
        raise smart_id_refused(exc) from exc
    patron, creds = await _account(conn, lib, patron_id)
    owner = await hkid_account(conn, read.hkid_number)
    if owner is not None and owner != patron_id:
        raise CredentialInUse("this smart ID card is registered to another account")
    change = smart_id_use.apply_smart_id(creds, patron, read, at=lib.now(), on=lib.today())
    return await _apply(conn, lib, change)


async def report_smart_id_lost(
    conn: AsyncConnection, lib: Library, patron_id: str, *, continue_with_replacement: bool
):
    """HKPL-15 for the smart ID card; the report says whether HKPL-19 applies."""
    patron, creds = await _account(conn, lib, patron_id)
    change = smart_id_use.report_smart_id_lost(
        creds,
        patron,
        continue_with_replacement=continue_with_replacement,
        at=lib.now(),
        on=lib.today(),
    )
    # As for a lost library card: every session of the account ends.
    return await _apply(conn, lib, change, end_sessions="card_reported_lost")


async def replace_smart_id(
    conn: AsyncConnection, lib: Library, patron_id: str, reading: Mapping[str, Any]
):
    """HKPL-19: the lost smart ID card's replacement takes over, read as at borrowing
    (HKID number and date of issue only, HKPL-14)."""
    try:
        read = read_smart_id("borrowing", reading)
    except SmartIdFieldRefused as exc:
        raise smart_id_refused(exc) from exc
    patron, creds = await _account(conn, lib, patron_id)
    change = smart_id_use.bind_replacement_smart_id(
        creds, patron, read, at=lib.now(), on=lib.today()
    )
    return await _apply(conn, lib, change)


async def discontinue_smart_id(conn: AsyncConnection, lib: Library, patron_id: str):
    """HKPL-17: stop using the smart ID card for library services."""
    patron, creds = await _account(conn, lib, patron_id)
    change = smart_id_use.discontinue_smart_id(
        creds,
        patron,
        at=lib.now(),
        on=lib.today(),
        outstanding=await _outstanding(conn, lib, patron_id),
    )
    return await _apply(conn, lib, change)


async def unlock_sign_in(conn: AsyncConnection, lib: Library, patron_id: str) -> None:
    """Staff lift the wait on every identifier of the account (the patron at the desk)."""
    _, creds = await _account(conn, lib, patron_id)
    lib.throttle.forget(creds.sign_in_identifiers())
    await patrons_repo.save_credentials(conn, signing.unlock_sign_in(creds))


async def _identify(conn: AsyncConnection, identifier: str) -> str | None:
    ident = identifier.strip().upper()
    owner = await patrons_repo.card_owner(conn, ident)
    if owner is not None:
        return owner
    if is_valid_hkid(ident):
        return await hkid_account(conn, normalize_hkid(ident))
    return None


@dataclass(frozen=True)
class SignedIn:
    """Who signed in, and the library card signed in with, if one was."""

    patron_id: str
    card_number: str | None = None


def _refused(decision: Decision) -> Outcome[SignedIn]:
    # Committed like a sign-in that succeeds (a lock-out of an earlier release, once lifted,
    # stays lifted) and answered 401; the failure is counted towards the wait (HKPL-08).
    return Outcome.refuse(decision, 401, problem_type="sign-in-refused")


def _throttled(lib: Library, seconds: int) -> Outcome[SignedIn]:
    refusal = Refusal(
        rule=lib.policy.credentials.rule or "HKPL-08",
        code="sign_in_throttled",
        action="sign-in",
        reason=f"too many failed sign-ins; try again in {seconds} seconds",
    )
    return Outcome.refuse(
        Decision.of("sign-in", [refusal]),
        429,
        problem_type="sign-in-throttled",
        retry_after=seconds,
    )


async def sign_in(
    conn: AsyncConnection, lib: Library, identifier: str, secret: str, *, client: str
) -> Outcome[SignedIn]:
    """HKPL-08: card number or HKID number, with the password or the last four phone digits.

    Known and unknown identifiers are answered alike, after the same slow work (run off the
    event loop), and repeated failures wait alike, per ``client`` and per identifier: a
    refusal that waits is answered 429 with how long.
    """
    terms, now = lib.policy.credentials, lib.now()
    throttle = lib.throttle
    wait = throttle.wait(client=client, identifier=identifier, terms=terms, now=now)
    if wait:
        return _throttled(lib, wait)
    # Counted as a failure before the secret is checked, and taken back once it matched:
    # guesses sent all at once are counted as surely as guesses sent one after the other.
    throttle.failed(client=client, identifier=identifier, terms=terms, now=now)
    patron_id = await _identify(conn, identifier)
    if patron_id is None:
        decision = await lib.hasher.off_loop(
            signing.sign_in_unknown, identifier, secret, hasher=lib.hasher, policy=lib.policy
        )
        return _refused(decision)
    patron = await load_patron(conn, lib, patron_id)
    creds = await patrons_repo.get_credentials(conn, patron_id)
    try:
        result = await lib.hasher.off_loop(
            signing.sign_in,
            creds,
            identifier=identifier,
            secret=secret,
            hasher=lib.hasher,
            policy=lib.policy,
            at=now,
        )
    except CredentialNotFound:  # pragma: no cover - _identify found it
        return _refused(Decision.of("sign-in", []))
    if result.secret_failed:
        return _refused(result.decision)
    throttle.succeeded(client=client, identifier=identifier, terms=terms)
    if not result.decision.allowed:
        return _refused(result.decision)
    if result.credentials != creds:  # a lock-out of an earlier release is lifted
        await patrons_repo.save_credentials(conn, result.credentials)
    if patron.cancelled_on is not None:
        return _refused(Decision.of("sign-in", block_refusals(patron, "sign-in")))
    card = identifier.strip().upper() if result.credential == "library_card" else None
    return Outcome.done(SignedIn(patron_id, card_number=card), result.decision)
