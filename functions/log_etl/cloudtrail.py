"""Streaming reader for CloudTrail log files, usually gzipped.

Two layouts hold CloudTrail events:

* the log files CloudTrail delivers, one JSON document ``{"Records": [ {...}, ... ]}``: records are decoded one
  at a time from a bounded buffer, so memory follows the largest record, not the file; a "line" in the
  conservation counts is one record, and a record that is not valid JSON makes the object unreadable (the rest
  of the document cannot be found);
* events one JSON object per line (exports of CloudTrail Lake and other tools): each physical line is a line;
  a line that is not a valid event is rejected alone, with its reason; blank lines are skipped.

A digest file is skipped as one line, with that reason. Any other document is not CloudTrail: the object is
unreadable (``LogParseError``), quarantined whole with the reason.
"""

from __future__ import annotations

import codecs
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa

from functions.log_etl.formats import EVENT_TIME, EXTRA_FIELDS, TIMESTAMP
from functions.log_etl.stream import Counts, LogParseError, ParsedBlock, Readable, Rejected, open_decompressed

# Top-level record fields from the CloudTrail record-contents reference, in its order. Scalars keep their
# type; objects and arrays (free-form per service) are stored as JSON text.
STRING_FIELDS = (
    "eventVersion",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "errorCode",
    "errorMessage",
    "requestID",
    "eventID",
    "eventType",
    "apiVersion",
    "recipientAccountId",
    "sharedEventID",
    "vpcEndpointId",
    "eventCategory",
    "sessionCredentialFromConsole",
)
BOOL_FIELDS = ("managementEvent", "readOnly")
JSON_FIELDS = (
    "userIdentity",
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "resources",
    "serviceEventDetails",
    "addendum",
    "edgeDeviceDetails",
    "tlsDetails",
    "insightDetails",
)
KNOWN = frozenset({"eventTime", *STRING_FIELDS, *BOOL_FIELDS, *JSON_FIELDS})
SCHEMA = pa.schema(
    [
        ("eventTime", TIMESTAMP),
        *((name, pa.string()) for name in STRING_FIELDS),
        *((name, pa.bool_()) for name in BOOL_FIELDS),
        *((name, pa.string()) for name in JSON_FIELDS),
        (EXTRA_FIELDS, pa.string()),  # JSON object of the top-level keys not listed above
        (EVENT_TIME, TIMESTAMP),
    ]
)
_RECORDS_START = re.compile(r'\s*\{\s*"Records"\s*:\s*\[\s*')


def _to_json(value: object) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), sort_keys=True)


class RecordError(Exception):
    """A record that cannot become a row; the message is the quarantine reason."""


def _row(record: object) -> list[object]:
    if not isinstance(record, dict):
        raise RecordError("record is not a JSON object")
    raw_time = record.get("eventTime")
    if not isinstance(raw_time, str):
        raise RecordError("eventTime missing")
    try:
        event_time = datetime.fromisoformat(raw_time)
    except ValueError:
        raise RecordError(f"eventTime not ISO 8601: {raw_time[:40]!r}") from None
    if event_time.tzinfo is None:
        event_time = event_time.replace(tzinfo=UTC)
    row: list[object] = [event_time]
    for name in STRING_FIELDS:
        value = record.get(name)
        row.append(None if value is None else value if isinstance(value, str) else _to_json(value))
    for name in BOOL_FIELDS:
        value = record.get(name)
        row.append(value if isinstance(value, bool) or value is None else str(value).lower() == "true")
    row += [_to_json(record.get(name)) for name in JSON_FIELDS]
    extra = {k: v for k, v in record.items() if k not in KNOWN}
    row += [_to_json(extra) if extra else None, event_time]
    return row


@dataclass(frozen=True)
class _Entry:
    """One record (``record``), a line to reject (``reject``) or to skip (``skip``), with its number and bytes."""

    number: int
    raw: bytes
    record: object = None
    reject: str | None = None
    skip: str | None = None


