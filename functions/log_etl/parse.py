"""Streaming, vectorised parser for the delimited AWS log formats (ALB, S3 access, VPC flow, CloudFront).

Blocks of whole lines go through pyarrow's CSV reader; lines it cannot take (wrong field count, a value that
does not convert, malformed quoting) go through ``rows.parse_line`` one by one, which parses or rejects them with
a reason. A block the reader fails on as a whole (a value that does not convert) is halved until the parts that
fail are small, so a bad line costs its neighbourhood, not its block. Reading, decompressing and the byte-level
checks of the next block run on a background thread while this one is parsed. Memory is bounded by a few
``block_size`` blocks plus ``max_line_bytes`` whatever the object size.

Quoting is checked before the CSV reader sees a block, because the reader is lenient where the formats are not: it
reads ``"a"b`` as ``ab`` and a quote inside a bare field as a character, so a line with a closing quote not
followed by the delimiter would load as a row whose fields are shifted or merged. Lines whose quotes do not
delimit fields are replaced by a one-field marker, so the reader hands them to the line-by-line parser, which
rejects them with the reason.
"""

from __future__ import annotations

import io
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from functions.log_etl.cloudtrail import CloudTrailParser
from functions.log_etl.cloudwatch import CloudWatchLogsParser
from functions.log_etl.formats import (
    CLOUDTRAIL,
    CLOUDWATCH_LOGS,
    DELIMITED_FORMATS,
    EXTRA_FIELDS,
    WAF,
    Layout,
    LogFormat,
)
from functions.log_etl.rows import EXTRA_TYPE, FieldError, NeedsLineByLine, RowBuffer, finish, parse_line, tokenize
from functions.log_etl.stream import Counts, ParsedBlock, Prefetch, Readable, Rejected, open_decompressed
from functions.log_etl.waf import WafParser

DEFAULT_BLOCK_SIZE = 4 << 20
DEFAULT_MAX_LINE_BYTES = 256 << 10
_EXTRA_SEP = "\x1f"
_MARKER = b"\x00"  # one field: stands in for a line with malformed quoting, which goes line by line
_LINE_BY_LINE_UP_TO = 64  # lines: a failed block this small goes line by line rather than being halved again
_BLANK = "blank line"
_QUOTE, _NEWLINE, _CR = ord('"'), ord("\n"), ord("\r")


@dataclass
class _Block:
    data: bytes
    first_line: int  # 1-based number of the block's first line in the object
    lines: int  # newline-terminated lines in data
    utf8: bool = False  # data is known to be valid UTF-8, so the CSV reader need not check each value
    isolated: _Block | None = None  # the block with its malformed-quoting lines replaced by markers
    stray: dict[int, bytes] = field(default_factory=dict)  # 0-based line index -> the line a marker replaced


@dataclass
class _Invalid:
    rows: list[int] = field(default_factory=list)  # 1-based row numbers among the block's non-empty lines
    texts: dict[int, str] = field(default_factory=dict)  # row number -> the row as the reader saw it

    def __call__(self, row: pacsv.InvalidRow) -> str:
        self.rows.append(row.number)
        self.texts[row.number] = row.text
        return "skip"


