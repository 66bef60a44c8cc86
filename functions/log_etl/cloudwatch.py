"""CloudWatch Logs subscription payloads delivered to S3 by Amazon Data Firehose.

A subscription filter sends Firehose one record per payload, ``gzip(JSON)``; Firehose writes the records to S3 one
after the other, with no separator, and gzips the whole object again when its S3 compression is GZIP. With
Firehose's decompression switched on, the records are the payloads' JSON, concatenated (or newline-delimited).
So an object is gzip members or JSON text, and gzip members hold gzip members or JSON text: each member is
inflated on its own (``zlib`` stops at a member's end), so one corrupt payload is rejected alone, and the JSON
objects of a text are read one after the other with a raw decoder, as the concatenation has no separator.

A payload is ``{"messageType", "owner", "logGroup", "logStream", "subscriptionFilters", "logEvents": [{"id",
"timestamp", "message"}]}``. Each log event becomes a row with its payload's fields; a ``CONTROL_MESSAGE``
(CloudWatch Logs checking that the destination is reachable) is skipped with that reason. In the conservation
counts a "line" is a log event, or a payload that is skipped or rejected as a whole; the line number of a
reject is its payload's number in the object (an event's reason names the event's index too).
"""

from __future__ import annotations

import codecs
import itertools
import json
import re
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from functions.log_etl.formats import EVENT_TIME, EXTRA_FIELDS, TIMESTAMP
from functions.log_etl.stream import (
    GZIP_MAGIC,
    Counts,
    LogParseError,
    ParsedBlock,
    Readable,
    Rejected,
    json_kind,
)

SCHEMA = pa.schema(
    [
        ("owner", pa.string()),
        ("log_group", pa.string()),
        ("log_stream", pa.string()),
        ("subscription_filters", pa.list_(pa.string())),
        ("policy_level", pa.string()),
        ("id", pa.string()),
        ("timestamp", TIMESTAMP),
        ("message", pa.string()),
        (EXTRA_FIELDS, pa.string()),  # JSON object: payload keys not above, and "logEvent.<key>" of an event's
        (EVENT_TIME, TIMESTAMP),
    ]
)
PAYLOAD_KEYS = frozenset(
    {"messageType", "owner", "logGroup", "logStream", "subscriptionFilters", "logEvents", "policyLevel"}
)
EVENT_KEYS = frozenset({"id", "timestamp", "message"})
CONTROL_MESSAGE = "CloudWatch Logs CONTROL_MESSAGE (destination check, no log events)"
NO_EVENTS = "DATA_MESSAGE without log events"
_READ = 1 << 20
_MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PAYLOAD_START = re.compile(r'\{\s*"messageType"\s*:')


class PayloadError(Exception):
    """A payload or log event that cannot become rows; the message is the quarantine reason."""


def _string(record: dict[str, object], name: str, *, required: bool = True) -> str | None:
    value = record.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise PayloadError(f"field {name}: expected a string, got {json_kind(value)}")
    return value


def _payload_fields(payload: object) -> tuple[list[object], dict[str, object], list[object]]:
    """(the payload's columns, its unknown keys, its log events); PayloadError for a payload that is not one."""
    if not isinstance(payload, dict):
        raise PayloadError(f"payload is {json_kind(payload)}, not a JSON object")
    kind = payload.get("messageType")
    if kind != "DATA_MESSAGE":
        shown = repr(kind)[:40] if kind is not None else "missing"
        raise PayloadError(f"field messageType: {shown}, not DATA_MESSAGE or CONTROL_MESSAGE")
    filters = payload.get("subscriptionFilters")
    if not isinstance(filters, list) or not all(isinstance(f, str) for f in filters):
        raise PayloadError("field subscriptionFilters: expected an array of strings")
    events = payload.get("logEvents")
    if not isinstance(events, list):
        raise PayloadError(f"field logEvents: expected an array, got {json_kind(events)}")
    columns: list[object] = [
        _string(payload, "owner"),
        _string(payload, "logGroup"),
        _string(payload, "logStream"),
        filters,
        _string(payload, "policyLevel", required=False),
    ]
    extra = {k: v for k, v in payload.items() if k not in PAYLOAD_KEYS}
    return columns, extra, events


