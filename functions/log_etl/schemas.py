"""The lake schema of each format: every column a Parquet file of that format has, in order, with its type.

The parsers emit the columns of the layout they met (a VPC custom format names a subset of fields, an older
CloudFront file fewer fields); :func:`conform` pads each parsed table to its format's lake schema, so every file of
a format has the same columns and the Glue table can be declared once. Columns of a layout that the lake schema
does not know (a field AWS adds later) are kept after the known ones; readers that do not declare them ignore
them.
"""

from __future__ import annotations

from functools import cache

import pyarrow as pa

from functions.log_etl.cloudtrail import SCHEMA as CLOUDTRAIL_SCHEMA
from functions.log_etl.cloudwatch import SCHEMA as CLOUDWATCH_LOGS_SCHEMA
from functions.log_etl.formats import (
    CLOUDTRAIL,
    CLOUDWATCH_LOGS,
    DELIMITED_FORMATS,
    FORMAT_NAMES,
    WAF,
    Layout,
    _vpc_layout,
)
from functions.log_etl.rows import RowBuffer, finish
from functions.log_etl.waf import SCHEMA as WAF_SCHEMA

# Every VPC flow log field, in the order AWS documents them (versions 2 to 5).
VPC_ALL_NAMES = (
    "version account_id interface_id srcaddr dstaddr srcport dstport protocol packets bytes start end action "
    "log_status vpc_id subnet_id instance_id tcp_flags type pkt_srcaddr pkt_dstaddr region az_id sublocation_type "
    "sublocation_id pkt_src_aws_service pkt_dst_aws_service flow_direction traffic_path"
).split()


def _lake_layout(name: str) -> Layout:
    if name == "vpc_flow":
        return _vpc_layout(VPC_ALL_NAMES)
    return DELIMITED_FORMATS[name].default_layout


@cache
def lake_schema(name: str) -> pa.Schema:
    """The columns of every Parquet file of format ``name`` (a name from ``FORMAT_NAMES``)."""
    if name not in FORMAT_NAMES:
        raise ValueError(f"unknown log format {name!r}")
    if name == CLOUDTRAIL:
        return CLOUDTRAIL_SCHEMA
    if name == CLOUDWATCH_LOGS:
        return CLOUDWATCH_LOGS_SCHEMA
    if name == WAF:
        return WAF_SCHEMA
    layout = _lake_layout(name)
    return finish(RowBuffer(layout).to_table(), layout, DELIMITED_FORMATS[name]).schema


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with the columns of ``schema`` in its order and types (missing ones null), then any others."""
    if table.schema.equals(schema):
        return table
    n = table.num_rows
    arrays = []
    for field in schema:
        if field.name in table.column_names:
            column = table.column(field.name)
            arrays.append(column if column.type == field.type else column.cast(field.type))
        else:
            arrays.append(pa.chunked_array([pa.nulls(n, field.type)]))
    others = [name for name in table.column_names if name not in schema.names]
    fields = list(schema) + [table.schema.field(name) for name in others]
    return pa.table(arrays + [table.column(name) for name in others], schema=pa.schema(fields))


# Columns that hold (nearly) one value per row in every file of their format: request and trace ids, URLs.
HIGH_CARDINALITY = frozenset(
    {
        "request",  # alb: method, URL with query, protocol
        "trace_id",  # alb
        "conn_trace_id",  # alb
        "request_id",  # s3_access
        "host_id",  # s3_access
        "request_uri",  # s3_access
        "x_edge_request_id",  # cloudfront
        "eventID",  # cloudtrail
        "requestID",  # cloudtrail
        "sharedEventID",  # cloudtrail
        "id",  # cloudwatch_logs: the log event id
        "message",  # cloudwatch_logs
    }
)


def high_cardinality(schema: pa.Schema) -> frozenset[str]:
    """The columns of ``schema`` whose values are (nearly) unique per row: no dictionary, no statistics."""
    return HIGH_CARDINALITY.intersection(schema.names)
