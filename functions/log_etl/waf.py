"""AWS WAF web ACL traffic logs: one JSON object per line, delivered to S3 directly or through Firehose.

The Parquet schema keeps WAF's nesting where its shape is documented and stable, so it can be queried without
parsing JSON: ``httpRequest`` is a struct whose ``headers`` are a list of ``{name, value}`` structs, as WAF writes
them (a map would lose repeated headers and their order); ``ruleGroupList``, ``nonTerminatingMatchingRules``,
``rateBasedRuleList``, ``labels`` are lists of structs. What is free-form per rule or condition type
(``ruleMatchDetails``, ``terminatingRuleMatchDetails``, ``customerConfig``, ``customValues``) is JSON text.

Every value is checked against its type, at every depth: a wrong type rejects the record with the path of the
field (``field httpRequest.headers[2].value: expected a string, got a number``), never casts or drops it. Keys the
schema does not know, at any depth, are kept in ``extra_fields`` (a JSON object keyed by their path), not lost.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from functions.log_etl.cloudtrail import _physical_lines
from functions.log_etl.formats import EVENT_TIME, EXTRA_FIELDS, TIMESTAMP
from functions.log_etl.stream import Counts, ParsedBlock, Readable, Rejected, json_kind, open_decompressed

_INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1
_MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Shape:
    """The JSON shape of one field: ``string``, ``int32``, ``int64``, ``json`` (any value, kept as JSON text),
    ``list`` (of ``item``) or ``struct`` (of ``fields``)."""

    kind: str
    item: Shape | None = None
    fields: tuple[tuple[str, Shape], ...] = ()

    def arrow(self) -> pa.DataType:
        if self.kind == "list":
            assert self.item is not None
            return pa.list_(self.item.arrow())
        if self.kind == "struct":
            return pa.struct([(name, shape.arrow()) for name, shape in self.fields])
        return _ARROW[self.kind]


_ARROW = {"string": pa.string(), "int32": pa.int32(), "int64": pa.int64(), "json": pa.string()}
STR, I32, I64, JSON = Shape("string"), Shape("int32"), Shape("int64"), Shape("json")


def _struct(**fields: Shape) -> Shape:
    return Shape("struct", fields=tuple(fields.items()))


def _list(item: Shape) -> Shape:
    return Shape("list", item=item)


NAME_VALUE = _struct(name=STR, value=STR)
SOLVE = _struct(responseCode=I32, solveTimestamp=I64, failureReason=STR)
MATCHING_RULE = _struct(
    ruleId=STR, action=STR, overriddenAction=STR, ruleMatchDetails=JSON, captchaResponse=SOLVE, challengeResponse=SOLVE
)
# The fields of a record after `timestamp`, in the order of AWS's "Log fields for web ACL traffic".
FIELDS: tuple[tuple[str, Shape], ...] = (
    ("formatVersion", I32),
    ("webaclId", STR),
    ("terminatingRuleId", STR),
    ("terminatingRuleType", STR),
    ("action", STR),
    ("terminatingRuleMatchDetails", JSON),
    ("httpSourceName", STR),
    ("httpSourceId", STR),
    (
        "ruleGroupList",
        _list(
            _struct(
                ruleGroupId=STR,
                terminatingRule=_struct(ruleId=STR, action=STR, overriddenAction=STR, ruleMatchDetails=JSON),
                nonTerminatingMatchingRules=_list(MATCHING_RULE),
                excludedRules=_list(_struct(exclusionType=STR, ruleId=STR)),
                customerConfig=JSON,
            )
        ),
    ),
    (
        "rateBasedRuleList",
        _list(
            _struct(
                rateBasedRuleId=STR,
                rateBasedRuleName=STR,
                limitKey=STR,
                maxRateAllowed=I64,
                evaluationWindowSec=I64,
                limitValue=STR,
                customValues=JSON,
            )
        ),
    ),
    ("nonTerminatingMatchingRules", _list(MATCHING_RULE)),
    ("requestHeadersInserted", _list(NAME_VALUE)),
    ("responseCodeSent", I32),
    (
        "httpRequest",
        _struct(
            clientIp=STR,
            country=STR,
            headers=_list(NAME_VALUE),
            uri=STR,
            args=STR,
            httpVersion=STR,
            httpMethod=STR,
            requestId=STR,
            fragment=STR,
            scheme=STR,
            host=STR,
        ),
    ),
    ("labels", _list(_struct(name=STR))),
    ("captchaResponse", SOLVE),
    ("challengeResponse", SOLVE),
    ("ja3Fingerprint", STR),
    ("ja4Fingerprint", STR),
    ("oversizeFields", _list(STR)),
    ("requestBodySize", I64),
    ("requestBodySizeInspectedByWAF", I64),
)
KNOWN = frozenset({"timestamp", *(name for name, _ in FIELDS)})
SCHEMA = pa.schema(
    [
        ("timestamp", TIMESTAMP),
        *((name, shape.arrow()) for name, shape in FIELDS),
        (EXTRA_FIELDS, pa.string()),  # JSON object: path of each key the schema does not know -> its value
        (EVENT_TIME, TIMESTAMP),
    ]
)


class RecordError(Exception):
    """A record that cannot become a row; the message is the quarantine reason."""


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def typed(value: object, shape: Shape, path: str, extras: dict[str, object]) -> object:
    """``value`` checked against ``shape``, ready for Arrow; unknown struct keys go to ``extras`` by path."""
    if value is None:
        return None
    kind = shape.kind
    if kind == "string":
        if not isinstance(value, str):
            raise RecordError(f"field {path}: expected a string, got {json_kind(value)}")
        return value
    if kind in ("int32", "int64"):
        if not isinstance(value, int) or isinstance(value, bool):
            raise RecordError(f"field {path}: expected an integer, got {json_kind(value)}")
        limit = _INT32_MAX if kind == "int32" else _INT64_MAX
        if not -limit - 1 <= value <= limit:
            raise RecordError(f"field {path}: integer out of range: {value}")
        return value
    if kind == "json":
        return _json(value)
    if kind == "list":
        if not isinstance(value, list):
            raise RecordError(f"field {path}: expected an array, got {json_kind(value)}")
        assert shape.item is not None
        return [typed(item, shape.item, f"{path}[{i}]", extras) for i, item in enumerate(value)]
    if not isinstance(value, dict):
        raise RecordError(f"field {path}: expected an object, got {json_kind(value)}")
    names = {name for name, _ in shape.fields}
    for key, item in value.items():
        if key not in names:
            extras[f"{path}.{key}"] = item
    return {name: typed(value.get(name), sub, f"{path}.{name}", extras) for name, sub in shape.fields}


def row(record: object) -> dict[str, object]:
    """One WAF log record -> a row of ``SCHEMA``; ``RecordError`` with the reason when it is not one."""
    if not isinstance(record, dict):
        raise RecordError(f"record is {json_kind(record)}, not a JSON object")
    ms = record.get("timestamp")
    if not isinstance(ms, int) or isinstance(ms, bool):
        raise RecordError(f"field timestamp: expected an integer (epoch milliseconds), got {json_kind(ms)}")
    if not 0 <= ms <= _MAX_MS:
        raise RecordError(f"field timestamp: {ms} is out of range")
    at = _EPOCH + timedelta(milliseconds=ms)
    extras: dict[str, object] = {key: value for key, value in record.items() if key not in KNOWN}
    out: dict[str, object] = {"timestamp": at}
    for name, shape in FIELDS:
        out[name] = typed(record.get(name), shape, name, extras)
    out[EXTRA_FIELDS] = _json(extras) if extras else None
    out[EVENT_TIME] = at
    return out


class WafParser:
    """Parses one WAF log object (JSON lines, usually gzipped); iterate for ``ParsedBlock``s, then read ``counts``.

    Each physical line is a line of the conservation counts: a row, a reject with its reason, or a blank line
    skipped.
    """

    def __init__(self, fileobj: Readable, *, rows_per_batch: int = 10_000, max_line_bytes: int = 8 << 20) -> None:
        self._fileobj = fileobj
        self.rows_per_batch = rows_per_batch
        self.max_line_bytes = max_line_bytes
        self.counts = Counts()

    def close(self) -> None:
        """Nothing to stop: the object is read on the calling thread."""

    def __iter__(self) -> Iterator[ParsedBlock]:
        rows: list[dict[str, object]] = []
        rejects: list[Rejected] = []
        skipped: Counter[str] = Counter()
        lines = _physical_lines(open_decompressed(self._fileobj), self.max_line_bytes)
        for number, raw in enumerate(lines, start=1):
            reason = None
            if raw is None:
                rejects.append(Rejected(number, f"line longer than {self.max_line_bytes} bytes", b""))
            elif not raw.strip():
                skipped["blank line"] += 1
            else:
                try:
                    rows.append(row(json.loads(raw.decode("utf-8"))))
                except UnicodeDecodeError:
                    reason = "invalid UTF-8"
                except json.JSONDecodeError as err:
                    reason = f"record is not valid JSON: {err}"
                except RecordError as err:
                    reason = str(err)
                if reason is not None:
                    rejects.append(Rejected(number, reason, raw))
            if len(rows) + len(rejects) >= self.rows_per_batch:
                yield self._emit(rows, rejects, skipped)
                rows, rejects, skipped = [], [], Counter()
        if rows or rejects or skipped:
            yield self._emit(rows, rejects, skipped)

    def _emit(self, rows: list[dict[str, object]], rejects: list[Rejected], skipped: Counter[str]) -> ParsedBlock:
        table = pa.Table.from_pylist(rows, schema=SCHEMA)
        block = ParsedBlock(table, rejects, skipped, lines=len(rows) + len(rejects) + skipped.total())
        self.counts.add(block)
        return block