class CloudTrailParser:
    """Parses one CloudTrail object; iterate for ``ParsedBlock``s, then read ``counts``."""

    def __init__(self, fileobj: Readable, *, rows_per_batch: int = 10_000, max_record_chars: int = 64 << 20) -> None:
        self._fileobj = fileobj
        self.rows_per_batch = rows_per_batch
        self.max_record_chars = max_record_chars
        self.counts = Counts()

    def __iter__(self) -> Iterator[ParsedBlock]:
        rows: list[list[object]] = []
        rejects: list[Rejected] = []
        skipped: Counter[str] = Counter()
        for entry in self._entries():
            if entry.skip is not None:
                skipped[entry.skip] += 1
                continue
            if entry.reject is not None:
                rejects.append(Rejected(entry.number, entry.reject, entry.raw))
            else:
                try:
                    rows.append(_row(entry.record))
                except RecordError as err:
                    rejects.append(Rejected(entry.number, str(err), entry.raw))
            if len(rows) + len(rejects) >= self.rows_per_batch:
                yield self._emit(rows, rejects, skipped)
                rows, rejects, skipped = [], [], Counter()
        if rows or rejects or skipped:
            yield self._emit(rows, rejects, skipped)

    def close(self) -> None:
        """Nothing to stop: the object is read on the calling thread."""

    def _emit(self, rows: list[list[object]], rejects: list[Rejected], skipped: Counter[str]) -> ParsedBlock:
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in SCHEMA]
        table = pa.table([pa.array(c, type=f.type) for c, f in zip(columns, SCHEMA, strict=True)], schema=SCHEMA)
        block = ParsedBlock(table, rejects, skipped, lines=len(rows) + len(rejects) + skipped.total())
        self.counts.add(block)
        return block

    def _entries(self) -> Iterator[_Entry]:
        stream = open_decompressed(self._fileobj)
        head = _read_up_to(stream, _HEAD_BYTES)
        text = head.decode("utf-8", "replace")
        if not text.strip():
            return
        rest = _Chained(head, stream)
        if _RECORDS_START.match(text):
            yield from self._records(rest)
        elif _is_digest(text):
            yield _Entry(1, b"", skip="CloudTrail digest file")
        elif _is_event_line(text):
            yield from self._lines(rest)
        else:
            raise LogParseError(
                'not a CloudTrail log file: neither a {"Records": [...]} document nor events one JSON object per line'
            )

    def _records(self, stream: Readable) -> Iterator[_Entry]:
        """The records of a ``{"Records": [...]}`` document."""
        reader = _TextReader(stream)
        reader.fill(_HEAD_BYTES)
        start = _RECORDS_START.match(reader.text)
        if start is None:
            raise LogParseError("CloudTrail file does not start with a Records array")
        reader.pos = start.end()
        decoder = json.JSONDecoder()
        number = 0
        while True:
            if reader.peek() in ("]", ""):
                if reader.peek() == "":
                    raise LogParseError(f"CloudTrail file ends inside the Records array after record {number}")
                return
            number += 1
            while True:
                try:
                    record, end = decoder.raw_decode(reader.text, reader.pos)
                    break
                except json.JSONDecodeError as err:
                    if reader.eof:
                        raise LogParseError(f"CloudTrail record {number} is not valid JSON: {err}") from err
                    if len(reader.text) - reader.pos > self.max_record_chars:
                        raise LogParseError(
                            f"CloudTrail record {number} exceeds {self.max_record_chars} chars"
                        ) from err
                    reader.fill(1 << 20)
            yield _Entry(number, reader.text[reader.pos : end].encode("utf-8"), record)
            reader.pos = end
            separator = reader.peek()
            if separator == ",":
                reader.pos += 1
            elif separator != "]":
                raise LogParseError(f"CloudTrail file is malformed after record {number}")

    def _lines(self, stream: Readable) -> Iterator[_Entry]:
        """Events one JSON object per line; each line is read, rejected or skipped on its own."""
        for number, raw in enumerate(_physical_lines(stream, self.max_record_chars), start=1):
            if raw is None:
                yield _Entry(number, b"", reject=f"record longer than {self.max_record_chars} bytes")
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                yield _Entry(number, raw, reject="invalid UTF-8")
                continue
            if not text.strip():
                yield _Entry(number, raw, skip="blank line")
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as err:
                yield _Entry(number, raw, reject=f"record is not valid JSON: {err}")
                continue
            yield _Entry(number, raw, record)


