"""Local side of loading one object: Parquet per event-time hour and quarantine JSON lines, in temporary files.

Nothing here talks to AWS: :mod:`functions.log_etl.execute` streams the parsed blocks in and uploads the files.
Memory is bounded by ``max_buffered_bytes`` (rows waiting to become a row group, all partitions together) plus
one row group being encoded, whatever the object size; the files themselves live on local disk (Lambda
/tmp). Row groups are encoded on one background thread (pyarrow releases the GIL while it encodes), in the order
they were handed over, so the parsing of the next block overlaps the encoding and the bytes do not depend on
timing.
"""

from __future__ import annotations

import base64
import gzip
import json
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from functions.log_etl.formats import EVENT_TIME
from functions.log_etl.schemas import conform, high_cardinality
from functions.log_etl.stream import Rejected

_HOUR_US = 3_600_000_000
_SORT_ABOVE = 4  # distinct hours in one block above which sorting beats one filter per hour
# Encoded pages collect here before they reach the Python file object: each write to it takes the GIL, which
# the parsing thread holds much of the time, and a row group is some hundred pages.
_SINK_BUFFER = 128 << 10


def hour_partition(hour_index: int) -> tuple[str, str]:
    """Hours since the epoch -> (``dt``, ``hour``) partition values, e.g. ("2026-11-27", "13")."""
    at = datetime.fromtimestamp(hour_index * 3600, tz=UTC)
    return f"{at:%Y-%m-%d}", f"{at:%H}"


def split_by_hour(table: pa.Table) -> Iterator[tuple[int, pa.Table]]:
    """(hours since the epoch, rows of that hour) for each hour of ``event_time`` in ``table``."""
    if not table.num_rows:
        return
    micros = table.column(EVENT_TIME).cast(pa.int64())
    hours = pc.divide(micros, _HOUR_US)  # truncates toward zero: floor it for times before 1970
    hours = pc.if_else(pc.greater(pc.multiply(hours, _HOUR_US), micros), pc.subtract(hours, 1), hours)
    distinct = pc.unique(hours).to_pylist()
    if len(distinct) == 1:
        yield distinct[0], table
    elif len(distinct) <= _SORT_ABOVE:
        for hour in distinct:
            yield hour, table.filter(pc.equal(hours, hour))
    else:
        order = pc.sort_indices(hours)
        ordered = table.take(order)
        counts = pc.value_counts(pc.take(hours, order))
        start = 0
        for item in counts:
            n = item["counts"].as_py()
            yield item["values"].as_py(), ordered.slice(start, n)
            start += n


@dataclass
class PartitionFile:
    """One finished Parquet file: its partition values, rows, and the local file holding it."""

    hour_index: int
    rows: int
    file: IO[bytes]
    size: int

    @property
    def dt(self) -> str:
        return hour_partition(self.hour_index)[0]

    @property
    def hour(self) -> str:
        return hour_partition(self.hour_index)[1]


@dataclass
class _Partition:
    file: IO[bytes]
    sink: pa.BufferedOutputStream | None = None
    writer: pq.ParquetWriter | None = None
    pending: list[pa.Table] = field(default_factory=list)
    pending_bytes: int = 0
    rows: int = 0


def writer_options(schema: pa.Schema) -> dict[str, Any]:
    """Per-column Parquet options: dictionaries and statistics only where they pay.

    Timestamps, floats and 64-bit counters are nearly unique per row, as are request ids and URLs: a dictionary
    there is built and then abandoned for every row group, and string min/max statistics of unique values let
    no reader skip anything. Statistics stay on every other column, the times included (row-group skipping).
    """
    unique = high_cardinality(schema)
    dictionary = [
        f.name
        for f in schema
        if f.name not in unique
        and not (pa.types.is_timestamp(f.type) or pa.types.is_floating(f.type) or pa.types.is_int64(f.type))
    ]
    statistics = [f.name for f in schema if f.name not in unique]
    return {"use_dictionary": dictionary, "write_statistics": statistics}


class _Encoder:
    """Runs encoding jobs on one background thread in submission order, at most ``depth`` jobs outstanding.

    A job's error is raised by a later ``submit`` or by ``drain``.
    """

    def __init__(self, depth: int = 1) -> None:
        self.depth = depth
        self._pool: ThreadPoolExecutor | None = None
        self._jobs: deque[Future[None]] = deque()

    def submit(self, job: Callable[[], None]) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="log-etl-encode")
        while self._jobs and (len(self._jobs) >= self.depth or self._jobs[0].done()):
            self._jobs.popleft().result()
        self._jobs.append(self._pool.submit(job))

    def drain(self) -> None:
        """Wait for every job; raises the first error."""
        while self._jobs:
            self._jobs.popleft().result()

    def shutdown(self) -> None:
        """Wait for every job, ignoring their errors (the output is being discarded), and stop the thread."""
        for job in self._jobs:
            job.exception()
        self._jobs.clear()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