class DelimitedParser:
    """Parses one object; iterate for ``ParsedBlock``s, then read ``counts``.

    ``counts.balanced`` holds once iteration has finished: every line read is a row, a reject or a skip.
    Output rows keep file order within the fast path; lines parsed one by one follow the block they came from.
    """

    def __init__(
        self,
        fileobj: Readable,
        log_format: LogFormat | str,
        *,
        layout: Layout | None = None,
        block_size: int = DEFAULT_BLOCK_SIZE,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> None:
        self._fileobj = fileobj
        self.format = DELIMITED_FORMATS[log_format] if isinstance(log_format, str) else log_format
        self.layout = layout or self.format.default_layout  # a header line in the object replaces it
        self.block_size = block_size
        self.max_line_bytes = max_line_bytes
        self.counts = Counts()
        self._reader: Prefetch[tuple[_Block, list[Rejected], Counter[str]]] | None = None

    def __iter__(self) -> Iterator[ParsedBlock]:
        # Reading, decompressing and cutting blocks run on a background thread, a block ahead of the parsing.
        self._reader = Prefetch(self._prepared_blocks(), depth=1)
        try:
            for block, rejects, skipped in self._reader:
                parsed = self._parse_block(block)
                parsed.rejects[:0] = rejects
                parsed.skip_reasons.update(skipped)
                parsed.lines += len(rejects) + skipped.total()
                self.counts.add(parsed)
                if parsed.table.num_rows or parsed.rejects or parsed.skipped:
                    yield parsed
        finally:
            self.close()

    def close(self) -> None:
        """Stop reading the object (idempotent); call it before closing the object's stream."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _prepared_blocks(self) -> Iterator[tuple[_Block, list[Rejected], Counter[str]]]:
        """(block, lines rejected before it, leading lines skipped by reason); on the reading thread."""
        first = True
        for block, rejects in self._blocks(open_decompressed(self._fileobj)):
            skipped: Counter[str] = Counter()
            if first:
                block, skipped = self._leading_skips(block)
                first = False
            yield self._prepare(block), rejects, skipped

    def _prepare(self, block: _Block) -> _Block:
        """Byte-level checks of a block, done ahead on the reading thread: UTF-8 validity, quoting."""
        block.utf8 = _valid_utf8(block.data)
        if self.format.quoted:
            malformed = _malformed_quoting(block.data, ord(self.format.delimiter))
            if malformed:
                block.isolated = _isolate(block, malformed)
        return block

    def _blocks(self, stream: Readable) -> Iterator[tuple[_Block, list[Rejected]]]:
        line_no = 1
        pending = b""
        discarding = False  # inside a line already rejected as too long
        while True:
            chunk = stream.read(self.block_size)
            if not chunk:
                break
            rejects: list[Rejected] = []
            if discarding:
                cut = chunk.find(b"\n")
                if cut < 0:
                    continue
                chunk = chunk[cut + 1 :]
                discarding = False
            end = chunk.rfind(b"\n")  # pending holds no newline
            if end < 0:
                data = pending + chunk
                if len(data) > self.max_line_bytes:
                    rejects.append(self._too_long(line_no, data))
                    line_no += 1
                    pending, discarding = b"", True
                    yield _Block(b"", line_no, 0), rejects
                else:
                    pending = data
                continue
            data = b"".join((pending, memoryview(chunk)[: end + 1]))  # one copy of the block's bytes
            pending = chunk[end + 1 :]
            if len(pending) > self.max_line_bytes:
                rejects.append(self._too_long(-1, pending))
                pending, discarding = b"", True
            block = _Block(data, line_no, data.count(b"\n"))
            if rejects:
                rejects[0] = Rejected(line_no + block.lines, rejects[0].reason, rejects[0].raw)
            line_no += block.lines + len(rejects)
            yield block, rejects
        if pending:
            yield _Block(pending + b"\n", line_no, 1), []

    def _too_long(self, line_no: int, head: bytes) -> Rejected:
        return Rejected(line_no, f"line longer than {self.max_line_bytes} bytes", head[: self.max_line_bytes])

    def _leading_skips(self, block: _Block) -> tuple[_Block, Counter[str]]:
        """Drops header/test lines at the top of the object, counted by reason; a header may set the layout."""
        data, start, skipped = block.data, 0, Counter[str]()
        while start < len(data):
            end = data.find(b"\n", start)
            line = data[start:end].decode("utf-8", "replace").rstrip("\r")
            reason = self.format.is_skip_line(line) if line.strip() else _BLANK
            if reason is None:
                break
            header = self.format.layout_from_header(line)
            if header is not None:
                self.layout = header
            skipped[reason] += 1
            start = end + 1
        n = skipped.total()
        return _Block(data[start:], block.first_line + n, block.lines - n), skipped

    def _parse_block(self, block: _Block) -> ParsedBlock:
        n_lines = block.lines
        if not n_lines:
            return ParsedBlock(self._empty_table(), [], Counter(), lines=0)
        try:
            return self._fast(block.isolated or block, n_lines)
        except (NeedsLineByLine, pa.ArrowInvalid):
            pass
        halves = _halves(block) if n_lines > _LINE_BY_LINE_UP_TO else None
        if halves is None:
            return self._line_by_line(block.data.split(b"\n")[:-1], block.first_line, n_lines)
        # One value that does not convert fails the whole read: parse the halves on their own, so only a small
        # part around each bad line goes line by line; the halves' results follow each other in file order.
        parsed = self._parse_block(self._prepare(halves[0]))
        parsed.merge(self._parse_block(self._prepare(halves[1])))
        return parsed

    def _field_count(self, data: bytes) -> int:
        """Field count of the block's first data lines; lines with another count go line by line."""
        for raw in data[: 1 << 16].split(b"\n")[:-1][:8]:
            text = raw.decode("utf-8", "replace")
            try:
                tokens = tokenize(text, self.format)
            except FieldError:
                continue
            if len(tokens) >= self.layout.min_fields and self.format.is_skip_line(text) is None:
                return len(tokens)
        return len(self.layout.fields)

    def _fast(self, block: _Block, n_lines: int) -> ParsedBlock:
        if b"\r" in block.data:
            raise NeedsLineByLine("carriage returns")
        layout = self.layout
        n_cols = self._field_count(block.data)
        if layout.max_fields is not None:
            n_cols = min(n_cols, layout.max_fields)  # longer lines are invalid rows: rejected line by line
        known = layout.fields[:n_cols]
        names = [f.name for f in known] + [f"_extra{i}" for i in range(n_cols - len(known))]
        types = {f.name: f.kind.read_type for f in known} | {n: pa.string() for n in names[len(known) :]}
        invalid = _Invalid()
        table = pacsv.read_csv(
            io.BytesIO(block.data),
            read_options=pacsv.ReadOptions(column_names=names, use_threads=False, block_size=len(block.data) + 1),
            parse_options=pacsv.ParseOptions(
                delimiter=self.format.delimiter,
                quote_char='"' if self.format.quoted else False,
                double_quote=False,
                invalid_row_handler=invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=types,
                null_values=["-"],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
                timestamp_parsers=[pacsv.ISO8601],
                check_utf8=not block.utf8,
            ),
        )
        # Blank lines and quotes running over a newline both lose rows, so a full count rules out both.
        blank = [] if table.num_rows + len(invalid.rows) == n_lines else _blank_lines(block.data)
        if table.num_rows + len(invalid.rows) + len(blank) != n_lines:
            raise NeedsLineByLine("row count does not match line count")
        if self.format.versioned is not None:
            self._check_versions(table, n_cols)
        table = self._to_tokens(table, layout, len(known), names[len(known) :])
        if _may_hold_long_line(block.data, self.max_line_bytes):
            self._check_line_lengths(table)
        out = finish(table, layout, self.format)
        parsed = ParsedBlock(out, [], Counter({_BLANK: len(blank)} if blank else {}), lines=n_lines)
        if invalid.rows:
            rows = sorted(invalid.rows)
            physical = _physical_rows(rows, set(blank))
            if block.utf8:  # the reader's text is the line itself: no need to split the block into lines
                pairs = zip(rows, physical, strict=True)
                raw = [block.stray.get(i - 1) or invalid.texts[row].encode() for row, i in pairs]
            else:
                lines = block.data.split(b"\n")
                raw = [block.stray.get(i - 1, lines[i - 1]) for i in physical]
            slow = self._line_by_line(raw, block.first_line, 0, numbers=physical)
            parsed.merge(slow)
        return parsed

    def _check_versions(self, table: pa.Table, n_cols: int) -> None:
        """A record whose version has more fields than the block's lines is truncated: rejected line by line."""
        versioned = self.format.versioned
        assert versioned is not None
        if versioned.field not in table.column_names:
            raise NeedsLineByLine("no version field")
        for version in pc.unique(table.column(versioned.field)).to_pylist():
            if versioned.min_fields.get(version, 0) > n_cols:
                raise NeedsLineByLine(f"records of version {version} with too few fields")

    def _check_line_lengths(self, table: pa.Table) -> None:
        # The string fields of a row add up to at most its line length: a cheap bound, checked exactly after.
        lengths = [pc.fill_null(pc.binary_length(c), 0) for c in table.columns if pa.types.is_string(c.type)]
        if lengths:
            total = lengths[0] if len(lengths) == 1 else pc.add_checked(lengths[0], lengths[1])
            for extra in lengths[2:]:
                total = pc.add_checked(total, extra)
            longest = pc.max(total).as_py()
            if longest is not None and longest > self.max_line_bytes:
                raise NeedsLineByLine("line too long")

    def _to_tokens(self, table: pa.Table, layout: Layout, n_known: int, extra_names: list[str]) -> pa.Table:
        n = table.num_rows
        arrays = [table.column(f.name) for f in layout.fields[:n_known]]
        arrays += [pa.chunked_array([pa.nulls(n, f.kind.read_type)]) for f in layout.fields[n_known:]]
        if extra_names:
            joined = pc.binary_join_element_wise(
                *(table.column(e) for e in extra_names),
                _EXTRA_SEP,
                null_handling="replace",
                null_replacement="-",
            )
            extra = pc.split_pattern(joined, _EXTRA_SEP)
        else:
            extra = pa.chunked_array([pa.nulls(n, EXTRA_TYPE)])
        return pa.table([*arrays, extra], names=[*layout.names, EXTRA_FIELDS])

    def _line_by_line(
        self, lines: list[bytes], first_line: int, n_lines: int, numbers: list[int] | None = None
    ) -> ParsedBlock:
        """Parses or rejects each line; ``numbers`` are the lines' 1-based positions within the block."""
        buffer = RowBuffer(self.layout)
        rejects: list[Rejected] = []
        skipped: Counter[str] = Counter()
        for index, raw in enumerate(lines):
            line_no = first_line + (numbers[index] - 1 if numbers else index)
            try:
                text = raw.decode("utf-8").rstrip("\r")
            except UnicodeDecodeError:
                rejects.append(Rejected(line_no, "invalid UTF-8", raw))
                continue
            reason = self.format.is_skip_line(text) if text.strip() else _BLANK
            if reason is not None:
                skipped[reason] += 1
                continue
            if len(raw) > self.max_line_bytes:
                rejects.append(self._too_long(line_no, raw))
                continue
            try:
                values, extra = parse_line(text, self.layout, self.format)
            except FieldError as err:
                rejects.append(Rejected(line_no, str(err), raw))
                continue
            buffer.append(values, extra)
        table = finish(buffer.to_table(), self.layout, self.format)
        return ParsedBlock(table, rejects, skipped, lines=n_lines)

    def _empty_table(self) -> pa.Table:
        return finish(RowBuffer(self.layout).to_table(), self.layout, self.format)


_scratch = threading.local()  # per thread: blocks are checked on the reading thread, halves on the parsing one


def _mask(size: int) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """A reusable boolean buffer of ``size`` (fresh 4 MiB arrays cost more in page faults than the comparison)."""
    buffer: np.ndarray[Any, np.dtype[np.bool_]] | None = getattr(_scratch, "mask", None)
    if buffer is None or buffer.size < size:
        buffer = _scratch.mask = np.empty(max(size, DEFAULT_BLOCK_SIZE + DEFAULT_MAX_LINE_BYTES), dtype=np.bool_)
    return buffer[:size]


def _byte_set(*values: int) -> np.ndarray[Any, np.dtype[np.bool_]]:
    table = np.zeros(256, dtype=np.bool_)
    table[list(values)] = True
    return table


def _malformed_quoting(data: bytes, delimiter: int) -> list[int]:
    """0-based numbers of the lines of ``data`` (newline-terminated) whose quotes do not delimit fields.

    In a well-formed line the quotes alternate opening and closing: an opening one follows the delimiter or the
    start of the line, a closing one is followed by the delimiter or the end of the line. Vectorised over the
    quote positions of the whole block; lines are looked at one by one only when some line is malformed.
    """
    a = np.frombuffer(data, dtype=np.uint8)
    mask = _mask(a.size)
    quotes = np.flatnonzero(np.equal(a, _QUOTE, out=mask))
    if not quotes.size:
        return []
    newlines = np.flatnonzero(np.equal(a, _NEWLINE, out=mask))
    may_precede = _byte_set(delimiter, _NEWLINE)  # a[-1] is a newline: "before" the first byte too
    may_follow = _byte_set(delimiter, _NEWLINE, _CR)
    if (
        quotes.size % 2 == 0
        and may_precede[a[quotes[0::2] - 1]].all()
        and may_follow[a[quotes[1::2] + 1]].all()
        and not (np.searchsorted(quotes, newlines) % 2).any()  # no newline between an opening and its closing
    ):
        return []
    # Some line is malformed: number the quotes within their lines to find which.
    line = np.searchsorted(newlines, quotes)
    rank = np.arange(quotes.size) - np.searchsorted(line, line)
    opening = rank % 2 == 0
    bad = np.where(opening, ~may_precede[a[quotes - 1]], ~may_follow[a[quotes + 1]])
    last = np.append(line[1:] != line[:-1], True)  # the last quote of its line
    bad |= last & opening  # an odd number of quotes: the last one opens a field that never closes
    return np.unique(line[bad]).tolist()  # type: ignore[no-any-return]


def _isolate(block: _Block, numbers: list[int]) -> _Block:
    """``block`` with the lines ``numbers`` (0-based) replaced by a one-field marker, kept in ``stray``."""
    lines = block.data.split(b"\n")
    stray = {i: lines[i] for i in numbers}
    for i in numbers:
        lines[i] = _MARKER
    return _Block(b"\n".join(lines), block.first_line, block.lines, utf8=block.utf8, stray=stray)


def _halves(block: _Block) -> tuple[_Block, _Block] | None:
    """``block`` cut at a newline near its middle; None when it holds a single line."""
    data = block.data
    cut = data.find(b"\n", len(data) // 2) + 1
    if not 0 < cut < len(data):
        cut = data.rfind(b"\n", 0, len(data) - 1) + 1
    if cut <= 0:
        return None
    first_lines = data.count(b"\n", 0, cut)
    return (
        _Block(data[:cut], block.first_line, first_lines, utf8=block.utf8),
        _Block(data[cut:], block.first_line + first_lines, block.lines - first_lines, utf8=block.utf8),
    )


def _may_hold_long_line(data: bytes, limit: int) -> bool:
    """False when no line of ``data`` can be longer than ``limit`` bytes: every stretch of limit // 2 holds a newline.

    A line longer than ``limit`` covers at least one whole aligned stretch of ``limit // 2`` bytes.
    """
    step = max(1, limit // 2)
    return any(data.find(b"\n", start, start + step) < 0 for start in range(0, len(data), step))


def _valid_utf8(data: bytes) -> bool:
    # Fields are cut at ASCII bytes, which never occur inside a UTF-8 sequence: a valid block has valid fields.
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _blank_lines(data: bytes) -> list[int]:
    """1-based numbers of empty lines in a block of newline-terminated lines."""
    if b"\n\n" not in data and not data.startswith(b"\n"):
        return []
    return [i for i, line in enumerate(data.split(b"\n")[:-1], start=1) if not line]


def _physical_rows(rows: list[int], blank: set[int]) -> list[int]:
    """Row numbers among non-empty lines -> line numbers within the block."""
    if not blank:
        return rows
    wanted = sorted(rows)
    result: list[int] = []
    line, seen = 0, 0
    for row in wanted:
        while seen < row:
            line += 1
            if line not in blank:
                seen += 1
        result.append(line)
    return result


def open_parser(
    fileobj: Readable, log_format: str, *, layout: Layout | None = None
) -> DelimitedParser | CloudTrailParser | CloudWatchLogsParser | WafParser:
    """The parser for ``log_format`` (a name from ``formats.FORMAT_NAMES``) over one object's bytes.

    ``layout``: the fields the source was configured with (a VPC flow log's format), for objects without a header.
    """
    if log_format == CLOUDTRAIL:
        if layout is not None:
            raise ValueError("cloudtrail records name their fields: no layout to configure")
        return CloudTrailParser(fileobj)
    if log_format == CLOUDWATCH_LOGS:
        if layout is not None:
            raise ValueError("cloudwatch_logs payloads name their fields: no layout to configure")
        return CloudWatchLogsParser(fileobj)
    if log_format == WAF:
        if layout is not None:
            raise ValueError("waf records name their fields: no layout to configure")
        return WafParser(fileobj)
    return DelimitedParser(fileobj, log_format, layout=layout)
