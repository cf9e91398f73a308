"""MARC21 (ISO 2709) and MARCXML records as catalogue records, read with pymarc.

A broken record becomes a :class:`Rejection` with its position and reason and reading goes on
with the next one: binary records are cut at the record terminator (0x1D) before pymarc
decodes each, so one bad length or directory does not put the rest out of step; in MARCXML
each ``<record>`` is built on its own. (XML that is not well-formed cannot be read past the
error: the rejection says so.)

Bibliographic fields used:

=============================  =========================================================
title                          245 $a $b $n $p (ISBD punctuation removed)
authors                        100, 110, 111, 700, 710, 711 $a
subjects                       600, 610, 611, 630, 650, 651 $a with $x $y $z as "A -- X"
ISBN / ISSN                    020 $a (every one; must be valid) / 022 $a
language                       008/35-37, else 041 $a
publisher, year                264 or 260 $b; 008/07-10, else the first year in 264/260 $c
material type                  leader/06-07: serial (07 = s, b, i); 502 or 008/24-27 "m":
                               thesis; 008/24-27 "d" or "e" (dictionary, encyclopedia):
                               reference; 300 $e naming a disc: book_with_disc; other
                               printed material (06 = a, t, c, d, e, f): book; the rest:
                               media
=============================  =========================================================

Holdings, one per field (a record may have both kinds):

* **949** (local item field, this catalogue's layout, as ILS exports use it): $a library
  code, $i item id, $b service point, $c call number, $p barcode, $s status (an ItemStatus,
  default AVAILABLE), $t material type (default: the record's), $v version.
* **852** (MARC holdings location): $a library code, $b service point, $h + $i call number,
  $p barcode, which is also the item id; status AVAILABLE.
"""

from __future__ import annotations

import re
import xml.sax
from collections.abc import Iterable, Iterator
from typing import BinaryIO

import pymarc
from pymarc.marcxml import XmlHandler

from services.catalog.domain.intake import build_record
from services.catalog.domain.model import (
    ITEM_STATUSES,
    MATERIAL_TYPES,
    BibRecord,
    Holding,
    InvalidRecord,
    Rejection,
)

_TRAILING = re.compile(r"[\s/:;,=]+$")
# A final full stop is ISBD punctuation unless it ends an initial ("Carroll, John M.") or "...".
_FINAL_STOP = re.compile(r"(?<!\b\w)(?<!\.\.)\.$")
_YEAR = re.compile(r"(1[0-9]{3}|2[0-9]{3})")
# ASCII digits only: str.isdigit() also takes "²" or "٣", which int() then refuses or reads.
_NUMBER = re.compile(r"[0-9]+")
_DISC = re.compile(r"disc|disk|\bcd(?:-rom)?\b|\bdvd\b|光碟|光盤|唱片", re.IGNORECASE)
_BLOCK = 1 << 20


def _clean(value: str | None) -> str:
    text = _TRAILING.sub("", " ".join((value or "").split()))
    return _TRAILING.sub("", _FINAL_STOP.sub("", text))


def _material_type(rec: pymarc.Record) -> str:
    leader = str(rec.leader)
    kind, level = leader[6:7], leader[7:8]
    f008 = rec.get("008")
    nature = f008.data[24:28] if f008 is not None and f008.data else ""
    if kind in ("a", "t") and level in ("s", "b", "i"):
        return "serial"
    if kind not in ("a", "t", "c", "d", "e", "f"):
        return "media"
    if kind not in ("a", "t"):
        return "book"  # printed music and maps circulate like books
    if rec.get_fields("502") or "m" in nature:
        return "thesis"
    if "d" in nature or "e" in nature:
        return "reference"
    for f300 in rec.get_fields("300"):
        if any(_DISC.search(e) for e in f300.get_subfields("e")):
            return "book_with_disc"
    return "book"


def _language(rec: pymarc.Record) -> str | None:
    f008 = rec.get("008")
    if f008 is not None and f008.data and len(f008.data) >= 38:
        code = f008.data[35:38].strip().lower()
        if len(code) == 3 and code.isalpha() and code not in ("zxx", "und", "mul"):
            return code
    for f041 in rec.get_fields("041"):
        for code in f041.get_subfields("a"):
            if len(code.strip()) >= 3:
                return code.strip()[:3].lower()
    return None


