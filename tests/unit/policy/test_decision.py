"""Decisions: every refusing rule listed, in words a patron understands, JSON-ready."""

from __future__ import annotations

import json
import typing

import pytest

from libs.common.policy import Decision, Refusal
from libs.common.policy.vocabulary import MaterialType


def _refusal(rule: str, reason: str) -> Refusal:
    return Refusal(rule=rule, code="test_code", action="renewal", reason=reason)


def test_refusal_message_names_the_action_the_reason_and_the_rule():
    refusal = _refusal("HKPL-03", "the item has been renewed 5 consecutive times")
    assert refusal.message == (
        "renewal refused: the item has been renewed 5 consecutive times (HKPL-03)"
    )


def test_decision_lists_every_refusing_rule_once_in_order():
    decision = Decision.of(
        "renewal",
        [_refusal("HKPL-03", "a"), _refusal("HKPL-05", "b"), _refusal("HKPL-03", "c")],
    )
    assert not decision
    assert decision.allowed is False
    assert decision.rules == ["HKPL-03", "HKPL-05"]
    assert len(decision.messages) == 3
    assert decision.refused_by("HKPL-05")


def test_allowed_decision_is_truthy():
    decision = Decision.allow("checkout")
    assert decision
    assert decision.rules == []


def test_decision_serializes_to_json_and_back():
    decision = Decision.of("renewal", [_refusal("HKPL-03", "the item is reserved")])
    data = json.loads(decision.model_dump_json())
    assert data["allowed"] is False
    assert data["rules"] == ["HKPL-03"]
    assert data["refusals"][0]["message"] == "renewal refused: the item is reserved (HKPL-03)"
    assert Decision.model_validate(data) == decision


def test_a_refusal_needs_a_real_rule_id():
    with pytest.raises(ValueError):
        Refusal(rule="quota", code="x", action="checkout", reason="no")


def test_material_types_match_the_item_contracts():
    events = pytest.importorskip("libs.common.contracts.events")
    contract_types = getattr(events, "MaterialType", None)
    if contract_types is None:
        pytest.skip("the item contracts define no material types")
    assert set(typing.get_args(contract_types)) == set(typing.get_args(MaterialType))
