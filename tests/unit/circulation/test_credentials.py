"""Library card and smart ID card as credentials of one account (HKPL-08, HKPL-12, HKPL-14,
HKPL-15, HKPL-17, HKPL-18, HKPL-19)."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from argon2 import PasswordHasher
from hypothesis import given
from hypothesis import strategies as st

from libs.common.money import Money
from services.circulation.domain.cards import (
    cancel_library_card,
    issue_library_card,
    replace_library_card,
    report_library_card_lost,
)
from services.circulation.domain.credentials import CredentialSet, Outstanding
from services.circulation.domain.errors import InvalidHkid, SmartIdFieldRefused
from services.circulation.domain.hashing import SecretHasher, phone_last_four
from services.circulation.domain.hkid import hkid_check_digit, is_valid_hkid, normalize_hkid
from services.circulation.domain.sign_in import (
    SECRETS_CHECKED,
    secret_matches,
    set_password,
    set_phone_digits,
    sign_in,
    sign_in_unknown,
)
from services.circulation.domain.smart_id import (
    SmartIdBorrowingRead,
    SmartIdRegistrationRead,
    read_smart_id,
)
from services.circulation.domain.smart_id_use import (
    apply_smart_id,
    bind_replacement_smart_id,
    discontinue_smart_id,
    report_smart_id_lost,
)
from tests.unit.circulation.builders import hk, patron

HKID = "A123456(3)"
AT = hk(2026, 3, 2)
ON = date(2026, 3, 2)
REGISTRATION_READ = {
    "english_name": "CHAN, Tai Man",
    "chinese_name": "陳大文",
    "hkid_number": HKID,
    "date_of_birth": date(1990, 6, 1),
    "date_of_issue": date(2019, 1, 10),
}


@pytest.fixture
def creds(hasher) -> CredentialSet:
    c = issue_library_card(CredentialSet(patron_id="P1"), "2000123456", on=date(2020, 1, 1))
    c = set_password(c, "s3cret-pass", hasher)
    return set_phone_digits(c, "+852 9123 4567", hasher)


@pytest.fixture
def with_smart_id(creds) -> tuple[CredentialSet, object]:
    read = read_smart_id("registration", REGISTRATION_READ)
    change = apply_smart_id(creds, patron(), read, at=AT, on=ON)
    assert change.decision.allowed
    return change.credentials, change.patron


# HKID ----------------------------------------------------------------------------------------


def test_hkid_check_digit_examples():
    assert hkid_check_digit("A", "123456") == "3"
    assert hkid_check_digit("G", "123456") == "A"
    assert normalize_hkid(" a123456 3 ") == "A123456(3)"
    assert normalize_hkid("A1234563") == "A123456(3)"
    assert is_valid_hkid("A123456(3)")
    assert not is_valid_hkid("A123456(4)")
    assert not is_valid_hkid("123456(3)")
    with pytest.raises(InvalidHkid, match="check digit"):
        normalize_hkid("A123456(4)")


@given(
    prefix=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=2),
    digits=st.text(alphabet="0123456789", min_size=6, max_size=6),
)
def test_property_every_computed_check_digit_validates_and_others_do_not(prefix, digits):
    check = hkid_check_digit(prefix, digits)
    assert is_valid_hkid(f"{prefix}{digits}({check})")
    wrong = next(c for c in "0123456789A" if c != check)
    assert not is_valid_hkid(f"{prefix}{digits}({wrong})")


# HKPL-14 -------------------------------------------------------------------------------------


def test_hkpl_14_registration_reads_only_the_five_fields():
    read = read_smart_id("registration", REGISTRATION_READ)
    assert isinstance(read, SmartIdRegistrationRead)
    assert set(read.model_dump()) == {
        "english_name",
        "chinese_name",
        "hkid_number",
        "date_of_birth",
        "date_of_issue",
    }


def test_hkpl_14_any_other_field_is_refused_at_registration():
    with pytest.raises(SmartIdFieldRefused, match="refused: address, photo") as refused:
        read_smart_id("registration", {**REGISTRATION_READ, "photo": b"...", "address": "x"})
    assert refused.value.rule == "HKPL-14"


def test_hkpl_14_borrowing_reads_only_hkid_number_and_date_of_issue():
    read = read_smart_id("borrowing", {"hkid_number": HKID, "date_of_issue": date(2019, 1, 10)})
    assert isinstance(read, SmartIdBorrowingRead)
    with pytest.raises(SmartIdFieldRefused, match="date_of_birth, english_name"):
        read_smart_id("borrowing", REGISTRATION_READ)
    with pytest.raises(ValueError):
        SmartIdBorrowingRead(hkid_number=HKID, date_of_issue=date(2019, 1, 1), name="x")


def test_hkpl_14_card_of_another_person_is_refused(creds):
    read = read_smart_id("registration", {**REGISTRATION_READ, "date_of_birth": date(1970, 1, 1)})
    change = apply_smart_id(creds, patron(), read, at=AT, on=ON)
    assert change.decision.rules == ["HKPL-14"]
    assert change.credentials.smart_id is None


# HKPL-08, HKPL-18 ----------------------------------------------------------------------------


def test_hkpl_08_sign_in_with_card_number_or_hkid_and_password_or_phone_digits(
    with_smart_id, hasher, hkpl
):
    creds, _ = with_smart_id
    for identifier, secret in [
        ("2000123456", "s3cret-pass"),
        ("2000123456", "4567"),
        ("A1234563", "s3cret-pass"),
        (HKID, "4567"),
    ]:
        result = sign_in(
            creds, identifier=identifier, secret=secret, hasher=hasher, policy=hkpl, at=AT
        )
        assert result.decision.allowed, identifier


def test_hkpl_18_library_card_and_smart_id_open_the_same_account(with_smart_id):
    creds, _ = with_smart_id
    assert creds.identifies("2000123456") == "library_card"
    assert creds.identifies(HKID) == "smart_id"
    read = SmartIdBorrowingRead(hkid_number=HKID, date_of_issue=date(2019, 1, 10))
    assert creds.accepts_borrowing_read(read)


def test_secrets_are_stored_only_as_slow_hashes(creds):
    assert creds.password_hash.startswith("$argon2id$")
    assert creds.phone_digits_hash.startswith("$argon2id$")
    assert "s3cret-pass" not in creds.model_dump_json()
    assert "4567" not in creds.phone_digits_hash
    assert phone_last_four("(852) 2928-4547") == "4547"


def test_hkpl_08_wrong_secret_is_refused(creds, hasher, hkpl):
    result = sign_in(
        creds, identifier="2000123456", secret="1234", hasher=hasher, policy=hkpl, at=AT
    )
    assert result.decision.rules == ["HKPL-08"] and result.secret_failed


def test_hkpl_08_a_lost_card_is_told_only_to_whoever_knows_the_secret_HKPL_15(creds, hasher, hkpl):
    lost = report_library_card_lost(creds, patron(), "2000123456", at=AT, on=ON).credentials
    wrong = sign_in(
        lost, identifier="2000123456", secret="guess!", hasher=hasher, policy=hkpl, at=AT
    )
    assert [r.code for r in wrong.decision.refusals] == ["sign_in_failed"]
    assert wrong.decision.rules == ["HKPL-08"] and "lost" not in wrong.decision.messages[0]
    assert wrong.decision == sign_in_unknown("2000123456", "guess!", hasher=hasher, policy=hkpl)
    right = sign_in(
        lost, identifier="2000123456", secret="s3cret-pass", hasher=hasher, policy=hkpl, at=AT
    )
    assert [r.code for r in right.decision.refusals] == ["card_not_active"]
    assert right.decision.rules == ["HKPL-15"] and "lost" in right.decision.messages[0]
    assert not right.secret_failed


def test_hkpl_15_a_replaced_card_is_refused_naming_HKPL_15_and_a_cancelled_one_HKPL_17(
    creds, hasher, hkpl
):
    lost = report_library_card_lost(creds, patron(), "2000123456", at=AT, on=ON)
    replaced = replace_library_card(
        lost.credentials,
        lost.patron,
        hkpl,
        replaces="2000123456",
        new_card_number="2000999999",
        at=AT,
        on=ON,
    )
    old = sign_in(
        replaced.credentials,
        identifier="2000123456",
        secret="s3cret-pass",
        hasher=hasher,
        policy=hkpl,
        at=AT,
    )
    assert old.decision.rules == ["HKPL-15"]
    assert "no longer valid (replaced)" in old.decision.messages[0]
    cancelled = cancel_library_card(
        replaced.credentials, replaced.patron, "2000999999", at=AT, on=ON
    ).credentials
    gone = sign_in(
        cancelled, identifier="2000999999", secret="4567", hasher=hasher, policy=hkpl, at=AT
    )
    assert gone.decision.rules == ["HKPL-17"]


def test_hkpl_08_an_hkid_number_without_a_smart_id_application_does_not_sign_in(hasher, hkpl):
    """As at borrowing: the number given at registration is kept, but only a smart ID card
    registered for library use signs in with it; said only after the secret matched."""
    on_record = set_password(CredentialSet(patron_id="P1", hkid_number=HKID), "s3cret-pass", hasher)
    right = sign_in(
        on_record, identifier="a 123456 3", secret="s3cret-pass", hasher=hasher, policy=hkpl, at=AT
    )
    assert right.decision.rules == ["HKPL-08"]
    assert [r.code for r in right.decision.refusals] == ["smart_id_not_registered"]
    wrong = sign_in(on_record, identifier=HKID, secret="guess!", hasher=hasher, policy=hkpl, at=AT)
    assert wrong.decision == sign_in_unknown(HKID, "guess!", hasher=hasher, policy=hkpl)
    read = read_smart_id("registration", REGISTRATION_READ)
    change = apply_smart_id(on_record, patron(), read, at=AT, on=ON)
    assert change.decision.allowed
    assert sign_in(
        change.credentials, identifier=HKID, secret="s3cret-pass", hasher=hasher, policy=hkpl, at=AT
    ).decision.allowed


class CountingArgon2(PasswordHasher):
    """Real argon2id (cheap), counting every verification and the thread it ran in."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.threads: list[int] = []

    def verify(self, hash, password):
        self.threads.append(threading.get_ident())
        return super().verify(hash, password)