def _year(rec: pymarc.Record) -> int | None:
    f008 = rec.get("008")
    if f008 is not None and f008.data and _YEAR.fullmatch(f008.data[7:11]):
        return int(f008.data[7:11])
    for field in rec.get_fields("264", "260"):
        for c in field.get_subfields("c"):
            m = _YEAR.search(c)
            if m:
                return int(m.group(1))
    return None


def _holdings(rec: pymarc.Record, material_type: str) -> list[Holding]:
    out = []
    for n, f in enumerate(rec.get_fields("949"), start=1):
        library, item_id = (f.get("a") or "").strip(), (f.get("i") or f.get("p") or "").strip()
        if not library or not item_id:
            raise InvalidRecord(f"949 #{n}: needs a library ($a) and an item id ($i or $p)")
        status = (f.get("s") or "AVAILABLE").strip().upper()
        if status not in ITEM_STATUSES:
            raise InvalidRecord(f"949 #{n}: unknown item status {status!r}")
        item_type = (f.get("t") or material_type).strip()
        if item_type not in MATERIAL_TYPES:
            raise InvalidRecord(f"949 #{n}: unknown material type {item_type!r}")
        version = (f.get("v") or "0").strip()
        if not _NUMBER.fullmatch(version):
            raise InvalidRecord(f"949 #{n}: version {version!r} is not a number")
        out.append(
            Holding(
                library=library.lower(),
                item_id=item_id,
                status=status,
                material_type=item_type,
                service_point=(f.get("b") or None),
                call_number=_clean(f.get("c")) or None,
                barcode=(f.get("p") or None),
                version=int(version),
            )
        )
    for n, f in enumerate(rec.get_fields("852"), start=1):
        library, barcode = (f.get("a") or "").strip(), (f.get("p") or "").strip()
        if not library or not barcode:
            raise InvalidRecord(f"852 #{n}: needs a library ($a) and a barcode ($p)")
        call = " ".join(x for x in (f.get("h"), f.get("i")) if x)
        out.append(
            Holding(
                library=library.lower(),
                item_id=barcode,
                material_type=material_type,
                service_point=(f.get("b") or None),
                call_number=call or None,
                barcode=barcode,
            )
        )
    return out


def record_from_marc(rec: pymarc.Record, position: int | None = None) -> BibRecord:
    """A pymarc record as a catalogue record, or :class:`InvalidRecord` saying what is wrong."""
    f245 = rec.get("245")
    title = _clean(" ".join(f245.get_subfields("a", "b", "n", "p"))) if f245 else ""
    if not title:
        raise InvalidRecord("no title (245 $a)")
    authors = [
        _clean(a)
        for f in rec.get_fields("100", "110", "111", "700", "710", "711")
        for a in f.get_subfields("a")[:1]
    ]
    subjects = []
    for f in rec.get_fields("600", "610", "611", "630", "650", "651"):
        parts = [_clean(v) for v in f.get_subfields("a", "x", "y", "z")]
        if parts and parts[0]:
            subjects.append(" -- ".join(p for p in parts if p))
    isbns = [a for f in rec.get_fields("020") for a in f.get_subfields("a") if a.strip()]
    issns = [a for f in rec.get_fields("022") for a in f.get_subfields("a") if a.strip()]
    publisher = next(
        (_clean(b) for f in rec.get_fields("264", "260") for b in f.get_subfields("b")), None
    )
    material = _material_type(rec)
    f001 = rec.get("001")
    return build_record(
        title=title,
        authors=[a for a in authors if a],
        subjects=subjects,
        isbns=isbns,
        issn_raw=issns[0] if issns else None,
        language=_language(rec),
        publisher=publisher or None,
        year=_year(rec),
        material_type=material,
        holdings=_holdings(rec, material),
        source_id=f001.data.strip() if f001 is not None and f001.data else None,
        position=position,
    )


_PLAIN = {
    "ValueError": "a number in the leader or directory is not a number",
    "BaseAddressNotFound": "the leader gives no base address of data",
    "BaseAddressInvalid": "the base address of data points past the end of the record",
    "TruncatedRecord": "the record is shorter than its leader says (cut short?)",
    "RecordDirectoryInvalid": "the directory does not divide into 12-character entries",
    "RecordLeaderInvalid": "the leader is not 24 characters long",
    "NoFieldsFound": "the record has no fields",
    "UnicodeDecodeError": "the record says UTF-8 but is not",
    "KeyError": "a field has no tag or a subfield no code",
}


def _reason(exc: BaseException) -> str:
    name = type(exc).__name__
    return f"unreadable MARC record: {_PLAIN.get(name, str(exc) or name)} ({name})"