def _event_row(event: object, columns: list[object], extra: dict[str, object]) -> list[object]:
    if not isinstance(event, dict):
        raise PayloadError(f"log event is {json_kind(event)}, not a JSON object")
    ms = event.get("timestamp")
    if not isinstance(ms, int) or isinstance(ms, bool):
        raise PayloadError(f"field timestamp: expected an integer (epoch milliseconds), got {json_kind(ms)}")
    if not 0 <= ms <= _MAX_MS:
        raise PayloadError(f"field timestamp: {ms} is out of range")
    at = _EPOCH + timedelta(milliseconds=ms)
    row_extra = extra | {f"logEvent.{k}": v for k, v in event.items() if k not in EVENT_KEYS}
    text = json.dumps(row_extra, separators=(",", ":"), sort_keys=True) if row_extra else None
    return [*columns, _string(event, "id"), at, _string(event, "message"), text, at]


@dataclass(frozen=True)
class _Entry:
    """One payload (``payload``) or a stretch of bytes that is none (``reject``), with its number and raw bytes."""

    number: int
    raw: bytes
    payload: object = None
    reject: str | None = None


class CloudWatchLogsParser:
    """Parses one object of Firehose-delivered CloudWatch Logs payloads; iterate for ``ParsedBlock``s."""

    def __init__(self, fileobj: Readable, *, rows_per_batch: int = 10_000, max_payload_bytes: int = 16 << 20) -> None:
        self._fileobj = fileobj
        self.rows_per_batch = rows_per_batch
        self.max_payload_bytes = max_payload_bytes
        self.counts = Counts()

    def close(self) -> None:
        """Nothing to stop: the object is read on the calling thread."""

    def __iter__(self) -> Iterator[ParsedBlock]:
        rows: list[list[object]] = []
        rejects: list[Rejected] = []
        skipped: Counter[str] = Counter()
        for entry in self._entries():
            if entry.reject is not None:
                rejects.append(Rejected(entry.number, entry.reject, entry.raw))
            else:
                self._payload(entry, rows, rejects, skipped)
            if len(rows) + len(rejects) >= self.rows_per_batch:
                yield self._emit(rows, rejects, skipped)
                rows, rejects, skipped = [], [], Counter()
        if rows or rejects or skipped:
            yield self._emit(rows, rejects, skipped)

    def _payload(self, entry: _Entry, rows: list[list[object]], rejects: list[Rejected], skipped: Counter[str]) -> None:
        payload = entry.payload
        if isinstance(payload, dict) and payload.get("messageType") == "CONTROL_MESSAGE":
            skipped[CONTROL_MESSAGE] += 1
            return
        try:
            columns, extra, events = _payload_fields(payload)
        except PayloadError as err:
            rejects.append(Rejected(entry.number, str(err), entry.raw))
            return
        if not events:
            skipped[NO_EVENTS] += 1
            return
        for index, event in enumerate(events, start=1):
            try:
                rows.append(_event_row(event, columns, extra))
            except PayloadError as err:
                raw = json.dumps(event, ensure_ascii=False).encode("utf-8")
                rejects.append(Rejected(entry.number, f"log event {index}: {err}", raw))

    def _emit(self, rows: list[list[object]], rejects: list[Rejected], skipped: Counter[str]) -> ParsedBlock:
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in SCHEMA]
        table = pa.table([pa.array(c, type=f.type) for c, f in zip(columns, SCHEMA, strict=True)], schema=SCHEMA)
        block = ParsedBlock(table, rejects, skipped, lines=len(rows) + len(rejects) + skipped.total())
        self.counts.add(block)
        return block

    def _entries(self) -> Iterator[_Entry]:
        number = 0
        for segment in _segments(self._fileobj):
            for entry in _json_objects(segment, self.max_payload_bytes):
                number += 1
                yield _Entry(number, *entry)