def test_hkpl_08_known_and_unknown_identifiers_cost_the_same_argon2_verifications(hkpl):
    argon2 = CountingArgon2()
    hasher = SecretHasher(argon2)
    card = issue_library_card(CredentialSet(patron_id="P1"), "2000123456", on=date(2020, 1, 1))
    both = set_phone_digits(set_password(card, "s3cret-pass", hasher), "+852 9123 4567", hasher)
    accounts = {
        "both secrets": both,
        "password only": set_password(card, "s3cret-pass", hasher),
        "phone only": set_phone_digits(card, "+852 9123 4567", hasher),
        "no secret": card,
        "locked before": both.model_copy(update={"failed_sign_ins": 5, "locked_at": AT}),
        "lost card": report_library_card_lost(
            both, patron(), "2000123456", at=AT, on=ON
        ).credentials,
    }
    counts = {}
    for name, account in accounts.items():
        for secret in ("s3cret-pass", "4567", "guess!"):
            argon2.threads.clear()
            sign_in(
                account, identifier="2000123456", secret=secret, hasher=hasher, policy=hkpl, at=AT
            )
            counts[name, secret] = len(argon2.threads)
    for identifier in ("2000999999", HKID, "A123456(4)"):
        argon2.threads.clear()
        sign_in_unknown(identifier, "guess!", hasher=hasher, policy=hkpl)
        counts[identifier, "unknown"] = len(argon2.threads)
    assert set(counts.values()) == {SECRETS_CHECKED}, counts


