"""MALA-12 at the broker, as pure code: a home library's report that its patron lost the
institutional card of a lender is checked (the sender is the home library, the lender a
fellow member of its consortium, every transaction named the sender's with that lender) and
passed on to the lender with the patron reference derived for it, as a request's is."""

from __future__ import annotations

from collections.abc import Mapping

from libs.common.contracts.ill import IllCardLost
from services.requests.domain.broker import TransactionView
from services.requests.domain.routing import pseudonym


def for_lender(
    msg: IllCardLost,
    sender: str,
    members: Mapping[str, str],
    views: Mapping[str, TransactionView],
) -> IllCardLost | str:
    """The report as the lender gets it, or why it is not passed on. ``members``: library →
    consortium; ``views``: the transactions the report names that the broker knows."""
    if sender != msg.requester:
        return f"the report names home library {msg.requester!r} but {sender!r} sent it"
    home = members.get(msg.requester)
    if msg.lender == msg.requester or members.get(msg.lender) != home:
        return (
            f"MALA-12: {msg.lender!r} is not another member of {msg.requester}'s consortium; "
            "a card is reported to the library that issued it"
        )
    for txn in msg.transactions:
        view = views.get(txn)
        if view is None or view.requester != sender:
            return f"transaction {txn} is not one of {sender}'s"
        lenders = {view.lender, *(a.lender for a in view.tried)}
        if msg.lender not in lenders:
            return f"transaction {txn} was never with {msg.lender}"
    return msg.model_copy(update={"patron_ref": pseudonym(msg.patron_ref, msg.lender)})