def _convert(rec: pymarc.Record, position: int) -> BibRecord | Rejection:
    try:
        return record_from_marc(rec, position)
    except InvalidRecord as exc:
        f001 = rec.get("001")
        source = f001.data.strip() if f001 is not None and f001.data else None
        return Rejection(index=position, reason=str(exc), source_id=source)


def _chunks(source: bytes | BinaryIO) -> Iterator[bytes]:
    """Raw records: the bytes up to and including each record terminator."""
    if isinstance(source, bytes | bytearray):
        blocks: Iterable[bytes] = [bytes(source)]
    else:
        blocks = iter(lambda: source.read(_BLOCK), b"")
    rest = b""
    terminator = pymarc.END_OF_RECORD.encode()
    first = True
    for block in blocks:
        rest += block
        if first and rest:
            # Some tools start a UTF-8 file with a byte order mark; it is not part of the
            # first record's leader.
            rest = rest.removeprefix(b"\xef\xbb\xbf")
            first = False
        *complete, rest = rest.split(terminator)
        for raw in complete:
            raw = raw.lstrip(b"\r\n\t ")
            if raw:
                yield raw + terminator
    if rest.strip():
        yield rest.lstrip(b"\r\n\t ")


def read_marc(source: bytes | BinaryIO) -> Iterator[BibRecord | Rejection]:
    """Each record of a MARC21 (ISO 2709) file, or the reason it cannot be loaded."""
    for position, raw in enumerate(_chunks(source)):
        if not raw.endswith(pymarc.END_OF_RECORD.encode()):
            yield Rejection(position, "truncated MARC record (no record terminator)")
            continue
        try:
            rec = pymarc.Record(raw, to_unicode=True, hide_utf8_warnings=True)
        except Exception as exc:  # pymarc raises many kinds for malformed input
            yield Rejection(position, _reason(exc))
            continue
        yield _convert(rec, position)


class _RecordHandler(XmlHandler):
    """pymarc's MARCXML handler, with each ``<record>`` built on its own: an error inside
    one record rejects that record only."""

    def __init__(self) -> None:
        super().__init__()
        self.out: list[BibRecord | Rejection] = []
        self.position = -1
        self.in_record = False
        self.error: BaseException | None = None

    def startElementNS(self, name, qname, attrs):
        if name[1] == "record":
            self.position += 1
            self.in_record = True
            self.error = None
        if self.error is None:
            try:
                super().startElementNS(name, qname, attrs)
            except Exception as exc:
                self.error = exc

    def endElementNS(self, name, qname):
        if name[1] == "record":
            self.in_record = False
            if self.error is not None:
                self.out.append(Rejection(self.position, _reason(self.error)))
                self._record = None
                self._field = None
                return
        if self.error is None:
            try:
                super().endElementNS(name, qname)
            except Exception as exc:
                self.error = exc
                if name[1] == "record":
                    self.out.append(Rejection(self.position, _reason(exc)))

    def process_record(self, record):
        self.out.append(_convert(record, self.position))


def read_marcxml(source: bytes | BinaryIO) -> Iterator[BibRecord | Rejection]:
    """Each record of a MARCXML document (a ``<collection>`` or one ``<record>``), or the
    reason it cannot be loaded."""
    handler = _RecordHandler()
    parser = xml.sax.make_parser()
    parser.setFeature(xml.sax.handler.feature_namespaces, True)
    # No DTDs or external entities from uploaded files.
    parser.setFeature(xml.sax.handler.feature_external_ges, False)
    parser.setContentHandler(handler)
    blocks: Iterable[bytes]
    if isinstance(source, bytes | bytearray):
        blocks = [bytes(source)]
    else:
        blocks = iter(lambda: source.read(_BLOCK), b"")
    try:
        for block in blocks:
            parser.feed(block)
            yield from handler.out
            handler.out.clear()
        parser.close()
    except xml.sax.SAXParseException as exc:
        yield from handler.out
        handler.out.clear()
        yield Rejection(
            handler.position if handler.in_record else handler.position + 1,
            f"the XML is not well-formed (line {exc.getLineNumber()}: {exc.getMessage()}); "
            "records after this point were not read",
        )
        return
    except LookupError as exc:
        # The XML declaration names an encoding Python does not know.
        yield from handler.out
        handler.out.clear()
        yield Rejection(max(handler.position, 0), f"the XML cannot be decoded: {exc}")
        return
    yield from handler.out
