"""May this account borrow these items? Eligibility, material type, standing and quota.

The same decision answers a checkout at the counter and a consortium request (HKALL takes
the quota when the request is made): pass ``action="request"`` for the wording.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from pydantic import BaseModel, ConfigDict

from libs.common.policy.decision import Decision, Refusal
from libs.common.policy.facts import AccountFacts, ItemFacts, LoanFacts
from libs.common.policy.models import Policy
from libs.common.policy.standing import standing_refusals
from libs.common.policy.vocabulary import MaterialType

MATERIAL_LABELS: dict[str, str] = {
    "book": "books",
    "book_with_disc": "books with discs",
    "serial": "serials",
    "periodical_back_issue": "periodical back issues",
    "media": "multimedia materials",
    "thesis": "theses",
    "reference": "reference books",
}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class QuotaUsage(BaseModel):
    """How much of the quota is in use (to show "7 of 10" as well as to decide)."""

    model_config = ConfigDict(frozen=True)

    rule: str
    scope: str
    items: int
    back_issues: int
    items_limit: int
    back_issues_limit: int | None
    home_rule: str | None = None
    home_used: int | None = None
    home_limit: int | None = None

    def fits(self) -> bool:
        """Whether this usage is within the limits (HKPL-09 shares one room between items
        and back issues: 10 items, or 20 back issues, or e.g. 5 items and 10 back issues)."""
        return _fits(self.items, self.back_issues, self.items_limit, self.back_issues_limit) and (
            self.home_limit is None or (self.home_used or 0) <= self.home_limit
        )


def _fits(items: int, back: int, limit: int, back_limit: int | None) -> bool:
    if back_limit is None:
        return items + back <= limit
    if limit == 0:
        return items + back == 0
    # items/limit + back/back_limit <= 1, kept in integers
    return items * back_limit + back * limit <= limit * back_limit


def _units(policy: Policy, things: Iterable[LoanFacts | ItemFacts]) -> tuple[int, int]:
    """(items, back issues) counted for the quota. Accompanying material rides with its main
    item (HKPL-09 "10 items with their accompanying materials")."""
    quotas = policy.quotas
    items = back = 0
    for thing in things:
        if thing.is_accompanying and not quotas.count_accompanying:
            continue
        if thing.material_type == "periodical_back_issue" and quotas.periodical_back_issues:
            back += 1
        else:
            items += 1
    return items, back


def _scoped_loans(policy: Policy, account: AccountFacts, lender: str | None) -> list[LoanFacts]:
    scope = policy.quotas.scope
    if scope == "consortium":
        return [loan for loan in account.loans if loan.ill]
    if scope == "lender":
        return [loan for loan in account.loans if loan.lender == lender]
    return list(account.loans)  # HKPL-18: every loan of the account, whatever card


def _through_consortium(item: ItemFacts) -> bool:
    """Whether an item asked for comes from another library of the consortium (a request, or
    the loan of a lender's item), rather than from the home library's own shelves."""
    return item.ill or item.lender is not None


def _scoped_adding(policy: Policy, adding: Sequence[ItemFacts]) -> list[ItemFacts]:
    """What of ``adding`` a consortium's quota counts: HKALL-08 counts HKALL books and
    MALA-02 a lender's items, never a home item lent at the home library's own counter."""
    if policy.quotas.scope == "account":
        return list(adding)
    return [item for item in adding if _through_consortium(item)]


def _scoped_requests(policy: Policy, account: AccountFacts, lender: str | None) -> int:
    if policy.quotas.scope == "lender":
        return sum(1 for code in account.requests_holding_quota if code == lender)
    return len(account.requests_holding_quota)


def quota_usage(
    policy: Policy,
    account: AccountFacts,
    *,
    adding: Sequence[ItemFacts] = (),
    lender: str | None = None,
) -> QuotaUsage:
    """Quota in use by the account, with ``adding`` counted as if already borrowed.

    HKPL-09/HKPL-18: one quota per account; HKALL-08: by patron category, counting requests
    that hold quota and only what comes through the consortium; HKALL-09: every loan and
    request inside the home-library quota, the home library's own items as much as the
    consortium's; MALA-02: per lender.
    """
    quotas = policy.quotas
    category = policy.category(account.patron_category)
    category_quota = category.quota if category is not None else None
    limit = category_quota if category_quota is not None else quotas.items
    rule = quotas.rule
    if category is not None and category_quota is not None and category.rule:
        rule = category.rule  # HKALL-08: the quota comes from the category table
    loans_items, loans_back = _units(policy, _scoped_loans(policy, account, lender))
    new_items, new_back = _units(policy, _scoped_adding(policy, adding))
    requests = _scoped_requests(policy, account, lender)
    home_used = home_limit = None
    if category is not None and category.home_quota is not None:
        all_items, all_back = _units(policy, account.loans)
        added_items, added_back = _units(policy, adding)
        # HKALL-09: the home quota holds everything: local loans, consortium loans, and the
        # requests in flight that hold quota from the moment they are made.
        home_used = (
            all_items + all_back + len(account.requests_holding_quota) + added_items + added_back
        )
        home_limit = category.home_quota
    return QuotaUsage(
        rule=rule,
        scope=quotas.scope,
        items=loans_items + requests + new_items,
        back_issues=loans_back + new_back,
        items_limit=limit,
        back_issues_limit=quotas.periodical_back_issues,
        home_rule=quotas.home_quota_rule or quotas.rule,
        home_used=home_used,
        home_limit=home_limit,
    )


def quota_refusals(
    policy: Policy,
    account: AccountFacts,
    items: Sequence[ItemFacts],
    *,
    lender: str | None = None,
    action: str = "checkout",
) -> list[Refusal]:
    """Refusals when borrowing ``items`` would pass a quota (HKPL-09, HKPL-18, HKALL-08,
    HKALL-09, MALA-02)."""
    before = quota_usage(policy, account, lender=lender)
    after = quota_usage(policy, account, adding=items, lender=lender)
    where = {
        "account": "",
        "consortium": f" through {policy.policy.consortium}",
        "lender": " from this library",
    }[after.scope]
    refusals: list[Refusal] = []
    # A consortium's quota (HKALL-08, MALA-02) limits what comes through the consortium: a
    # home item lent at the home counter is never refused by it, however many consortium
    # items and requests the patron has (those count in the home quota, HKALL-09, below).
    scoped = after.scope == "account" or bool(_scoped_adding(policy, items))
    if scoped and not _fits(
        after.items, after.back_issues, after.items_limit, after.back_issues_limit
    ):
        if after.back_issues_limit is not None:
            held = (
                f"{_plural(before.items, 'item')} and {_plural(before.back_issues, 'back issue')}"
            )
            reason = (
                f"at most {after.items_limit} items (with their accompanying materials) or "
                f"{after.back_issues_limit} periodical back issues may be on loan at a time, "
                f"one quota for all the cards of the account; the account has {held} on loan"
            )
        elif before.items >= after.items_limit:
            reason = (
                f"the account already has {_plural(before.items, 'item')} on loan{where}, "
                f"the most allowed at a time is {after.items_limit}"
            )
        else:
            reason = (
                f"borrowing {_plural(after.items - before.items, 'more item')} would make "
                f"{after.items} on loan{where}, more than the {after.items_limit} allowed at a time"
            )
        refusals.append(
            Refusal(rule=after.rule, code="quota_exceeded", action=action, reason=reason)
        )
    if after.home_limit is not None and (after.home_used or 0) > after.home_limit:
        refusals.append(
            Refusal(
                rule=after.home_rule or policy.quotas.rule,
                code="home_quota_exceeded",
                action=action,
                reason=(
                    f"{policy.policy.consortium} loans count inside the home library quota of "
                    f"{after.home_limit} items, and this would make {after.home_used} in all"
                ),
            )
        )
    return refusals


def eligibility_refusals(policy: Policy, account: AccountFacts, action: str) -> list[Refusal]:
    """Only the patron categories a policy lists may borrow under it, when it says so
    (HKALL-08 eligible users; MALA-01 eligible users of member libraries)."""
    rule = policy.policy.eligibility_rule
    if rule is None or policy.category(account.patron_category) is not None:
        return []
    return [
        Refusal(
            rule=rule,
            code="not_eligible",
            action=action,
            reason=f"patrons of category {account.patron_category!r} are not eligible to "
            f"borrow through {policy.policy.consortium}",
        )
    ]


def material_refusals(
    policy: Policy, items: Sequence[ItemFacts], action: str = "checkout"
) -> list[Refusal]:
    """Material types the policy never lends (HKALL-01: books only; MALA-03: no reference
    books, periodicals, multimedia or theses)."""
    loanable = policy.loanable
    if loanable is None:
        return []
    allowed: tuple[MaterialType, ...] = loanable.material_types
    only = " and ".join(MATERIAL_LABELS[m] for m in allowed)
    return [
        Refusal(
            rule=loanable.rule,
            code="material_not_loanable",
            action=action,
            reason=f"{MATERIAL_LABELS[item.material_type]} cannot be borrowed through "
            f"{policy.policy.consortium}: only {only} can",
            item_id=item.item_id,
        )
        for item in items
        if item.material_type not in allowed
    ]


def checkout_decision(
    policy: Policy,
    account: AccountFacts,
    items: Sequence[ItemFacts],
    on: date,
    *,
    lender: str | None = None,
    action: str = "checkout",
) -> Decision:
    """May the account borrow ``items`` (one item, or a set: main item and its accompanying
    material) on the library day ``on``? Every rule that refuses is listed.

    Checks eligibility (HKALL-08, MALA-01), material type (HKALL-01, MALA-03), the account's
    standing (HKPL-03, HKPL-15, HKPL-17, HKALL-18, HKALL-19, MALA-10) and the quota (HKPL-09,
    HKPL-18, HKALL-08, HKALL-09, MALA-02). ``lender`` is the lending library for a per-lender
    quota (MALA-02); it defaults to the items' lender.
    """
    if lender is None:
        lender = next((item.lender for item in items if item.lender), None)
    return Decision.of(
        action,
        [
            *eligibility_refusals(policy, account, action),
            *material_refusals(policy, items, action),
            *standing_refusals(policy, account, on, action),
            *quota_refusals(policy, account, items, lender=lender, action=action),
        ],
    )