async def test_hashing_and_verifying_run_off_the_event_loop():
    argon2 = CountingArgon2()
    hasher = SecretHasher(argon2)
    loop_thread = threading.get_ident()
    card = issue_library_card(CredentialSet(patron_id="P1"), "2000123456", on=date(2020, 1, 1))
    creds = await hasher.off_loop(set_password, card, "s3cret-pass", hasher)
    assert await hasher.off_loop(secret_matches, creds, "s3cret-pass", hasher)
    assert argon2.threads and loop_thread not in argon2.threads


# HKPL-15, HKPL-12 ----------------------------------------------------------------------------


def test_hkpl_15_lost_card_stops_working_and_suspends_the_account(creds, hasher, hkpl):
    change = report_library_card_lost(creds, patron(), "2000123456", at=AT, on=ON)
    assert change.patron.status == "suspended"
    assert change.patron.blocks()[0].rule == "HKPL-15"
    assert change.credentials.card("2000123456").reported_lost_at == AT
    refused = sign_in(
        change.credentials,
        identifier="2000123456",
        secret="s3cret-pass",
        hasher=hasher,
        policy=hkpl,
        at=AT,
    )
    assert refused.decision.rules == ["HKPL-15"]
    assert [e.kind for e in change.events] == ["credential.reported_lost", "account.suspended"]


