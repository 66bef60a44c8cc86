"""Local side of one compaction: merge Parquet files into one file sorted by event time, and fingerprint rows.

Nothing here talks to AWS. Memory stays bounded by the files that overlap in time, not by the partition: files
are opened in the order of their first event time and a row is written as soon as no unopened file can hold an
earlier one (a sweep over the files' time ranges). Each input is sorted on its own when it is opened (the ETL
keeps a source object's order, which is nearly sorted).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from functions.log_compaction.models import Fingerprint
from functions.log_etl.formats import EVENT_TIME
from functions.log_etl.lake import writer_options

_MASK = (1 << 64) - 1


class MergeError(Exception):
    """The files cannot be merged into one without changing what readers see (e.g. different columns)."""


@dataclass
class Tally:
    """An additive :class:`Fingerprint` under construction."""

    rows: int = 0
    min_time: int | None = None
    max_time: int | None = None
    time_sum: int = 0
    non_null: dict[str, int] = field(default_factory=dict)

    def add(self, table: pa.Table) -> None:
        if not table.num_rows:
            for name in table.column_names:
                self.non_null.setdefault(name, 0)
            return
        micros = _micros(table)
        self.rows += table.num_rows
        low, high = int(micros.min()), int(micros.max())
        self.min_time = low if self.min_time is None else min(self.min_time, low)
        self.max_time = high if self.max_time is None else max(self.max_time, high)
        # wraps modulo 2**64, the same way whatever the order the rows are added in
        self.time_sum = (self.time_sum + int(micros.view(np.uint64).sum(dtype=np.uint64))) & _MASK
        for name in table.column_names:
            column = table.column(name)
            self.non_null[name] = self.non_null.get(name, 0) + len(column) - column.null_count

    def done(self) -> Fingerprint:
        return Fingerprint(
            rows=self.rows,
            min_time=self.min_time,
            max_time=self.max_time,
            time_sum=self.time_sum,
            non_null=tuple(sorted(self.non_null.items())),
        )


def _micros(table: pa.Table) -> np.ndarray:
    micros: np.ndarray = table.column(EVENT_TIME).cast(pa.int64()).to_numpy()
    return micros


def _sorted(table: pa.Table) -> pa.Table:
    return table.take(pc.sort_indices(table, sort_keys=[(EVENT_TIME, "ascending")])).combine_chunks()


def _first_time(path: Path) -> int:
    """The earliest event time of a file, from its row-group statistics when it has them, else from the column."""
    meta = pq.ParquetFile(path).metadata
    index = meta.schema.to_arrow_schema().get_field_index(EVENT_TIME)
    lows = []
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(index).statistics
        if stats is None or not stats.has_min_max:
            column = pq.read_table(path, columns=[EVENT_TIME])
            return int(_micros(column).min()) if column.num_rows else 0
        lows.append(int(pa.scalar(stats.min, type=pa.timestamp("us", tz="UTC")).cast(pa.int64()).as_py()))
    return min(lows) if lows else 0


def merged(paths: Sequence[Path], schema: pa.Schema, tally: Tally) -> Iterator[pa.Table]:
    """The rows of every file in ``paths``, in event-time order (ties in the order of the files)."""
    pending = sorted(((_first_time(p), i, p) for i, p in enumerate(paths)), key=lambda x: (x[0], x[1]))
    active: list[pa.Table] = []
    while pending or active:
        head = min((int(_micros(t)[0]) for t in active), default=None)
        while pending and (head is None or pending[0][0] <= head):
            _, _, path = pending.pop(0)
            table = pq.read_table(path)
            if not table.schema.equals(schema, check_metadata=False):
                raise MergeError(
                    f"{path.name} has other columns than the first file: {_difference(schema, table.schema)}"
                )
            tally.add(table)
            if table.num_rows:
                table = _sorted(table)
                active.append(table)
                first = int(_micros(table)[0])
                head = first if head is None else min(head, first)
        cut = pending[0][0] if pending else None
        parts, rest = [], []
        for table in active:
            n = table.num_rows if cut is None else int(np.searchsorted(_micros(table), cut, side="left"))
            if n:
                parts.append(table.slice(0, n))
            if n < table.num_rows:
                rest.append(table.slice(n))
        active = rest
        if parts:
            yield _sorted(pa.concat_tables(parts))


def _difference(a: pa.Schema, b: pa.Schema) -> str:
    only_a = [str(f) for f in a if b.field(f.name) != f] if set(a.names) <= set(b.names) else []
    missing = sorted(set(a.names) - set(b.names))
    extra = sorted(set(b.names) - set(a.names))
    return f"missing {missing}, more {extra}, other types {only_a}"


def schema_of(path: Path) -> pa.Schema:
    return pq.read_schema(path).remove_metadata()


def merge_files(paths: Sequence[Path], out: Path, *, compression: str, row_group_rows: int) -> tuple[Fingerprint, int]:
    """Write the rows of ``paths`` to ``out`` sorted by event time; the inputs' fingerprint and the row groups."""
    if not paths:
        raise MergeError("nothing to merge")
    schema = schema_of(paths[0])
    tally = Tally()
    pending: list[pa.Table] = []
    waiting = 0
    row_groups = 0
    with pq.ParquetWriter(out, schema, compression=compression, **writer_options(schema)) as writer:
        for chunk in merged(paths, schema, tally):
            pending.append(chunk)
            waiting += chunk.num_rows
            while waiting >= row_group_rows:
                table = pa.concat_tables(pending)
                writer.write_table(table.slice(0, row_group_rows), row_group_size=row_group_rows)
                row_groups += 1
                pending, waiting = [table.slice(row_group_rows)], table.num_rows - row_group_rows
        if waiting or not row_groups:
            writer.write_table(pa.concat_tables(pending) if pending else schema.empty_table())
            row_groups += 1
    return tally.done(), row_groups


def check_file(path: Path, schema: pa.Schema | None = None) -> Fingerprint:
    """The fingerprint of a Parquet file, read one row group at a time; raises when its rows are not in
    event-time order or its columns are not ``schema``."""
    pf = pq.ParquetFile(path)
    if schema is not None and not pf.schema_arrow.remove_metadata().equals(schema, check_metadata=False):
        raise MergeError(f"{path.name}: columns differ from the inputs'")
    tally = Tally()
    last: int | None = None
    for i in range(pf.num_row_groups):
        table = pf.read_row_group(i)
        tally.add(table)
        if table.num_rows:
            micros = _micros(table)
            if (last is not None and micros[0] < last) or bool((np.diff(micros) < 0).any()):
                raise MergeError(f"{path.name}: rows are not in event-time order")
            last = int(micros[-1])
    return tally.done()
