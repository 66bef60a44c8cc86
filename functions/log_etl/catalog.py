"""The Glue Data Catalog of the lake: one database, one table per format, Hive partitions ``dt``/``hour``.

Partitions are registered explicitly (BatchCreatePartition) rather than with partition projection: registered
partitions are visible to every Glue-aware engine (Athena, Redshift Spectrum, EMR/Spark, DuckDB through Glue),
need no projection range that goes stale, and cost one call per loaded object. Registration is idempotent: a
partition that already exists is success.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from functions.log_etl.plan import partition_prefix
from functions.log_etl.schemas import lake_schema
from shared.observability import logger

PARTITION_KEYS = ({"Name": "dt", "Type": "string"}, {"Name": "hour", "Type": "string"})
_BATCH = 100  # BatchCreatePartition takes at most 100 partitions per call


class CatalogError(Exception):
    """Glue refused a partition or a table for a reason other than "it exists already"."""


def glue_type(arrow_type: pa.DataType) -> str:
    """The Hive/Glue type of an Arrow column type."""
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "string"
    if pa.types.is_int32(arrow_type):
        return "int"
    if pa.types.is_int64(arrow_type):
        return "bigint"
    if pa.types.is_float64(arrow_type):
        return "double"
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    if pa.types.is_date32(arrow_type):
        return "date"
    if pa.types.is_list(arrow_type):
        return f"array<{glue_type(arrow_type.value_type)}>"
    if pa.types.is_struct(arrow_type):
        fields = ",".join(f"{f.name.lower()}:{glue_type(f.type)}" for f in arrow_type)
        return f"struct<{fields}>"
    raise ValueError(f"no Glue type for {arrow_type}")


def storage_descriptor(location: str, schema: pa.Schema, compression: str) -> dict[str, Any]:
    descriptor: dict[str, Any] = {
        "Location": location,
        "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        "SerdeInfo": {
            "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
            "Parameters": {"serialization.format": "1"},
        },
        "Compressed": True,
        "Parameters": {"parquet.compression": compression.upper()},
        "Columns": [{"Name": f.name.lower(), "Type": glue_type(f.type)} for f in schema],
    }
    return descriptor


def table_input(name: str, log_format: str, location: str, compression: str) -> dict[str, Any]:
    """The Glue TableInput of one format's table."""
    return {
        "Name": name,
        "Description": f"devops-tasks log ETL: {log_format} logs as Parquet, partitioned by event time (UTC)",
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE", "devops-tasks:format": log_format},
        "PartitionKeys": list(PARTITION_KEYS),
        "StorageDescriptor": storage_descriptor(location, lake_schema(log_format), compression),
    }


class Catalog:
    """Creates what is missing and registers partitions, remembering per run what it already did."""

    def __init__(
        self,
        glue: Any,
        *,
        database: str,
        lake_bucket: str,
        lake_prefix: str,
        table_prefix: str = "",
        compression: str = "zstd",
    ) -> None:
        self.glue = glue
        self.database = database
        self.lake_bucket = lake_bucket
        self.lake_prefix = lake_prefix
        self.table_prefix = table_prefix
        self.compression = compression
        self._ready: set[str] = set()
        self._registered: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()

    def location(self, log_format: str) -> str:
        return f"s3://{self.lake_bucket}/{self.lake_prefix}/format={log_format}/"

    def ensure_table(self, log_format: str) -> str:
        """Create the database and the format's table when missing; the table name."""
        name = f"{self.table_prefix}{log_format}"
        with self._lock:
            if log_format in self._ready:
                return name
            if not self._ready:
                self._ensure_database()
            try:
                self.glue.get_table(DatabaseName=self.database, Name=name)
            except self.glue.exceptions.EntityNotFoundException:
                try:
                    self.glue.create_table(
                        DatabaseName=self.database,
                        TableInput=table_input(name, log_format, self.location(log_format), self.compression),
                    )
                    logger.info("glue table created", database=self.database, table=name)
                except self.glue.exceptions.AlreadyExistsException:
                    pass  # created concurrently by another invocation: what we wanted
            self._ready.add(log_format)
        return name

    def _ensure_database(self) -> None:
        try:
            self.glue.get_database(Name=self.database)
        except self.glue.exceptions.EntityNotFoundException:
            try:
                self.glue.create_database(
                    DatabaseInput={"Name": self.database, "Description": "devops-tasks log lake (Parquet)"}
                )
                logger.info("glue database created", database=self.database)
            except self.glue.exceptions.AlreadyExistsException:
                pass  # created concurrently by another invocation

    def register(self, log_format: str, partitions: Iterable[tuple[str, str]]) -> int:
        """Register (dt, hour) partitions of a format; returns how many were new. Existing ones are fine."""
        table = self.ensure_table(log_format)
        with self._lock:
            todo = sorted({(log_format, dt, hour) for dt, hour in partitions} - self._registered)
        created = 0
        for start in range(0, len(todo), _BATCH):
            batch = todo[start : start + _BATCH]
            inputs = [
                {
                    "Values": [dt, hour],
                    "StorageDescriptor": storage_descriptor(
                        f"s3://{self.lake_bucket}/{partition_prefix(self.lake_prefix, fmt, dt, hour)}",
                        lake_schema(fmt),
                        self.compression,
                    ),
                }
                for fmt, dt, hour in batch
            ]
            resp = self.glue.batch_create_partition(
                DatabaseName=self.database, TableName=table, PartitionInputList=inputs
            )
            errors = resp.get("Errors", [])
            refused = [e for e in errors if e.get("ErrorDetail", {}).get("ErrorCode") != "AlreadyExistsException"]
            if refused:
                detail = refused[0].get("ErrorDetail", {})
                raise CatalogError(
                    f"glue refused {len(refused)} partition(s) of {self.database}.{table}, first "
                    f"{refused[0].get('PartitionValues')}: {detail.get('ErrorCode')}: {detail.get('ErrorMessage')}"
                )
            created += len(batch) - len(errors)
            with self._lock:
                self._registered.update(batch)
        return created
