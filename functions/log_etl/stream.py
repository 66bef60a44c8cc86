"""Decompression and the result types shared by the parsers."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa

GZIP_MAGIC = b"\x1f\x8b"
_READ_SIZE = 1 << 20


class LogParseError(Exception):
    """The object as a whole cannot be read (corrupt or truncated compression, not the expected document)."""


class Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


@dataclass(frozen=True)
class Rejected:
    """A line that is not a valid record, for the quarantine: where, why, and the raw bytes."""

    line_number: int
    reason: str
    raw: bytes


@dataclass
class ParsedBlock:
    """Typed rows from one block, the lines rejected and skipped in it, and how many lines it held."""

    table: pa.Table
    rejects: list[Rejected]
    skipped: int
    lines: int

    def merge(self, other: ParsedBlock) -> None:
        self.table = pa.concat_tables([self.table, other.table])
        self.rejects.extend(other.rejects)
        self.skipped += other.skipped
        self.lines += other.lines


@dataclass
class Counts:
    """Conservation counts for one object: ``lines_in == rows_out + rows_rejected + lines_skipped``."""

    lines_in: int = 0
    rows_out: int = 0
    rows_rejected: int = 0
    lines_skipped: int = 0

    def add(self, block: ParsedBlock) -> None:
        self.lines_in += block.lines
        self.rows_out += block.table.num_rows
        self.rows_rejected += len(block.rejects)
        self.lines_skipped += block.skipped

    @property
    def balanced(self) -> bool:
        return self.lines_in == self.rows_out + self.rows_rejected + self.lines_skipped


class _Plain:
    def __init__(self, raw: Readable, head: bytes) -> None:
        self._raw = raw
        self._head = head

    def read(self, size: int) -> bytes:
        if self._head:
            head, self._head = self._head, b""
            return head + self._raw.read(size - len(head)) if size > len(head) else head
        return self._raw.read(size)


class _Gzip:
    """Multi-member gzip reader whose output per call is bounded by ``size``, whatever the ratio."""

    def __init__(self, raw: Readable, head: bytes) -> None:
        self._raw = raw
        self._input = head
        self._inflate = zlib.decompressobj(wbits=31)

    def _next_input(self) -> bytes:
        data = self._inflate.unconsumed_tail or self._input or self._raw.read(_READ_SIZE)
        self._input = b""
        return data

    def _start_next_member(self) -> bool:
        leftover = self._inflate.unused_data + self._input or self._raw.read(_READ_SIZE)
        self._input = b""
        if not leftover.strip(b"\x00"):
            return False
        if not leftover.startswith(GZIP_MAGIC):
            raise LogParseError("data after the end of the gzip stream is not gzip")
        self._inflate = zlib.decompressobj(wbits=31)
        self._input = leftover
        return True

    def read(self, size: int) -> bytes:
        out: list[bytes] = []
        produced = 0
        while produced < size:
            if self._inflate.eof and not self._start_next_member():
                break
            data = self._next_input()
            if not data:
                raise LogParseError("gzip stream is truncated")
            try:
                piece = self._inflate.decompress(data, size - produced)
            except zlib.error as err:
                raise LogParseError(f"corrupt gzip data: {err}") from err
            out.append(piece)
            produced += len(piece)
        return b"".join(out)


def open_decompressed(raw: Readable) -> Readable:
    """A reader of the object's bytes, gunzipped when they start with the gzip magic number."""
    head = raw.read(2)
    if head == GZIP_MAGIC:
        return _Gzip(raw, head)
    return _Plain(raw, head)
