"""Decompression and the result types shared by the parsers."""

from __future__ import annotations

import queue
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

import pyarrow as pa

GZIP_MAGIC = b"\x1f\x8b"
_READ_SIZE = 1 << 20
T = TypeVar("T")


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
    """Typed rows from one block, the lines rejected and skipped in it, and how many lines it held.

    ``skip_reasons`` counts the skipped lines by reason; its counts add up to ``skipped``.
    """

    table: pa.Table
    rejects: list[Rejected]
    skip_reasons: Counter[str]
    lines: int

    @property
    def skipped(self) -> int:
        return self.skip_reasons.total()

    def merge(self, other: ParsedBlock) -> None:
        self.table = pa.concat_tables([self.table, other.table])
        self.rejects.extend(other.rejects)
        self.skip_reasons.update(other.skip_reasons)
        self.lines += other.lines


@dataclass
class Counts:
    """Conservation counts for one object: ``lines_in == rows_out + rows_rejected + lines_skipped``.

    Every skipped line has its reason: ``skip_reasons`` adds up to ``lines_skipped``.
    """

    lines_in: int = 0
    rows_out: int = 0
    rows_rejected: int = 0
    skip_reasons: Counter[str] = field(default_factory=Counter)

    @property
    def lines_skipped(self) -> int:
        return self.skip_reasons.total()

    def add(self, block: ParsedBlock) -> None:
        self.lines_in += block.lines
        self.rows_out += block.table.num_rows
        self.rows_rejected += len(block.rejects)
        self.skip_reasons.update(block.skip_reasons)

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


class _Prefixed:
    """``head`` then the rest of ``raw``, as the file object pyarrow reads from (it does not own ``raw``).

    An error reading ``raw`` (a dropped connection, a read timeout: both ``OSError``) is kept in ``error``, so
    that it is not taken for corrupt data when it comes back out of the inflater.
    """

    closed = False

    def __init__(self, raw: Readable, head: bytes) -> None:
        self._raw = raw
        self._head = head
        self.error: BaseException | None = None

    def read(self, size: int = -1) -> bytes:
        if self._head:
            head, self._head = self._head, b""
            return head
        try:
            return self._raw.read(size)
        except BaseException as err:
            self.error = err
            raise

    def close(self) -> None:
        """The caller closes ``raw``."""


class _Gzip:
    """Multi-member gzip reader whose output per call is bounded by ``size``, whatever the ratio.

    pyarrow's inflater releases the GIL, so decompressing overlaps the parsing on another thread (the zlib
    module's streaming decompressor holds the GIL while it inflates).
    """

    def __init__(self, raw: Readable, head: bytes) -> None:
        self._source = _Prefixed(raw, head)
        source = pa.BufferedInputStream(pa.PythonFile(self._source, mode="r"), buffer_size=_READ_SIZE)
        self._stream = pa.CompressedInputStream(source, "gzip")

    def read(self, size: int) -> bytes:
        try:
            piece: bytes = self._stream.read(size)
        except (OSError, pa.ArrowException) as err:
            if self._source.error is not None:
                raise self._source.error from None  # reading the object failed, not its data: retry it
            if "truncated" in str(err).lower():
                raise LogParseError("gzip stream is truncated") from err
            raise LogParseError(f"corrupt gzip data: {err}") from err
        return piece


def open_decompressed(raw: Readable) -> Readable:
    """A reader of the object's bytes, gunzipped when they start with the gzip magic number."""
    head = raw.read(2)
    if head == GZIP_MAGIC:
        return _Gzip(raw, head)
    return _Plain(raw, head)


class Prefetch(Generic[T]):
    """The items of ``source``, produced on a background thread at most ``depth`` items ahead.

    Reading and decompressing (zlib releases the GIL while it inflates) and cutting the next block then overlap
    the caller's work on the previous one. An error of ``source`` is raised where its item would have been.
    ``close`` stops the thread and waits for it, so the stream under ``source`` can be closed after; memory is
    bounded by ``depth + 1`` items.
    """

    def __init__(self, source: Iterator[T], *, depth: int = 2) -> None:
        self._queue: queue.Queue[tuple[T] | Exception | None] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._finished = False
        self._thread = threading.Thread(target=self._run, args=(source,), name="log-etl-read", daemon=True)
        self._thread.start()

    def _run(self, source: Iterator[T]) -> None:
        try:
            for item in source:
                if not self._put((item,)):
                    return
            self._put(None)
        except Exception as err:  # noqa: BLE001 - handed to the consuming thread, which raises it
            self._put(err)

    def _put(self, item: tuple[T] | Exception | None) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[T]:
        while not self._finished:
            item = self._queue.get()
            if item is None:
                self._finished = True
            elif isinstance(item, Exception):
                self._finished = True
                raise item
            else:
                yield item[0]

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def json_kind(value: object) -> str:
    """What a JSON value is, as a quarantine reason names it ("a string", "null", ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
