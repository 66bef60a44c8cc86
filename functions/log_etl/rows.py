"""Line-by-line parsing for the lines the vectorised reader cannot take, and the shared column finishing."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.compute as pc

from functions.log_etl.formats import EVENT_TIME, EXTRA_FIELDS, TIMESTAMP, EventTime, Kind, Layout, LogFormat

EXTRA_TYPE = pa.list_(pa.string())
_INT = re.compile(r"[+-]?\d{1,19}")
_HOSTPORT_RE = re.compile(r"\[?(.*?)\]?:(\d{1,9})")
_CLOCK = re.compile(r"\d{2}:\d{2}:\d{2}")
_UTC_SECONDS = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}"
_UTC_SECONDS_FORMAT = "%Y-%m-%dT%H:%M:%S"
_INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1


class FieldError(ValueError):
    """A token that does not fit its field; the message is the quarantine reason."""


class MalformedQuoting(FieldError):
    """A line of a quoted format whose quotes do not delimit fields; ``token`` is the 0-based index of the field."""

    def __init__(self, token: int, problem: str) -> None:
        super().__init__(f"malformed quoting: {problem}")
        self.token = token


@dataclass(frozen=True)
class _QuotedGrammar:
    """The fields of a quoted format's line: bare (no quote, no delimiter) or ``"..."`` followed by the delimiter.

    Possessive quantifiers keep matching linear; ``line`` matches as far as the line is well formed.
    """

    delimiter: str
    line: re.Pattern[str]
    token: re.Pattern[str]

    @classmethod
    def of(cls, delimiter: str) -> _QuotedGrammar:
        d = re.escape(delimiter)
        return cls(
            delimiter,
            re.compile(rf'{d}*+(?:(?:"[^"]*+"|[^"{d}]++)(?:{d}++|\Z))*+'),
            re.compile(rf'"([^"]*)"|([^"{d}]+)'),
        )

    def tokens(self, line: str) -> list[str]:
        end = self.line.match(line).end()  # type: ignore[union-attr]  # the pattern matches the empty string
        if end == len(line):
            return [m.group(1) if m.group(1) is not None else m.group(2) for m in self.token.finditer(line)]
        index = sum(1 for _ in self.token.finditer(line, 0, end))
        if line[end] != '"':
            raise MalformedQuoting(index, "quote inside an unquoted field")
        if line.find('"', end + 1) < 0:
            raise MalformedQuoting(index, "no closing quote")
        name = "a space" if self.delimiter == " " else f"the delimiter {self.delimiter!r}"
        raise MalformedQuoting(index, f"closing quote not followed by {name}")


_GRAMMARS: dict[str, _QuotedGrammar] = {}


def tokenize(line: str, fmt: LogFormat) -> list[str]:
    """Split one line into raw tokens (quotes removed), tolerating repeated delimiters.

    Raises ``MalformedQuoting`` for a line of a quoted format whose quotes do not delimit fields.
    """
    if not fmt.quoted:
        return line.split("\t") if fmt.delimiter == "\t" else line.split()
    grammar = _GRAMMARS.get(fmt.delimiter)
    if grammar is None:
        grammar = _GRAMMARS[fmt.delimiter] = _QuotedGrammar.of(fmt.delimiter)
    return grammar.tokens(line)


def parse_line(line: str, layout: Layout, fmt: LogFormat) -> tuple[list[object], list[str] | None]:
    """:func:`tokenize` then :func:`convert`; a quoting problem is reported with the name of its field."""
    try:
        tokens = tokenize(line, fmt)
    except MalformedQuoting as err:
        name = layout.fields[err.token].name if err.token < len(layout.fields) else str(err.token + 1)
        raise FieldError(f"field {name}: {err}") from None
    return convert(tokens, layout, fmt)


def _int(value: str, limit: int) -> int:
    if not _INT.fullmatch(value):
        raise FieldError(f"not an integer: {value[:40]!r}")
    number = int(value)
    if not -limit - 1 <= number <= limit:
        raise FieldError(f"integer out of range: {value[:40]!r}")
    return number


def _float(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise FieldError(f"not a number: {value[:40]!r}") from None


def _iso(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise FieldError(f"not an ISO 8601 timestamp: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        raise FieldError(f"timestamp without time zone: {value[:40]!r}")
    return parsed.astimezone(UTC)


def _check(pattern: re.Pattern[str], what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise FieldError(f"not {what}: {value[:40]!r}")
        return value

    return check


def _utc_seconds(value: str) -> str:
    # Kept as the string the fast reader reads too; finish() converts both paths' columns the same way.
    if not re.fullmatch(_UTC_SECONDS, value):
        raise FieldError(f"not a time YYYY-MM-DDTHH:MM:SS: {value[:40]!r}")
    try:
        datetime.strptime(value, _UTC_SECONDS_FORMAT)
    except ValueError:
        raise FieldError(f"not a time YYYY-MM-DDTHH:MM:SS: {value[:40]!r}") from None
    return value


def _date(value: str) -> str:
    try:
        date.fromisoformat(value)
    except ValueError:
        raise FieldError(f"not a date: {value[:40]!r}") from None
    return value


CONVERTERS: dict[Kind, Callable[[str], object]] = {
    Kind.STR: str,
    Kind.INT32: lambda v: _int(v, _INT32_MAX),
    Kind.INT64: lambda v: _int(v, _INT64_MAX),
    Kind.FLOAT64: _float,
    Kind.ISO_TS: _iso,
    Kind.UTC_SECONDS: _utc_seconds,
    Kind.HOSTPORT: _check(_HOSTPORT_RE, "host:port"),
    Kind.S3_TIME: _check(re.compile(r"\[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2}"), "an S3 time"),
    Kind.S3_TZ: _check(re.compile(r"[+-]\d{4}\]"), "an S3 time zone"),
    Kind.DATE: _date,
    Kind.CLOCK: _check(_CLOCK, "a time of day"),
}


def _check_event_time(values: dict[str, object], fmt: LogFormat) -> None:
    present = [values.get(n) for n in fmt.event_time_fields]
    if fmt.event_time is EventTime.EPOCH_START:
        if all(v is None for v in present):
            raise FieldError("no event time: start and end are both missing")
        return
    if any(v is None for v in present):
        raise FieldError(f"no event time: {'/'.join(fmt.event_time_fields)} missing")
    if fmt.event_time is EventTime.S3_BRACKETED:
        try:
            datetime.strptime(f"{present[0]} {present[1]}", "[%d/%b/%Y:%H:%M:%S %z]")
        except ValueError:
            raise FieldError(f"not an S3 time: {present[0]} {present[1]}") from None
    elif fmt.event_time is EventTime.DATE_AND_CLOCK:
        try:
            datetime.strptime(f"{present[0]}T{present[1]}", "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            raise FieldError(f"not a date and time: {present[0]} {present[1]}") from None


def convert(tokens: Sequence[str], layout: Layout, fmt: LogFormat) -> tuple[list[object], list[str] | None]:
    """Typed values for the known fields (None when missing) and the raw extra trailing tokens.

    Raises ``FieldError`` with the quarantine reason when the line does not fit the layout.
    """
    fields = layout.fields
    of = f" of {layout.origin}" if layout.origin else ""
    if len(tokens) < layout.min_fields:
        raise FieldError(f"too few fields: {len(tokens)} < {layout.min_fields}{of}")
    if layout.max_fields is not None and len(tokens) > layout.max_fields:
        raise FieldError(f"too many fields: {len(tokens)} > {layout.max_fields}{of}")
    if fmt.versioned is not None:
        index = layout.names.index(fmt.versioned.field)
        need = fmt.versioned.min_fields.get(tokens[index]) if index < len(tokens) else None
        if need is not None and len(tokens) < need:
            raise FieldError(f"too few fields for version {tokens[index]}: {len(tokens)} < {need}")
    values: list[object] = []
    for spec, token in zip(fields, tokens, strict=False):
        if spec.values is not None and token not in spec.values:
            raise FieldError(f"field {spec.name}: {token[:40]!r} is not one of {', '.join(sorted(spec.values))}")
        if token == "-":
            values.append(None)
            continue
        try:
            values.append(CONVERTERS[spec.kind](token))
        except FieldError as err:
            raise FieldError(f"field {spec.name}: {err}") from None
    values.extend([None] * (len(fields) - len(values)))
    _check_event_time(dict(zip(layout.names, values, strict=True)), fmt)
    extra = list(tokens[len(fields) :]) or None
    return values, extra


@dataclass
class RowBuffer:
    """Typed rows collected line by line, turned into a token table (known columns + extra_fields)."""

    layout: Layout
    columns: list[list[object]] = field(init=False)
    extras: list[list[str] | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.columns = [[] for _ in self.layout.fields]

    def __len__(self) -> int:
        return len(self.extras)

    def append(self, values: Sequence[object], extra: list[str] | None) -> None:
        for column, value in zip(self.columns, values, strict=True):
            column.append(value)
        self.extras.append(extra)

    def to_table(self) -> pa.Table:
        arrays = [
            pa.array(col, type=spec.kind.read_type) for col, spec in zip(self.columns, self.layout.fields, strict=True)
        ]
        arrays.append(pa.array(self.extras, type=EXTRA_TYPE))
        return pa.table(arrays, names=[*self.layout.names, EXTRA_FIELDS])


def _split_hostport(column: pa.ChunkedArray) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    # Split at the last colon (IPv6 addresses hold colons too); a value without one makes list_element
    # raise, which sends the block line by line where the value is rejected with a reason.
    parts = pc.split_pattern(column, ":", max_splits=1, reverse=True)
    ip = pc.utf8_trim(pc.list_element(parts, 0), "[]")
    port = pc.list_element(parts, 1).cast(pa.int32())
    return ip, port


def _utc_seconds_column(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Strings YYYY-MM-DDTHH:MM:SS (UTC) -> timestamps; NeedsLineByLine when a value is not exactly that."""
    if column.type == TIMESTAMP:
        return column
    try:  # Arrow's strptime wants every digit and nothing after the seconds (Python's takes 2020-4-1T8:51:42)
        return pc.strptime(column, format=_UTC_SECONDS_FORMAT, unit="us").cast(TIMESTAMP)
    except pa.ArrowInvalid as err:
        raise NeedsLineByLine(str(err)) from err


