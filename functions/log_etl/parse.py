"""Streaming, vectorised parser for the delimited AWS log formats (ALB, S3 access, VPC flow, CloudFront).

Blocks of whole lines go through pyarrow's CSV reader; lines it cannot take (wrong field count, a value that
does not convert, stray quotes) go through ``rows.convert`` one by one, which parses or rejects them with a
reason. Memory is bounded by ``block_size`` plus ``max_line_bytes`` whatever the object size.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from functions.log_etl.cloudtrail import CloudTrailParser
from functions.log_etl.formats import CLOUDTRAIL, DELIMITED_FORMATS, EXTRA_FIELDS, Layout, LogFormat
from functions.log_etl.rows import EXTRA_TYPE, FieldError, NeedsLineByLine, RowBuffer, convert, finish, tokenize
from functions.log_etl.stream import Counts, ParsedBlock, Readable, Rejected, open_decompressed

DEFAULT_BLOCK_SIZE = 4 << 20
DEFAULT_MAX_LINE_BYTES = 256 << 10
_EXTRA_SEP = "\x1f"
_STRAY_MARKER = b"\x00"


@dataclass
class _Block:
    data: bytes
    first_line: int  # 1-based number of the block's first line in the object
    lines: int  # newline-terminated lines in data


@dataclass
class _Invalid:
    rows: list[int] = field(default_factory=list)  # 1-based row numbers among the block's non-empty lines

    def __call__(self, row: pacsv.InvalidRow) -> str:
        self.rows.append(row.number)
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
        block_size: int = DEFAULT_BLOCK_SIZE,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> None:
        self._fileobj = fileobj
        self.format = DELIMITED_FORMATS[log_format] if isinstance(log_format, str) else log_format
        self.layout = self.format.default_layout
        self.block_size = block_size
        self.max_line_bytes = max_line_bytes
        self.counts = Counts()

    def __iter__(self) -> Iterator[ParsedBlock]:
        first = True
        for block, rejects in self._blocks():
            skipped = 0
            if first:
                block, skipped = self._leading_skips(block)
                first = False
            parsed = self._parse_block(block)
            parsed.rejects[:0] = rejects
            parsed.skipped += skipped
            parsed.lines += len(rejects) + skipped
            self.counts.add(parsed)
            if parsed.table.num_rows or parsed.rejects or parsed.skipped:
                yield parsed

    def _blocks(self) -> Iterator[tuple[_Block, list[Rejected]]]:
        stream = open_decompressed(self._fileobj)
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
            data = pending + chunk
            end = data.rfind(b"\n")
            if end < 0:
                if len(data) > self.max_line_bytes:
                    rejects.append(self._too_long(line_no, data))
                    line_no += 1
                    pending, discarding = b"", True
                    yield _Block(b"", line_no, 0), rejects
                else:
                    pending = data
                continue
            pending = data[end + 1 :]
            if len(pending) > self.max_line_bytes:
                rejects.append(self._too_long(-1, pending))
                pending, discarding = b"", True
            block = _Block(data[: end + 1], line_no, data.count(b"\n", 0, end + 1))
            if rejects:
                rejects[0] = Rejected(line_no + block.lines, rejects[0].reason, rejects[0].raw)
            line_no += block.lines + len(rejects)
            yield block, rejects
        if pending:
            yield _Block(pending + b"\n", line_no, 1), []

    def _too_long(self, line_no: int, head: bytes) -> Rejected:
        return Rejected(line_no, f"line longer than {self.max_line_bytes} bytes", head[: self.max_line_bytes])

    def _leading_skips(self, block: _Block) -> tuple[_Block, int]:
        """Drops header/test lines at the top of the object; a header may set the layout."""
        data, start, skipped = block.data, 0, 0
        while start < len(data):
            end = data.find(b"\n", start)
            line = data[start:end].decode("utf-8", "replace").rstrip("\r")
            if self.format.is_skip_line(line) is None and line:
                break
            header = self.format.layout_from_header(line)
            if header is not None:
                self.layout = header
            skipped += 1
            start = end + 1
        return _Block(data[start:], block.first_line + skipped, block.lines - skipped), skipped

    def _parse_block(self, block: _Block) -> ParsedBlock:
        n_lines = block.lines
        if not n_lines:
            return ParsedBlock(self._empty_table(), [], 0, lines=0)
        # An odd number of quotes in the block means a stray quote: isolate it before the first attempt.
        suspect = self.format.quoted and block.data.count(b'"') % 2 == 1
        if not suspect:
            try:
                return self._fast(block, n_lines)
            except (NeedsLineByLine, pa.ArrowInvalid):
                pass
        lines = block.data.split(b"\n")
        isolated = self._isolate_stray_quotes(block, lines)
        if isolated is not None:
            try:
                return self._fast(isolated, n_lines, raw_lines=lines)
            except (NeedsLineByLine, pa.ArrowInvalid):
                pass
        return self._line_by_line(lines[:-1], block.first_line, n_lines)

    def _isolate_stray_quotes(self, block: _Block, lines: list[bytes]) -> _Block | None:
        """The block with each line holding an odd number of quotes replaced by a one-field marker line.

        A stray quote makes the CSV reader run on over the following newlines, so one truncated line would send
        its whole block line by line. The marker has too few fields, so the fast path hands that line (read
        back from ``lines``) to the line-by-line parser, and the rest of the block stays vectorised.
        """
        if not self.format.quoted or b'"' not in block.data:
            return None
        odd = {i for i, line in enumerate(lines[:-1]) if line.count(b'"') % 2}
        if not odd or len(odd) * 20 > len(lines):
            return None
        data = b"\n".join(_STRAY_MARKER if i in odd else line for i, line in enumerate(lines))
        return _Block(data, block.first_line, block.lines)

    def _field_count(self, data: bytes) -> int:
        """Field count of the block's first data lines; lines with another count go line by line."""
        for raw in data[: 1 << 16].split(b"\n")[:-1][:8]:
            text = raw.decode("utf-8", "replace")
            tokens = tokenize(text, self.format)
            if len(tokens) >= self.layout.min_fields and self.format.is_skip_line(text) is None:
                return len(tokens)
        return len(self.layout.fields)

    def _fast(self, block: _Block, n_lines: int, raw_lines: list[bytes] | None = None) -> ParsedBlock:
        if b"\r" in block.data:
            raise NeedsLineByLine("carriage returns")
        layout = self.layout
        n_cols = self._field_count(block.data)
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
            ),
        )
        # Blank lines and quotes running over a newline both lose rows, so a full count rules out both.
        blank = [] if table.num_rows + len(invalid.rows) == n_lines else _blank_lines(block.data)
        if table.num_rows + len(invalid.rows) + len(blank) != n_lines:
            raise NeedsLineByLine("row count does not match line count")
        table = self._to_tokens(table, layout, len(known), names[len(known) :])
        self._check_line_lengths(table)
        out = finish(table, layout, self.format)
        parsed = ParsedBlock(out, [], len(blank), lines=n_lines)
        if invalid.rows:
            lines = raw_lines if raw_lines is not None else block.data.split(b"\n")
            physical = _physical_rows(invalid.rows, set(blank))
            slow = self._line_by_line([lines[i - 1] for i in physical], block.first_line, 0, numbers=physical)
            parsed.merge(slow)
        return parsed

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
        skipped = 0
        for index, raw in enumerate(lines):
            line_no = first_line + (numbers[index] - 1 if numbers else index)
            try:
                text = raw.decode("utf-8").rstrip("\r")
            except UnicodeDecodeError:
                rejects.append(Rejected(line_no, "invalid UTF-8", raw))
                continue
            if not text.strip() or self.format.is_skip_line(text) is not None:
                skipped += 1
                continue
            if len(raw) > self.max_line_bytes:
                rejects.append(self._too_long(line_no, raw))
                continue
            try:
                values, extra = convert(tokenize(text, self.format), self.layout, self.format)
            except FieldError as err:
                rejects.append(Rejected(line_no, str(err), raw))
                continue
            buffer.append(values, extra)
        table = finish(buffer.to_table(), self.layout, self.format)
        return ParsedBlock(table, rejects, skipped, lines=n_lines)

    def _empty_table(self) -> pa.Table:
        return finish(RowBuffer(self.layout).to_table(), self.layout, self.format)


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


def open_parser(fileobj: Readable, log_format: str) -> DelimitedParser | CloudTrailParser:
    """The parser for ``log_format`` (a name from ``formats.FORMAT_NAMES``) over one object's bytes."""
    if log_format == CLOUDTRAIL:
        return CloudTrailParser(fileobj)
    return DelimitedParser(fileobj, log_format)
