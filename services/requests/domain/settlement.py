"""The settlement ledger between member libraries (MALA-13, ILL.md "Settlement"), as pure code.

Every charge a lender sends for a lost or damaged item, once the broker has passed it on to the
home library, is an entry "home library owes lender": the home library chases its patron and
is liable for what the patron does not pay (MALA-13), so the entry is owed whether or not the
patron ever pays. The home library's ``ChargePaid`` marks an entry collected: the patron paid
at home and the money is the lender's. A statement sums the entries of a period per library
pair (debtor, creditor) and currency: owed, collected (paid by the patron at home, still owed
to the lender) and not collected (the home library's own liability).

Entries come only from messages the broker applied, so the ledger and the charges on both sides
are the same messages; nothing here reads a clock, a database or the bus.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from libs.common.contracts.ill import IllRequesterMessage, IllSupplierMessage
from libs.common.money import Money
from services.requests.domain.broker import TransactionView

ChargeKind = Literal["lost_item", "damaged_item"]
#: the rule this ledger keeps
RULE = "MALA-13"


@dataclass(frozen=True)
class NewEntry:
    """A charge to enter: the home library owes the lender ``amount``."""

    message_id: str
    transaction_id: str
    home: str
    lender: str
    consortium: str
    kind: ChargeKind
    amount: Money
    rule: str | None
    charged_at: datetime
    charged_on: date


@dataclass(frozen=True)
class Entry:
    """One entry of the ledger, as stored."""

    id: int
    transaction_id: str
    home: str
    lender: str
    kind: str
    amount: Money
    rule: str | None
    charged_at: datetime
    charged_on: date
    collected_at: datetime | None = None

    @property
    def collected(self) -> bool:
        return self.collected_at is not None


def charge_of(
    view: TransactionView, msg: IllSupplierMessage, message_id: str, on: date
) -> NewEntry | None:
    """The entry a lender's message makes, if it charges: a lost item (CompletedWithoutReturn,
    HKALL-20, MALA-11) or a damaged one (a Notification with a charge). ``view`` is the
    transaction before the message; the broker has accepted the message (only a lender the
    broker forwards for is owed anything). ``on`` is the consortium's day of the charge."""
    if msg.charge is None or msg.charge.amount_minor <= 0:
        return None
    if msg.status == "CompletedWithoutReturn":
        kind: ChargeKind = msg.charge_kind or "lost_item"
    elif msg.reason == "Notification":
        kind = msg.charge_kind or "damaged_item"
    else:
        return None
    return NewEntry(
        message_id=message_id,
        transaction_id=view.id,
        home=view.requester,
        lender=msg.supplier,
        consortium=view.consortium,
        kind=kind,
        amount=Money(amount_minor=msg.charge.amount_minor, currency=msg.charge.currency),
        rule=msg.charge_rule,
        charged_at=msg.occurred_at,
        charged_on=on,
    )


def collected_by(msg: IllRequesterMessage, entries: Iterable[Entry]) -> Entry | None:
    """The entry a home library's ``ChargePaid`` marks collected: the oldest charge of the
    transaction not collected yet (the message names no amount: the patron pays one charge
    at a time, in the order the lender made them). None when nothing is left to collect."""
    if msg.action != "ChargePaid":
        return None
    open_ = [e for e in entries if e.transaction_id == msg.transaction_id and not e.collected]
    return min(open_, key=lambda e: (e.charged_at, e.id)) if open_ else None


@dataclass(frozen=True)
class Period:
    """Days ``start`` to ``end``, both included; either open."""

    start: date | None = None
    end: date | None = None

    def holds(self, day: date) -> bool:
        return (self.start is None or day >= self.start) and (self.end is None or day <= self.end)


