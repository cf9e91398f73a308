"""Requestability: HKALL-01, HKALL-02, HKALL-03 for HKALL patrons; MALA-03 for MALA patrons."""

import pytest

from services.catalog.domain.requestability import HoldingState, decide


def h(library, status="AVAILABLE", material_type="book", consortium=None, sp=None):
    consortium = consortium or ("MALA" if library in ("um", "mpu", "kwnc", "usj") else "HKALL")
    return HoldingState(library, consortium, status, material_type, sp)


def rules(decision):
    return [r.rule for r in decision.refusals]


def hkall(holdings, home="eduhk", record_type="book"):
    return decide(holdings, home_library=home, consortium="HKALL", record_material_type=record_type)


def mala(holdings, home="kwnc", record_type="book"):
    return decide(holdings, home_library=home, consortium="MALA", record_material_type=record_type)


def test_book_available_at_another_hkall_library_is_requestable():
    d = hkall([h("cityu"), h("hku", "ON_LOAN"), h("eduhk", "ON_LOAN")])
    assert d.requestable and d.lenders == ("cityu",) and d.refusals == ()


@pytest.mark.parametrize("material", ["serial", "media", "periodical_back_issue", "thesis"])
def test_hkall_01_only_books(material):
    d = hkall([h("cityu", material_type=material)], record_type=material)
    assert not d.requestable
    assert rules(d) == ["HKALL-01"]
    assert "only books can be requested through HKALL" in d.refusals[0].reason


def test_hkall_01_book_with_disc_is_a_book():
    assert hkall(
        [h("cityu", material_type="book_with_disc")], record_type="book_with_disc"
    ).requestable


def test_hkall_01_copies_at_lenders_are_reference_only():
    d = hkall([h("cuhk", material_type="reference")])
    assert rules(d) == ["HKALL-01"]
    assert "copies at the other libraries" in d.refusals[0].reason


def test_hkall_02_no_available_copy_at_a_lender():
    d = hkall([h("cityu", "ON_LOAN"), h("hku", "IN_TRANSIT")])
    assert not d.requestable and rules(d) == ["HKALL-02"]
    assert "AVAILABLE" in d.refusals[0].reason and "on loan" in d.refusals[0].reason


def test_hkall_02_copies_only_outside_hkall_do_not_count():
    d = hkall([h("um"), h("hkpl", consortium="HKPL")])
    assert rules(d) == ["HKALL-02"]
    assert d.refusals[0].code == "no_lender"


def test_hkall_03_home_library_has_a_copy_in_place():
    d = hkall([h("cityu"), h("eduhk", sp="MMW Library")])
    assert not d.requestable
    assert rules(d) == ["HKALL-03"]
    assert "your own library has a copy on the shelf (MMW Library)" in d.refusals[0].reason


def test_hkall_03_home_copy_on_loan_does_not_block():
    assert hkall([h("cityu"), h("eduhk", "ON_LOAN")]).requestable


def test_hkall_03_home_reference_copy_does_not_block():
    assert hkall([h("cityu"), h("eduhk", material_type="reference")]).requestable


def test_every_refusal_that_applies_is_given():
    d = hkall([h("cityu", "ON_LOAN"), h("eduhk")])
    assert rules(d) == ["HKALL-03", "HKALL-02"]


def test_withdrawn_copies_are_not_lenders():
    assert rules(hkall([h("cityu", "WITHDRAWN")])) == ["HKALL-02"]


@pytest.mark.parametrize(
    "material", ["reference", "serial", "periodical_back_issue", "media", "thesis"]
)
def test_mala_03_not_lent(material):
    d = mala([h("um", material_type=material)], record_type=material)
    assert not d.requestable and rules(d) == ["MALA-03"]
    assert "MALA libraries do not lend" in d.refusals[0].reason


def test_mala_book_available_at_another_mala_library():
    d = mala([h("um"), h("usj", "ON_LOAN"), h("cityu")])
    assert d.requestable and d.lenders == ("um",)


def test_mala_no_available_copy():
    d = mala([h("um", "ON_LOAN")])
    assert not d.requestable
    assert d.refusals[0].code == "not_available" and d.refusals[0].rule is None


def test_library_outside_hkall_and_mala_has_no_scheme():
    d = decide([h("cityu")], home_library="hkpl", consortium="HKPL", record_material_type="book")
    assert not d.requestable and d.refusals[0].code == "no_scheme"


def test_every_refusal_names_its_rule_in_the_patrons_words():
    # rules.md: a refusal tells the caller which rule it was (HKALL-01/02/03, MALA-03).
    cases = [
        hkall([h("hku", "AVAILABLE", "media")], record_type="media"),
        hkall([h("hku", "ON_LOAN")]),
        hkall([h("eduhk"), h("hku")]),
        mala([h("usj", "AVAILABLE", "thesis")], record_type="thesis"),
    ]
    refusals = [r for d in cases for r in d.refusals]
    assert {r.rule for r in refusals} == {"HKALL-01", "HKALL-02", "HKALL-03", "MALA-03"}
    for r in refusals:
        assert r.reason.endswith(f"({r.rule})"), r