class PartitionedWriter:
    """Parquet files, one per event-time hour, each written with its own ``ParquetWriter``.

    Rows are buffered per hour until ``row_group_bytes`` (or ``row_group_rows``) are waiting, then written as one
    row group; when all hours together hold more than ``max_buffered_bytes``, the largest buffer is written early.
    """

    def __init__(
        self,
        schema: pa.Schema,
        *,
        compression: str = "zstd",
        row_group_rows: int = 262_144,
        row_group_bytes: int = 16 << 20,
        max_buffered_bytes: int = 32 << 20,
        spool_dir: str | None = None,
    ) -> None:
        self.schema = schema
        self.compression = compression
        self.row_group_rows = row_group_rows
        self.row_group_bytes = row_group_bytes
        self.max_buffered_bytes = max_buffered_bytes
        self.spool_dir = spool_dir
        self._parts: dict[int, _Partition] = {}
        self._buffered = 0
        self._file_schema: pa.Schema | None = None
        self._encoder = _Encoder()

    def write(self, table: pa.Table) -> None:
        if not table.num_rows:
            return
        table = conform(table, self.schema)
        if self._file_schema is None:
            self._file_schema = table.schema
        elif not table.schema.equals(self._file_schema):
            table = conform(table, self._file_schema).select(self._file_schema.names)
        for hour, rows in split_by_hour(table):
            part = self._parts.get(hour)
            if part is None:
                part = self._parts[hour] = _Partition(tempfile.TemporaryFile(dir=self.spool_dir))  # noqa: SIM115
            size = rows.nbytes
            part.pending.append(rows)
            part.pending_bytes += size
            part.rows += rows.num_rows
            self._buffered += size
            if part.pending_bytes >= self.row_group_bytes or sum(t.num_rows for t in part.pending) >= (
                self.row_group_rows
            ):
                self._flush(part)
        while self._buffered > self.max_buffered_bytes:
            self._flush(max(self._parts.values(), key=lambda p: p.pending_bytes))

    def _flush(self, part: _Partition) -> None:
        if not part.pending:
            return
        tables = part.pending
        part.pending, self._buffered, part.pending_bytes = [], self._buffered - part.pending_bytes, 0
        self._encoder.submit(lambda: self._encode(part, tables))
        pa.default_memory_pool().release_unused()  # this thread's freed buffers too (allocators keep per-thread heaps)

    def _encode(self, part: _Partition, tables: list[pa.Table]) -> None:
        """One row group of ``part`` (on the encoder thread)."""
        table = pa.concat_tables(tables)
        tables.clear()
        if part.writer is None:
            part.sink = pa.BufferedOutputStream(pa.PythonFile(part.file, mode="w"), buffer_size=_SINK_BUFFER)
            part.writer = pq.ParquetWriter(
                part.sink, table.schema, compression=self.compression, **writer_options(table.schema)
            )
        part.writer.write_table(table, row_group_size=max(self.row_group_rows, table.num_rows))
        del table
        pa.default_memory_pool().release_unused()  # keep RSS flat: hand freed buffers back to the system

    def close(self) -> list[PartitionFile]:
        """Finish every file; they are rewound and ready to upload, in hour order."""
        for hour in sorted(self._parts):
            self._flush(self._parts[hour])
        self._encoder.drain()
        done = []
        for hour in sorted(self._parts):
            part = self._parts[hour]
            _finish(part)
            size = part.file.tell()
            part.file.seek(0)
            done.append(PartitionFile(hour, part.rows, part.file, size))
        self._parts = {}
        self._encoder.shutdown()
        return done

    def discard(self) -> None:
        """Drop everything written so far (the object failed); a no-op after ``close``."""
        self._encoder.shutdown()
        for part in self._parts.values():
            _finish(part)
            part.file.close()
        self._parts = {}
        self._buffered = 0


def _finish(part: _Partition) -> None:
    """Write the Parquet footer and the buffered bytes to the partition's file, leaving the file open."""
    if part.writer is not None:
        part.writer.close()
        part.writer = None
    if part.sink is not None:
        part.sink.detach()  # flushes; closing the sink instead would close the file
        part.sink = None


def quarantine_record(bucket: str, key: str, reject: Rejected) -> dict[str, Any]:
    """One quarantine line: where the line came from, why it was rejected, and the line itself."""
    record: dict[str, Any] = {
        "source_bucket": bucket,
        "source_key": key,
        "line_number": reject.line_number,
        "reason": reject.reason,
    }
    try:
        record["raw"] = reject.raw.decode("utf-8")
    except UnicodeDecodeError:
        record["raw"] = reject.raw.decode("utf-8", "replace")
        record["raw_base64"] = base64.b64encode(reject.raw).decode("ascii")
    return record


class QuarantineWriter:
    """Gzipped JSON lines of rejected lines, in a temporary file (byte-identical for the same input)."""

    def __init__(self, bucket: str, key: str, *, spool_dir: str | None = None) -> None:
        self.bucket = bucket
        self.key = key
        self.count = 0
        self.reasons: dict[str, int] = {}
        self._file: IO[bytes] = tempfile.TemporaryFile(dir=spool_dir)  # noqa: SIM115
        self._gzip = gzip.GzipFile(fileobj=self._file, mode="wb", mtime=0)

    def write(self, rejects: list[Rejected]) -> None:
        if not rejects:
            return
        lines = [json.dumps(quarantine_record(self.bucket, self.key, r), ensure_ascii=False) for r in rejects]
        self._gzip.write(("\n".join(lines) + "\n").encode("utf-8"))
        self.count += len(rejects)
        for reject in rejects:
            self.reasons[reject.reason] = self.reasons.get(reject.reason, 0) + 1

    def close(self) -> IO[bytes] | None:
        """The finished file, rewound; None when nothing was rejected."""
        self._gzip.close()
        if not self.count:
            self._file.close()
            return None
        self._file.seek(0)
        return self._file

    def discard(self) -> None:
        self._gzip.close()
        self._file.close()
