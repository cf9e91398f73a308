"""Lost and damaged items, replacement cards and reservation fees."""

from __future__ import annotations

import tomllib

import pytest

from libs.common.money import Money
from libs.common.policy import (
    POLICY_DIR,
    ChargeError,
    card_replacement_fee,
    lost_or_damaged_charge,
    parse_policy,
    percent_of,
    reservation_fee,
    surcharge_refusal,
)


def hkd(cents: int) -> Money:
    return Money(amount_minor=cents, currency="HKD")


def mop(avos: int) -> Money:
    return Money(amount_minor=avos, currency="MOP")


def test_hkpl_11_reservation_fee_3_30_per_item(hkpl):
    fee = reservation_fee(hkpl)
    assert fee is not None
    assert fee.total == hkd(330)
    assert fee.rule == "HKPL-11"
    assert "at collection" in fee.lines[0].label


def test_hkall_and_mala_charge_no_reservation_fee(hkall, mala):
    assert reservation_fee(hkall) is None
    assert reservation_fee(mala) is None


@pytest.mark.parametrize(
    ("age", "guarantor_card", "cents"),
    [(18, False, 3300), (45, False, 3300), (17, False, 1700), (8, False, 1700), (17, True, 3300)],
)
def test_hkpl_12_replacement_card_fee_by_age(hkpl, age, guarantor_card, cents):
    fee = card_replacement_fee(hkpl, age=age, guarantor_card=guarantor_card)
    assert fee.total == hkd(cents)
    assert fee.rule == "HKPL-12"


def test_mala_12_replacement_card_mop_120_whatever_the_age(mala):
    assert card_replacement_fee(mala, age=19).total == mop(12000)
    assert card_replacement_fee(mala, age=16).total == mop(12000)
    assert card_replacement_fee(mala, age=16).rule == "MALA-12"


def test_hkpl_13_replacement_cost_plus_20_percent_surcharge(hkpl):
    charge = lost_or_damaged_charge(hkpl, replacement_cost=hkd(25000))
    assert charge.total == hkd(30000)
    assert [line.amount for line in charge.lines] == [hkd(25000), hkd(5000)]
    assert charge.rule == "HKPL-13"


def test_hkpl_13_librarian_may_set_a_smaller_surcharge_never_more(hkpl):
    assert lost_or_damaged_charge(
        hkpl, kind="damaged_item", replacement_cost=hkd(10000), surcharge_percent=10
    ).total == hkd(11000)
    assert lost_or_damaged_charge(
        hkpl, replacement_cost=hkd(10000), surcharge_percent=0
    ).total == hkd(10000)
    with pytest.raises(ChargeError, match=r"at most 20% \(HKPL-13\)"):
        lost_or_damaged_charge(hkpl, replacement_cost=hkd(10000), surcharge_percent=25)


def test_hkpl_13_whole_set_cost_is_the_librarians_figure(hkpl):
    # a lost CD-ROM may cost the whole set: the librarian gives that figure
    charge = lost_or_damaged_charge(hkpl, replacement_cost=hkd(48000), is_accompanying=True)
    assert charge.total == hkd(57600)


def test_mala_11_original_price_plus_mop_100_admin_fee(mala):
    charge = lost_or_damaged_charge(mala, price=mop(35000))
    assert charge.total == mop(45000)
    assert charge.rule == "MALA-11"


def test_mala_11_disc_with_a_book_is_half_the_books_price(mala):
    charge = lost_or_damaged_charge(mala, is_accompanying=True, main_item_price=mop(30000))
    assert [line.amount for line in charge.lines] == [mop(15000), mop(10000)]


def test_mala_11_no_set_price_mop_1_per_page(mala):
    charge = lost_or_damaged_charge(mala, pages=240)
    assert charge.total == mop(24000 + 10000)
    assert "240 pages" in charge.lines[0].label


def test_hkall_20_default_is_the_replacement_cost(hkall):
    assert lost_or_damaged_charge(hkall, price=hkd(50000)).total == hkd(50000)


def test_hkall_20_a_lender_charges_by_its_own_replacement_and_penalty_numbers():
    # A member library that sets its own penalty in its copy of the HKALL policy: 10% on top of
    # the replacement cost, never more, and a $50 processing fee.
    raw = tomllib.loads((POLICY_DIR / "hkall.toml").read_text(encoding="utf-8"))
    raw["lost_damaged"].update(
        surcharge_max_percent=10, surcharge_default_percent=10, admin_fee_minor=5000
    )
    lender = parse_policy(raw)

    charge = lost_or_damaged_charge(lender, kind="damaged_item", replacement_cost=hkd(50000))

    assert charge.rule == "HKALL-20"
    assert [(line.label, line.amount) for line in charge.lines] == [
        ("replacement cost", hkd(50000)),
        ("surcharge 10%", hkd(5000)),
        ("administrative fee", hkd(5000)),
    ]
    assert charge.total == hkd(60000)
    with pytest.raises(ChargeError, match=r"at most 10% \(HKALL-20\)"):
        lost_or_damaged_charge(lender, replacement_cost=hkd(50000), surcharge_percent=20)


def test_charge_needs_a_basis_and_the_right_currency(hkpl, mala):
    with pytest.raises(ChargeError, match="no basis"):
        lost_or_damaged_charge(hkpl)
    with pytest.raises(ChargeError, match="MOP"):
        lost_or_damaged_charge(hkpl, replacement_cost=mop(100))
    with pytest.raises(ChargeError, match="no card replacement fee"):
        card_replacement_fee(
            mala.model_copy(
                update={"fees": mala.fees.model_copy(update={"card_replacement": None})}
            ),
            age=30,
        )


def test_percent_rounds_half_a_cent_up():
    assert percent_of(1, 50) == 1
    assert percent_of(333, 20) == 67  # 66.6 cents
    assert percent_of(1000, 0) == 0


def test_hkpl_13_a_surcharge_above_20_percent_is_a_rule_refusal(hkpl):
    assert surcharge_refusal(hkpl, None, "lost item charge") is None
    assert surcharge_refusal(hkpl, 20, "lost item charge") is None
    refusal = surcharge_refusal(hkpl, 21, "lost item charge")
    assert (refusal.rule, refusal.code) == ("HKPL-13", "surcharge_too_high")
    assert refusal.message == (
        "lost item charge refused: a surcharge of 21% is more than the 20% allowed on top of "
        "the replacement cost (HKPL-13)"
    )