class _GzipMembers:
    """The gzip members of a stream, each as an iterator of its inflated bytes (pieces of at most 1 MiB).

    ``zlib`` stops at a member's end, which Python's ``gzip`` and pyarrow hide: the boundary is a payload's.
    """

    def __init__(self, stream: Readable, head: bytes = b"") -> None:
        self._stream = stream
        self._data = head

    def __iter__(self) -> Iterator[Iterator[bytes]]:
        while True:
            if not self._data:
                self._data = self._stream.read(_READ)
                if not self._data:
                    return
            member = self._member()
            yield member
            for _ in member:  # what the caller left of it (the rest of a rejected member)
                pass

    def _member(self) -> Iterator[bytes]:
        inflater = zlib.decompressobj(wbits=31)
        while True:
            try:
                out = inflater.decompress(self._data, _READ)
            except zlib.error as err:
                raise LogParseError(f"corrupt gzip data: {err}") from err
            self._data = inflater.unconsumed_tail
            if out:
                yield out
            if inflater.eof:
                self._data = inflater.unused_data + self._data
                return
            if not self._data:
                self._data = self._stream.read(_READ)
                if not self._data:
                    raise LogParseError("gzip stream is truncated")


class _Pieces:
    """A byte stream over an iterator of byte pieces."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self._pieces = pieces
        self._buffer = b""

    def read(self, size: int) -> bytes:
        if not self._buffer:
            self._buffer = next(self._pieces, b"")
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out


def _rest(raw: Readable) -> Iterator[bytes]:
    while piece := raw.read(_READ):
        yield piece


def _segments(raw: Readable) -> Iterator[Iterator[bytes]]:
    """Stretches of JSON text: each innermost gzip member, or the whole object when it is not gzipped.

    Firehose writes gzip members (one per payload) or JSON; its S3 compression may gzip either once more.
    """
    head = raw.read(2)
    if head != GZIP_MAGIC:
        yield itertools.chain([head], _rest(raw))
        return
    outer = iter(_GzipMembers(raw, head))
    first = next(outer, None)
    if first is None:
        return
    start = next(first, b"")
    if start[:2] != GZIP_MAGIC:
        yield itertools.chain([start], first)
        yield from outer
        return

    # An outer gzip around the records' own gzip members: the outer members are one stream of inner members.
    def inner_bytes() -> Iterator[bytes]:
        yield start
        yield from first
        for member in outer:
            yield from member

    yield from _GzipMembers(_Pieces(inner_bytes()))


_SPACE = re.compile(r"\s*")


class _BadText(Exception):
    pass


def _json_objects(segment: Iterator[bytes], max_chars: int) -> Iterator[tuple[bytes, object, str | None]]:
    """(raw, value, reject reason) for each JSON value of ``segment``, concatenated with or without whitespace.

    Text that is not valid JSON is rejected up to the next payload start (``{"messageType":``) or the segment's
    end, so the payloads after it are still read; text that is not UTF-8 is rejected with the rest of the segment.
    """
    decoder = json.JSONDecoder()
    utf8 = codecs.getincrementaldecoder("utf-8")()
    text, pos, eof = "", 0, False

    def fill() -> None:
        nonlocal text, pos, eof
        piece = next(segment, b"")
        eof = not piece
        try:
            text = text[pos:] + utf8.decode(piece, final=eof)
        except UnicodeDecodeError as err:
            raise _BadText(f"not UTF-8: {err}") from err
        pos = 0

    try:
        fill()
        while True:
            pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]  # matches the empty string
            if pos >= len(text):
                if eof:
                    return
                fill()
                continue
            try:
                value, end = decoder.raw_decode(text, pos)
            except json.JSONDecodeError as err:
                if not eof and len(text) - pos <= max_chars:
                    fill()  # the value may go on in the next piece
                    continue
                found = _PAYLOAD_START.search(text, pos + 1)
                stop = found.start() if found else len(text)
                if found is None and not eof:
                    reason = f"payload longer than {max_chars} characters, or not valid JSON"
                else:
                    reason = f"payload is not valid JSON: {err.msg} (character {err.pos - pos})"
                yield text[pos:stop].encode("utf-8")[:max_chars], None, reason
                pos = stop
                if found is None and not eof:
                    for _ in segment:  # the rest of the oversized value: part of the reject
                        pass
                    return
                continue
            yield text[pos:end].encode("utf-8"), value, None
            pos = end
    except _BadText as err:
        yield text[pos:].encode("utf-8")[:max_chars], None, f"payload is {err}"
