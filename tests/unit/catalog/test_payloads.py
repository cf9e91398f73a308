"""The API's JSON of a result carries every field of the view (none forgotten when one is
added), with the rule of each refusal (HKALL-01, HKALL-03)."""

import json
from dataclasses import asdict, fields

from services.catalog.api.payloads import RecordOut, record_json
from services.catalog.domain.requestability import Refusal, Requestability
from services.catalog.domain.views import HoldingView, RecordView


def test_record_json_has_every_field_of_the_view():
    holding = HoldingView("cityu", "i1", "AVAILABLE", "book", "main", "DS1", "B1", "HKALL", 2)
    record = RecordView(
        id=7,
        title="香港歷史",
        authors=("劉智鵬",),
        subjects=("香港 -- 歷史",),
        isbns=("9789622099449",),
        issn=None,
        language="chi",
        publisher="中華書局",
        year=2019,
        material_type="book",
        holdings=(holding,),
        requestability=Requestability(
            False,
            (),
            (
                Refusal("HKALL-03", "copy_at_home", "your own library has a copy"),
                Refusal("HKALL-01", "not_lendable_type", "only books"),
            ),
        ),
    )
    expected = {**asdict(record), "available_at": ["cityu"]}
    assert json.loads(json.dumps(record_json(record))) == json.loads(json.dumps(expected))
    assert [r["rule"] for r in record_json(record)["requestability"]["refusals"]] == [
        "HKALL-03",
        "HKALL-01",
    ]
    documented = set(RecordOut.model_fields)
    assert documented == {f.name for f in fields(RecordView)} | {"available_at"}
