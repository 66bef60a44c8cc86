"""Local side of loading one object: Parquet per event-time hour and quarantine JSON lines, in temporary files.

Nothing here talks to AWS: :mod:`functions.log_etl.execute` streams the parsed blocks in and uploads the files.
Memory is bounded by ``max_buffered_bytes`` (rows waiting to become a row group, all partitions together) plus
one row group being encoded, whatever the object size; the files themselves live on local disk (Lambda /tmp).
"""

from __future__ import annotations

import base64
import gzip
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from functions.log_etl.formats import EVENT_TIME
from functions.log_etl.schemas import conform
from functions.log_etl.stream import Rejected

_HOUR_US = 3_600_000_000
_SORT_ABOVE = 4  # distinct hours in one block above which sorting beats one filter per hour


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
    writer: pq.ParquetWriter | None = None
    pending: list[pa.Table] = field(default_factory=list)
    pending_bytes: int = 0
    rows: int = 0


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
        table = pa.concat_tables(part.pending)
        part.pending, self._buffered, part.pending_bytes = [], self._buffered - part.pending_bytes, 0
        if part.writer is None:
            part.writer = pq.ParquetWriter(
                part.file,
                table.schema,
                compression=self.compression,
                use_dictionary=True,
                write_statistics=True,
            )
        part.writer.write_table(table, row_group_size=max(self.row_group_rows, table.num_rows))
        del table
        pa.default_memory_pool().release_unused()  # keep RSS flat: hand freed buffers back to the system

    def close(self) -> list[PartitionFile]:
        """Finish every file; they are rewound and ready to upload, in hour order."""
        done = []
        for hour in sorted(self._parts):
            part = self._parts[hour]
            self._flush(part)
            if part.writer is not None:
                part.writer.close()
            size = part.file.tell()
            part.file.seek(0)
            done.append(PartitionFile(hour, part.rows, part.file, size))
        self._parts = {}
        return done

    def discard(self) -> None:
        """Drop everything written so far (the object failed)."""
        for part in self._parts.values():
            if part.writer is not None:
                part.writer.close()
            part.file.close()
        self._parts = {}
        self._buffered = 0


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