def _event_time(table: pa.Table, fmt: LogFormat) -> pa.ChunkedArray:
    if fmt.event_time is EventTime.ISO_COLUMN:
        return _utc_seconds_column(table.column(fmt.event_time_fields[0]))
    if fmt.event_time is EventTime.S3_BRACKETED:
        text = pc.binary_join_element_wise(table.column("time"), table.column("time_offset"), " ")
        return pc.strptime(text, format="[%d/%b/%Y:%H:%M:%S %z]", unit="us")
    if fmt.event_time is EventTime.EPOCH_START:
        names = [n for n in fmt.event_time_fields if n in table.column_names]
        if not names:
            return pa.chunked_array([pa.nulls(table.num_rows, TIMESTAMP)])
        seconds = pc.coalesce(*(table.column(n) for n in names))
        return pc.multiply(seconds.cast(pa.int64()), 1_000_000).cast(TIMESTAMP)
    text = pc.binary_join_element_wise(table.column("date"), table.column("time"), "T")
    return pc.strptime(text, format="%Y-%m-%dT%H:%M:%S", unit="us").cast(TIMESTAMP)


class NeedsLineByLine(Exception):
    """The vectorised result cannot be trusted for this block; parse it line by line instead."""


def finish(tokens: pa.Table, layout: Layout, fmt: LogFormat) -> pa.Table:
    """Token table -> output table: host:port split, typed times, event_time appended.

    Raises ``NeedsLineByLine`` when some row would come out with a value the line-by-line check rejects.
    """
    names: list[str] = []
    arrays: list[pa.ChunkedArray] = []
    for spec in layout.fields:
        column = tokens.column(spec.name)
        if spec.values is not None:
            allowed = pc.is_in(column, value_set=pa.array(sorted(spec.values), column.type))  # null: not allowed
            if not pc.all(allowed, min_count=0).as_py():
                raise NeedsLineByLine(f"field {spec.name}: a value that is not one of its documented values")
        if spec.kind is Kind.HOSTPORT:
            ip, port = _split_hostport(column)
            names += [f"{spec.name}_ip", f"{spec.name}_port"]
            arrays += [ip, port]
        elif spec.kind is Kind.S3_TZ:
            continue
        elif spec.kind is Kind.S3_TIME:
            names.append(spec.name)
            arrays.append(pa.chunked_array([], TIMESTAMP))  # filled below from event_time
        elif spec.kind is Kind.UTC_SECONDS:
            names.append(spec.name)
            arrays.append(_utc_seconds_column(column))
        elif spec.kind is Kind.DATE:
            names.append(spec.name)
            arrays.append(pc.strptime(column, format="%Y-%m-%d", unit="s").cast(pa.date32()))
        else:
            names.append(spec.name)
            arrays.append(column)
    try:
        event_time = _event_time(tokens, fmt)
    except pa.ArrowInvalid as err:
        raise NeedsLineByLine(str(err)) from err
    if event_time.null_count:
        raise NeedsLineByLine("rows without event time")
    if fmt.event_time is EventTime.S3_BRACKETED:
        arrays[names.index("time")] = event_time
    names += [EXTRA_FIELDS, EVENT_TIME]
    arrays += [tokens.column(EXTRA_FIELDS), event_time]
    return pa.table(arrays, names=names)