_HEAD_BYTES = 1 << 16
_DIGEST_KEY = re.compile(r'"digestStartTime"\s*:')
_EVENT_KEY = re.compile(r'"(?:eventTime|eventVersion)"\s*:')


def _is_digest(text: str) -> bool:
    """A CloudTrail digest file: one JSON object naming the digest's period (its first keys, so in the head)."""
    return text.lstrip().startswith("{") and _DIGEST_KEY.search(text) is not None


def _is_event_line(text: str) -> bool:
    """The first line (in ``text``, the object's head) is one CloudTrail event as a JSON object."""
    first = text.lstrip().split("\n", 1)[0]
    if not first.startswith("{") or _EVENT_KEY.search(first) is None:
        return False
    try:
        return isinstance(json.loads(first), dict)
    except json.JSONDecodeError:
        return False  # the head cut the line, or it is not JSON: decided by the line reader, not here


def _read_up_to(stream: Readable, size: int) -> bytes:
    parts, got = [], 0
    while got < size:
        piece = stream.read(size - got)
        if not piece:
            break
        parts.append(piece)
        got += len(piece)
    return b"".join(parts)


class _Chained:
    """``head`` then the rest of ``stream``."""

    def __init__(self, head: bytes, stream: Readable) -> None:
        self._head = head
        self._stream = stream

    def read(self, size: int) -> bytes:
        if self._head:
            head, self._head = self._head[:size], self._head[size:]
            return head
        return self._stream.read(size)


def _physical_lines(stream: Readable, max_bytes: int) -> Iterator[bytes | None]:
    """The lines of ``stream`` without their newline (``\r`` too); None for a line longer than ``max_bytes``."""
    pending = b""
    discarding = False  # inside a line already reported as too long
    while True:
        chunk = stream.read(1 << 20)
        if not chunk:
            break
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        for line in lines:
            if discarding:
                discarding = False
                continue
            yield None if len(line) > max_bytes else line.removesuffix(b"\r")
        if len(pending) > max_bytes:
            if not discarding:
                yield None
            pending, discarding = b"", True
    if pending and not discarding:
        yield None if len(pending) > max_bytes else pending.removesuffix(b"\r")


_BLANK = re.compile(r"\s*")


class _TextReader:
    """UTF-8 text over a byte stream, read on demand; ``pos`` is where reading stands in ``text``.

    Records are consumed by moving ``pos``, and the consumed text is dropped only when more is read, so each
    character is copied a bounded number of times (slicing the buffer after every record made it quadratic).
    """

    def __init__(self, stream: Readable) -> None:
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self.text = ""
        self.pos = 0
        self.eof = False

    def fill(self, size: int) -> str:
        data = self._stream.read(size)
        self.eof = not data
        try:
            self.text = self.text[self.pos :] + self._decoder.decode(data, final=self.eof)
        except UnicodeDecodeError as err:
            raise LogParseError(f"CloudTrail file is not UTF-8: {err}") from err
        self.pos = 0
        return self.text

    def peek(self) -> str:
        """First non-blank character at ``pos``, reading more when needed; empty at the end of the stream."""
        while True:
            match = _BLANK.match(self.text, self.pos)
            self.pos = match.end() if match else self.pos
            if self.pos < len(self.text) or self.eof:
                return self.text[self.pos : self.pos + 1]
            self.fill(1 << 20)
