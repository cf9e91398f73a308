"""The e-mail policy every message the notifier builds or reads is made with: the email
package's default (RFC-compliant headers, non-ASCII encoded on the wire), with each kind of
header's class made once.

The package's header registry makes a new class (``type(...)``) for every header it parses,
for every message: measured, about a tenth of the notifier's CPU under the ILL load went
into making those classes. Each is the same class every time (a kind of header and the
registry's base), holding nothing of the header itself, so one per kind serves them all.
"""

from __future__ import annotations

import email.policy
from email.headerregistry import HeaderRegistry


class OnceMadeHeaders(HeaderRegistry):
    """A :class:`HeaderRegistry` that makes each header class once."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type] = {}

    def map_to_type(self, name: str, cls: type) -> None:
        super().map_to_type(name, cls)
        self._made.pop(name.lower(), None)

    def __getitem__(self, name: str) -> type:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = super().__getitem__(name)
        return made


POLICY = email.policy.default.clone(header_factory=OnceMadeHeaders())