@dataclass(frozen=True)
class Statement:
    """What ``home`` owes ``lender`` in one currency over a period (MALA-13)."""

    home: str
    lender: str
    currency: str
    entries: tuple[Entry, ...] = field(default=())

    @property
    def owed_minor(self) -> int:
        return sum(e.amount.amount_minor for e in self.entries)

    @property
    def collected_minor(self) -> int:
        """Paid by the home library's patrons: held at home for the lender."""
        return sum(e.amount.amount_minor for e in self.entries if e.collected)

    @property
    def outstanding_minor(self) -> int:
        """Not paid by the patrons: the home library is liable for it all the same."""
        return self.owed_minor - self.collected_minor

    @property
    def owed(self) -> Money:
        return Money(amount_minor=self.owed_minor, currency=self.currency)

    @property
    def collected(self) -> Money:
        return Money(amount_minor=self.collected_minor, currency=self.currency)

    @property
    def outstanding(self) -> Money:
        return Money(amount_minor=self.outstanding_minor, currency=self.currency)


def statements(
    entries: Iterable[Entry],
    *,
    period: Period = Period(),
    library: str | None = None,
    counterparty: str | None = None,
) -> list[Statement]:
    """The statements of ``entries`` charged in ``period``: one per (home, lender, currency),
    sorted, each with its entries in the order charged. ``library`` keeps the pairs it is
    party to (either side); ``counterparty`` then the pairs with that other library."""
    groups: dict[tuple[str, str, str], list[Entry]] = {}
    for e in entries:
        if not period.holds(e.charged_on):
            continue
        parties = (e.home, e.lender)
        if library is not None and library not in parties:
            continue
        if counterparty is not None:
            others = [p for p in parties if p != library] if library is not None else parties
            if counterparty not in others:
                continue
        groups.setdefault((e.home, e.lender, e.amount.currency), []).append(e)
    return [
        Statement(home, lender, currency, tuple(sorted(rows, key=lambda e: (e.charged_at, e.id))))
        for (home, lender, currency), rows in sorted(groups.items())
    ]


@dataclass(frozen=True)
class Totals:
    """One currency's sums over a set of statements."""

    currency: str
    owed_minor: int
    collected_minor: int
    outstanding_minor: int


def totals(found: Iterable[Statement]) -> list[Totals]:
    """The sums of every statement, per currency (never across currencies)."""
    sums: dict[str, list[int]] = {}
    for s in found:
        row = sums.setdefault(s.currency, [0, 0, 0])
        row[0] += s.owed_minor
        row[1] += s.collected_minor
        row[2] += s.outstanding_minor
    return [Totals(c, *sums[c]) for c in sorted(sums)]


@dataclass(frozen=True)
class Net:
    """What one library of a pair owes the other in one currency, after what each owes the
    other is set off: ``debtor`` pays ``creditor`` ``amount_minor`` (0: they are square)."""

    debtor: str
    creditor: str
    currency: str
    amount_minor: int


def net(found: Iterable[Statement]) -> list[Net]:
    """Each pair's balance per currency, the two directions set off against each other (what
    a home library owes is owed in full, paid by its patron or not: MALA-13)."""
    owed: dict[tuple[str, str, str], int] = {}
    for s in found:
        owed[(s.home, s.lender, s.currency)] = owed.get((s.home, s.lender, s.currency), 0) + (
            s.owed_minor
        )
    pairs = sorted({(min(h, le), max(h, le), c) for h, le, c in owed})
    out = []
    for a, b, currency in pairs:
        balance = owed.get((a, b, currency), 0) - owed.get((b, a, currency), 0)
        debtor, creditor = (a, b) if balance >= 0 else (b, a)
        out.append(Net(debtor, creditor, currency, abs(balance)))
    return out


#: the columns of a statement as CSV, one line per entry
CSV_COLUMNS = (
    "home_library",
    "lender",
    "currency",
    "transaction_id",
    "kind",
    "rule",
    "charged_on",
    "charged_at",
    "amount_minor",
    "collected",
    "collected_at",
)


def csv_rows(found: Iterable[Statement]) -> list[tuple[str, ...]]:
    """Every entry of the statements as a CSV row of :data:`CSV_COLUMNS` (amounts in minor
    units: a finance office's spreadsheet never rounds a float)."""
    return [
        (
            s.home,
            s.lender,
            s.currency,
            e.transaction_id,
            e.kind,
            e.rule or "",
            e.charged_on.isoformat(),
            e.charged_at.isoformat(),
            str(e.amount.amount_minor),
            "yes" if e.collected else "no",
            e.collected_at.isoformat() if e.collected_at else "",
        )
        for s in found
        for e in s.entries
    ]
