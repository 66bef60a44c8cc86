"""Streaming reader for CloudTrail log files: ``{"Records": [ {...}, ... ]}``, usually gzipped.

Records are decoded one at a time from a bounded buffer, so memory follows the largest record, not the file.
A "line" in the conservation counts is one record; an object that is not a log file (a digest, any other
JSON document) counts as one skipped line.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
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
        skipped = 0
        for number, raw, record in self._records():
            if raw is None:
                skipped += 1
                continue
            try:
                rows.append(_row(record))
            except RecordError as err:
                rejects.append(Rejected(number, str(err), raw))
            if len(rows) + len(rejects) >= self.rows_per_batch:
                yield self._emit(rows, rejects, 0)
                rows, rejects = [], []
        if rows or rejects or skipped:
            yield self._emit(rows, rejects, skipped)

    def close(self) -> None:
        """Nothing to stop: the object is read on the calling thread."""

    def _emit(self, rows: list[list[object]], rejects: list[Rejected], skipped: int) -> ParsedBlock:
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in SCHEMA]
        table = pa.table([pa.array(c, type=f.type) for c, f in zip(columns, SCHEMA, strict=True)], schema=SCHEMA)
        block = ParsedBlock(table, rejects, skipped, lines=len(rows) + len(rejects) + skipped)
        self.counts.add(block)
        return block

    def _records(self) -> Iterator[tuple[int, bytes | None, object]]:
        """(record number, raw bytes, decoded record); raw is None for a non-log object (skip)."""
        reader = _TextReader(open_decompressed(self._fileobj))
        if not reader.fill(1 << 16).strip():
            return
        start = _RECORDS_START.match(reader.text)
        if start is None:
            yield 1, None, None
            return
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
            yield number, reader.text[reader.pos : end].encode("utf-8"), record
            reader.pos = end
            separator = reader.peek()
            if separator == ",":
                reader.pos += 1
            elif separator != "]":
                raise LogParseError(f"CloudTrail file is malformed after record {number}")


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