def test_hkpl_12_replacement_card_costs_33_dollars_for_an_adult(creds, hkpl):
    lost = report_library_card_lost(creds, patron(), "2000123456", at=AT, on=ON)
    change = replace_library_card(
        lost.credentials,
        lost.patron,
        hkpl,
        replaces="2000123456",
        new_card_number="2000999999",
        at=AT,
        on=ON,
    )
    assert change.charge is not None
    assert change.charge.amount.amount_minor == 3300
    assert change.charge.kind == "card_replacement" and change.charge.rule == "HKPL-12"
    # HKPL-15: the replacement is bound, the suspension ends
    assert change.patron.status == "active"
    assert change.credentials.card("2000999999").status == "active"
    assert change.credentials.card("2000123456").status == "replaced"


def test_hkpl_12_replacement_card_costs_17_dollars_under_18(creds, hkpl):
    minor = patron(date_of_birth=date(2010, 5, 1), category="junior")
    change = replace_library_card(
        creds, minor, hkpl, replaces="2000123456", new_card_number="2000777777", at=AT, on=ON
    )
    assert change.charge.amount.amount_minor == 1700


def test_hkpl_12_guarantors_card_pays_the_adult_fee(hkpl):
    creds = issue_library_card(
        CredentialSet(patron_id="P1"), "3000123456", on=date(2020, 1, 1), guarantor_card=True
    )
    minor = patron(date_of_birth=date(2010, 5, 1))
    change = replace_library_card(
        creds, minor, hkpl, replaces="3000123456", new_card_number="3000999999", at=AT, on=ON
    )
    assert change.charge.amount.amount_minor == 3300


# HKPL-19 -------------------------------------------------------------------------------------


def test_hkpl_19_replacement_smart_id_takes_over_when_the_report_said_so(with_smart_id):
    creds, p = with_smart_id
    lost = report_smart_id_lost(creds, p, continue_with_replacement=True, at=AT, on=ON)
    assert lost.patron.status == "suspended"
    new_card = SmartIdBorrowingRead(hkid_number=HKID, date_of_issue=date(2026, 3, 1))
    change = bind_replacement_smart_id(lost.credentials, lost.patron, new_card, at=AT, on=ON)
    assert change.decision.allowed
    assert change.charge is None  # free of charge
    assert change.patron.status == "active"
    assert change.credentials.accepts_borrowing_read(new_card)
    old_card = SmartIdBorrowingRead(hkid_number=HKID, date_of_issue=date(2019, 1, 10))
    assert not change.credentials.accepts_borrowing_read(old_card)


