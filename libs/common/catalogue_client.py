"""Reading the union catalogue over its public REST API, as the ILL parties do: the home
library looks up the record a patron asks for (and whether the catalogue's mirror says it is
requestable), the broker finds the candidate lenders at routing time.

The catalogue is a mirror, never the authority: a lender re-checks its own item. When the
catalogue is away (refused connection, timeout, a 5xx), :class:`CatalogueUnavailable` says so,
so that a caller can wait and retry instead of failing the request.
"""

from __future__ import annotations

import asyncio
import ssl
from functools import cache
from typing import Any

import httpx

from libs.common.federation import Federation


class CatalogueUnavailable(RuntimeError):
    """The catalogue could not answer now; try again later."""


def catalogue_url(fed: Federation) -> str:
    """The catalogue's base URL by the federation file (both ways of running serve it there)."""
    return fed.url(fed.services["catalog"].port)


@cache
def _tls() -> ssl.SSLContext:
    # httpx builds a new SSL context (reading every CA certificate) for each client unless it
    # is given one: about 40 ms of CPU, most of what a routing step cost the broker. One,
    # verifying as httpx's default does, serves every client of the process.
    return httpx.create_ssl_context()


class CatalogueClient:
    """One HTTP client kept for every look-up: a client made per call costs a TLS context (a
    few milliseconds of CPU, even for plain HTTP) and a new connection, on the broker's routing
    path and every ILL request. Its keep-alive connections are bound to the event loop that
    opened them, so a look-up from another loop (a test's next one) gets a client of its own.
    ``start``/``stop`` let a runtime hold it as a component (stop closes the connections)."""

    def __init__(
        self,
        base_url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.base_url, self.transport, self.timeout = base_url.rstrip("/"), transport, timeout
        self._http: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._http is None or self._http.is_closed or self._loop is not loop:
            self._http = httpx.AsyncClient(
                base_url=self.base_url,
                transport=self.transport,
                timeout=self.timeout,
                verify=_tls(),
            )
            self._loop = loop
        return self._http

    async def start(self) -> None:
        """Nothing to open: the client connects at its first look-up."""

    async def stop(self) -> None:
        """Close the kept connections (a later look-up opens new ones)."""
        http, loop, self._http, self._loop = self._http, self._loop, None, None
        # A client of a loop that has ended is dropped: its connections went with that loop.
        if http is not None and loop is asyncio.get_running_loop():
            await http.aclose()

    async def record(
        self, record_id: int, home_library: str | None = None
    ) -> dict[str, Any] | None:
        """The record with every library's holdings (``holdings``: library, item_id, status,
        material_type…; ``available_at``; ``requestability`` for ``home_library``), or None if
        the catalogue has no such record."""
        params = {"home_library": home_library} if home_library else None
        try:
            res = await self._client().get(f"/api/v1/records/{record_id}", params=params)
        except httpx.HTTPError as exc:
            raise CatalogueUnavailable(f"the catalogue did not answer: {exc!r}") from exc
        if res.status_code == 404:
            return None
        if res.status_code >= 500:
            raise CatalogueUnavailable(f"the catalogue answered {res.status_code}")
        res.raise_for_status()
        return res.json()

    async def search(self, **params: Any) -> dict[str, Any]:
        """A page of the catalogue's ``/api/v1/search`` (``q``, ``scope``, ``home_library``,
        ``page_size``, ``cursor``…): ``results`` with holdings and requestability, ``total``,
        ``next_cursor``. A 4xx answer (a query the catalogue cannot run) is raised as
        ``httpx.HTTPStatusError``."""
        query = {k: v for k, v in params.items() if v not in (None, "")}
        try:
            res = await self._client().get("/api/v1/search", params=query)
        except httpx.HTTPError as exc:
            raise CatalogueUnavailable(f"the catalogue did not answer: {exc!r}") from exc
        if res.status_code >= 500:
            raise CatalogueUnavailable(f"the catalogue answered {res.status_code}")
        res.raise_for_status()
        return res.json()
