"""A rule refusal leaves the API as a problem document naming every rule that refused, each
with its reason in the patron's words."""

from __future__ import annotations

from libs.common.errors import refusal_problem
from libs.common.policy import Decision, Refusal


def test_every_refusal_is_told_with_its_rule_HKPL_03_HKPL_05():
    decision = Decision.of(
        "renewal",
        [
            Refusal(
                rule="HKPL-03",
                code="consecutive_renewal_limit",
                action="renewal",
                reason="the item has been renewed 5 consecutive times",
                item_id="book",
            ),
            Refusal(
                rule="HKPL-05",
                code="set_not_renewable",
                action="renewal",
                reason="another item of the same set cannot be renewed, and the items of a set "
                "are renewed together",
                item_id="disc",
            ),
        ],
    )
    body = refusal_problem(decision).body("/api/v1/me/renewals")
    assert body["status"] == 409 and body["type"].endswith("/rule-refused")
    assert body["rules"] == ["HKPL-03", "HKPL-05"]
    assert body["detail"].startswith(
        "renewal refused: the item has been renewed 5 consecutive times (HKPL-03); "
    )
    assert [r["item_id"] for r in body["refusals"]] == ["book", "disc"]
    assert refusal_problem(decision, 422).status == 422
