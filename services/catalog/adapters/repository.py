"""The catalogue's storage API, for the HTTP routes, the bus consumer, the seed and the CLI.

Every function takes an ``AsyncConnection`` inside a transaction the caller owns (none of them
commits). Reads:

* :func:`search` — keywords, filters, scope, facets, relevance order, cursor pages, and for a
  patron whether each title may be requested (HKALL-01/02/03, MALA-03).
* :func:`get_record` / :func:`read_records` — records with their holdings.

Writes:

* :func:`load_results` / :func:`load_records` — bulk load of what ``domain.intake``
  (JSON) or ``adapters.marc`` (MARC21, MARCXML) read, merging the same work into one record
  and reporting each rejected record with its reason.
* :func:`apply_item_change` — one ``item.changed`` event, idempotent and in order per item.
* :func:`register_libraries` — number the federation's libraries up front (optional: done on
  first sight otherwise).
"""

from services.catalog.adapters.item_changes import apply_item_change
from services.catalog.adapters.libraries import (
    federation_libraries,
    load_directory,
    register_libraries,
)
from services.catalog.adapters.loading import load_records, load_results
from services.catalog.adapters.search import get_record, read_records, search

__all__ = [
    "apply_item_change",
    "federation_libraries",
    "get_record",
    "load_directory",
    "load_records",
    "load_results",
    "read_records",
    "register_libraries",
    "search",
]