def test_hkpl_19_without_that_choice_a_fresh_application_is_needed(with_smart_id):
    creds, p = with_smart_id
    lost = report_smart_id_lost(creds, p, continue_with_replacement=False, at=AT, on=ON)
    # Discontinued by the report itself; the library card still works, so no suspension.
    assert lost.credentials.smart_id.status == "discontinued"
    assert lost.patron.status == "active"
    new_card = SmartIdBorrowingRead(hkid_number=HKID, date_of_issue=date(2026, 3, 1))
    change = bind_replacement_smart_id(lost.credentials, lost.patron, new_card, at=AT, on=ON)
    assert change.decision.messages == [
        "smart ID replacement refused: the loss report asked to stop using the smart ID card "
        "for library services, so a fresh application is needed (HKPL-19)"
    ]
    fresh = read_smart_id("registration", {**REGISTRATION_READ, "date_of_issue": date(2026, 3, 1)})
    applied = apply_smart_id(lost.credentials, lost.patron, fresh, at=AT, on=ON)
    assert applied.decision.allowed and applied.patron.status == "active"


# HKPL-17 -------------------------------------------------------------------------------------


def test_hkpl_17_stop_using_the_smart_id_keeps_the_library_card(with_smart_id):
    creds, p = with_smart_id
    change = discontinue_smart_id(creds, p, at=AT, on=ON)
    assert change.credentials.smart_id.status == "discontinued"
    assert change.credentials.identifies("2000123456") == "library_card"
    assert change.patron.status == "active"


def test_hkpl_17_cancelling_the_last_card_cancels_the_account(creds):
    change = cancel_library_card(creds, patron(), "2000123456", at=AT, on=ON)
    assert change.credentials.card("2000123456").status == "cancelled"
    assert change.patron.status == "cancelled"
    assert [e.kind for e in change.events] == ["credential.withdrawn", "account.cancelled"]


def test_hkpl_17_the_last_card_is_not_cancelled_while_anything_is_owed(creds):
    owed = Outstanding(items_on_loan=2, unpaid=Money(amount_minor=150, currency="HKD"))
    change = cancel_library_card(creds, patron(), "2000123456", at=AT, on=ON, outstanding=owed)
    assert change.decision.messages == [
        "cancellation refused: the account still has 2 items on loan and HKD 1.50 in unpaid "
        "charges; the last card can be cancelled once every item is returned and every charge "
        "is paid (HKPL-17)"
    ]
    assert change.credentials == creds and change.patron.status == "active"
    settled = Outstanding(unpaid=Money(amount_minor=0, currency="HKD"))
    change = cancel_library_card(creds, patron(), "2000123456", at=AT, on=ON, outstanding=settled)
    assert change.decision.allowed and change.patron.status == "cancelled"


def test_hkpl_08_the_hkid_number_on_record_names_the_account_but_needs_a_smart_id(
    creds, hasher, hkpl
):
    on_record = creds.model_copy(update={"hkid_number": HKID})
    assert creds.identifies("a123456 3") is None
    assert on_record.identifies("a123456 3") == "hkid_number"
    assert on_record.identifies("A123456(4)") is None  # wrong check digit names nothing
    result = sign_in(
        on_record, identifier="A1234563", secret="4567", hasher=hasher, policy=hkpl, at=AT
    )
    assert not result.decision.allowed and result.decision.rules == ["HKPL-08"]


def test_hkpl_08_a_lost_smart_ids_number_stays_refused_even_when_on_record_HKPL_15(
    with_smart_id, hasher, hkpl
):
    creds, _ = with_smart_id
    lost = report_smart_id_lost(
        creds.model_copy(update={"hkid_number": HKID}),
        patron(),
        continue_with_replacement=True,
        at=AT,
        on=ON,
    ).credentials
    refused = sign_in(lost, identifier=HKID, secret="4567", hasher=hasher, policy=hkpl, at=AT)
    assert refused.decision.rules == ["HKPL-15"]  # the lost card's number stays refused


def test_hkpl_14_a_smart_id_with_another_number_than_the_one_on_record_is_refused(creds):
    on_record = creds.model_copy(update={"hkid_number": "B987654(0)"})
    read = read_smart_id("registration", REGISTRATION_READ)
    change = apply_smart_id(on_record, patron(), read, at=AT, on=ON)
    assert change.decision.refusals[0].code == "smart_id_mismatch"
    assert change.decision.rules == ["HKPL-14"]
