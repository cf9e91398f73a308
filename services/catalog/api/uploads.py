"""Reading a bulk-load body: at most ``MAX_UPLOAD_BYTES``, in one of the formats libraries
exchange, into records and per-record rejections (by the same readers the CLI uses)."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass

from fastapi import Request

from libs.common import idempotency
from libs.common.errors import Problem
from libs.common.service import MAX_BODY_BYTES
from services.catalog.domain.intake import UnreadableJson, read_json
from services.catalog.domain.model import BibRecord, Rejection

# The service-wide limit, which the service counts as any body streams in, chunked or not
# (libs.common.service.RequestGuard); a load is read within it.
MAX_UPLOAD_BYTES = MAX_BODY_BYTES

JSON_TYPES = frozenset(
    {
        "application/json",
        "application/x-ndjson",
        "application/ndjson",
        "application/jsonl",
        "application/x-jsonlines",
    }
)
MARC_TYPES = frozenset({"application/marc"})
MARCXML_TYPES = frozenset({"application/marcxml+xml", "application/xml", "text/xml"})
ACCEPTED = sorted(JSON_TYPES | MARC_TYPES | MARCXML_TYPES)

Results = list[BibRecord | Rejection]


async def read_body(request: Request, limit: int = MAX_UPLOAD_BYTES) -> bytes:
    size, parts = 0, []
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem(
                413,
                "payload-too-large",
                "Request body too large",
                f"a load may be at most {limit} bytes: send the records in several requests",
            )
        parts.append(chunk)
    return b"".join(parts)


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _parse(kind: str, body: bytes) -> Results:
    if kind in MARC_TYPES | MARCXML_TYPES:
        # pymarc's MARC-8 tables take some 60 MB: loaded by the first MARC upload rather than
        # by every catalogue process (and the whole embedded federation) at start.
        from services.catalog.adapters.marc import read_marc, read_marcxml

        return list((read_marc if kind in MARC_TYPES else read_marcxml)(body))
    return read_json(body.decode("utf-8"))


@dataclass(frozen=True)
class Upload:
    """A load's body as it was sent: its media type and its bytes."""

    kind: str
    body: bytes

    def request_hash(self, path: str) -> str:
        """What an ``Idempotency-Key`` is bound to: the media type and the bytes as sent (a
        MARC body is not JSON, and two bodies read alike need not be the same request)."""
        digest = hashlib.sha256(self.body).hexdigest()
        return idempotency.request_hash("POST", path, [self.kind, digest])


async def read_upload(request: Request) -> Upload:
    """The request body in an accepted media type, or a problem (unknown media type, too
    large, empty)."""
    kind = media_type(request)
    if kind not in JSON_TYPES | MARC_TYPES | MARCXML_TYPES:
        raise Problem(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            f"send records as one of: {', '.join(ACCEPTED)}",
        )
    body = await read_body(request)
    if not body.strip():
        raise Problem(422, "empty-load", "Nothing to load", "the request body is empty")
    return Upload(kind, body)


async def parse_upload(upload: Upload) -> Results:
    """The records of an upload, or a problem when the body as a whole cannot be read (not
    UTF-8 JSON, a JSON array cut short, no records)."""
    try:
        # Parsing a few megabytes of MARC is CPU work: keep it off the event loop.
        results = await asyncio.to_thread(_parse, upload.kind, upload.body)
    except UnicodeDecodeError:
        raise Problem(
            422, "unreadable-load", "The records cannot be read", "JSON must be UTF-8"
        ) from None
    except UnreadableJson as exc:
        raise Problem(422, "unreadable-load", "The records cannot be read", str(exc)) from None
    if not results:
        raise Problem(422, "empty-load", "Nothing to load", "the body holds no records")
    return results
