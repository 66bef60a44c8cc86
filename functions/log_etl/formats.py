"""Log format definitions: AWS field lists, column types, key-layout detection and skip rules.

Column names are AWS's field names made into identifiers the way AWS's own Athena DDLs and Parquet flow
logs do it: ``-``, ``:``, ``(`` become ``_`` and the result is lower-cased (``client:port`` -> ``client``
and ``client_port`` after the host/port split, ``cs(User-Agent)`` -> ``cs_user_agent``).

Every output table ends with two columns the formats do not have themselves:

* ``extra_fields`` (``list<string>``): fields after the last known one, raw, in order. AWS appends new fields
  at the end and tells readers to ignore the ones they do not know; we keep them instead of rejecting the line.
* ``event_time`` (``timestamp[us, UTC]``, never null): when the event happened, for Hive partitions.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pyarrow as pa

EVENT_TIME = "event_time"
EXTRA_FIELDS = "extra_fields"
TIMESTAMP = pa.timestamp("us", tz="UTC")


class Kind(enum.Enum):
    """How one delimited token is read; ``-`` always means missing (null)."""

    STR = "str"
    INT32 = "int32"
    INT64 = "int64"
    FLOAT64 = "float64"
    ISO_TS = "iso_ts"  # ISO 8601 with zone, e.g. 2018-07-02T22:23:00.186641Z
    UTC_SECONDS = "utc_seconds"  # YYYY-MM-DDTHH:MM:SS without zone, in UTC (NLB), e.g. 2018-12-20T02:59:40
    HOSTPORT = "hostport"  # ip:port, [ipv6]:port or bare ipv6:port; becomes <name>_ip/<name>_port
    S3_TIME = "s3_time"  # "[06/Feb/2019:00:00:38" half of the S3 time field
    S3_TZ = "s3_tz"  # "+0000]" half of the S3 time field
    DATE = "date"  # YYYY-MM-DD (CloudFront)
    CLOCK = "clock"  # HH:MM:SS (CloudFront), kept as a string

    @property
    def read_type(self) -> pa.DataType:
        """The Arrow type the fast reader converts the token to."""
        return _READ_TYPES[self]


_READ_TYPES: dict[Kind, pa.DataType] = {
    Kind.STR: pa.string(),
    Kind.INT32: pa.int32(),
    Kind.INT64: pa.int64(),
    Kind.FLOAT64: pa.float64(),
    Kind.ISO_TS: TIMESTAMP,
    Kind.UTC_SECONDS: pa.string(),  # checked and converted exactly in rows.finish, as the line-by-line parser does
    Kind.HOSTPORT: pa.string(),
    Kind.S3_TIME: pa.string(),
    Kind.S3_TZ: pa.string(),
    Kind.DATE: pa.string(),
    Kind.CLOCK: pa.string(),
}


@dataclass(frozen=True)
class Field:
    """One delimited token of a log line; ``values``, when set, are the only tokens the field may hold."""

    name: str
    kind: Kind = Kind.STR
    values: frozenset[str] | None = None


class EventTime(enum.Enum):
    """Where a format's event time comes from."""

    ISO_COLUMN = "iso_column"  # ALB: the `time` token
    S3_BRACKETED = "s3_bracketed"  # S3: `[dd/Mon/yyyy:HH:MM:SS +zzzz]`
    EPOCH_START = "epoch_start"  # VPC: `start` (Unix seconds), else `end`
    DATE_AND_CLOCK = "date_and_clock"  # CloudFront: `date` + `time` (UTC)


@dataclass(frozen=True)
class Layout:
    """The token list that the lines of one object follow.

    A line has at least ``min_fields`` tokens; tokens after the known fields go to ``extra_fields``, unless
    ``max_fields`` caps them (a layout that cannot tell where a line's fields are when it has more). ``origin`` says
    where the layout came from, for the reasons of rejected lines.
    """

    fields: tuple[Field, ...]
    min_fields: int
    max_fields: int | None = None
    origin: str = ""

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]


@dataclass(frozen=True)
class Versioned:
    """A format whose records name their version in ``field``; ``min_fields``: the fields each version's records have.

    A record of a known version with fewer fields is truncated and rejected; a record of a version not listed is
    rejected too (the field's ``values``), never read with a guessed layout.
    """

    field: str
    min_fields: dict[str, int]


@dataclass(frozen=True)
class LogFormat:
    """A delimited AWS log format.

    ``is_skip_line`` tells non-log lines (headers, test objects) from data and names them; ``layout_from_header``
    reads a header line that defines the layout of the lines after it (VPC custom formats, CloudFront #Fields);
    ``layout_from_config``, when the format has one, reads the field list the source was configured with (a VPC
    flow log's LogFormat) for files without a header, and raises ``ValueError`` saying what is wrong with it.

    In a ``quoted`` format a field is either bare (no quote, no delimiter) or opens with a quote at its start and
    closes at the next quote, which the delimiter or the end of the line follows; any other quote is malformed.
    """

    name: str
    delimiter: str
    quoted: bool
    default_layout: Layout
    event_time: EventTime
    event_time_fields: tuple[str, ...]
    is_skip_line: Callable[[str], str | None]
    layout_from_header: Callable[[str], Layout | None]
    layout_from_config: Callable[[str], Layout] | None = None
    versioned: Versioned | None = None


def identifier(aws_name: str) -> str:
    """AWS field name -> column name (``cs(User-Agent)`` -> ``cs_user_agent``)."""
    name = re.sub(r"[^0-9A-Za-z]+", "_", aws_name).strip("_").lower()
    return name


def _no_header(_line: str) -> Layout | None:
    return None


# --- ALB: docs 2023-06 field list (1-29), then fields AWS appended later (30-33). ---
ALB_TYPES = frozenset({"http", "https", "h2", "grpcs", "ws", "wss"})
ALB_FIELDS = (
    Field("type", values=ALB_TYPES),
    Field("time", Kind.ISO_TS),
    Field("elb"),
    Field("client", Kind.HOSTPORT),
    Field("target", Kind.HOSTPORT),
    Field("request_processing_time", Kind.FLOAT64),
    Field("target_processing_time", Kind.FLOAT64),
    Field("response_processing_time", Kind.FLOAT64),
    Field("elb_status_code", Kind.INT32),
    Field("target_status_code"),
    Field("received_bytes", Kind.INT64),
    Field("sent_bytes", Kind.INT64),
    Field("request"),
    Field("user_agent"),
    Field("ssl_cipher"),
    Field("ssl_protocol"),
    Field("target_group_arn"),
    Field("trace_id"),
    Field("domain_name"),
    Field("chosen_cert_arn"),
    Field("matched_rule_priority"),
    Field("request_creation_time", Kind.ISO_TS),
    Field("actions_executed"),
    Field("redirect_url"),
    Field("error_reason"),
    Field("target_port_list"),
    Field("target_status_code_list"),
    Field("classification"),
    Field("classification_reason"),
    Field("conn_trace_id"),
    Field("transformed_host"),
    Field("transformed_uri"),
    Field("request_transform_status"),
)


_ELB_TEST_LINE = re.compile(r"Enable AccessLog(?: for ELB: .*)?")


def _alb_skip(line: str) -> str | None:
    # ELB writes this object (ELBAccessLogTestFile) when access logging is switched on: one line,
    # "Enable AccessLog for ELB: <name> at <time>"; it may be read under any key (a copy, a forced format).
    if _ELB_TEST_LINE.fullmatch(line.strip()):
        return "ELB access-log test object"
    return None


ALB = LogFormat(
    name="alb",
    delimiter=" ",
    quoted=True,
    # Lines from before 2017 end at trace_id; later fields were appended over the years.
    default_layout=Layout(ALB_FIELDS, min_fields=18),
    event_time=EventTime.ISO_COLUMN,
    event_time_fields=("time",),
    is_skip_line=_alb_skip,
    layout_from_header=_no_header,
)

# --- S3 server access logs: the Time field is "[06/Feb/2019:00:00:38 +0000]", two tokens. ---
S3_FIELDS = (
    Field("bucket_owner"),
    Field("bucket"),
    Field("time", Kind.S3_TIME),
    Field("time_offset", Kind.S3_TZ),
    Field("remote_ip"),
    Field("requester"),
    Field("request_id"),
    Field("operation"),
    Field("key"),
    Field("request_uri"),
    Field("http_status", Kind.INT32),
    Field("error_code"),
    Field("bytes_sent", Kind.INT64),
    Field("object_size", Kind.INT64),
    Field("total_time", Kind.INT64),
    Field("turn_around_time", Kind.INT64),
    Field("referer"),
    Field("user_agent"),
    Field("version_id"),
    Field("host_id"),
    Field("signature_version"),
    Field("cipher_suite"),
    Field("authentication_type"),
    Field("host_header"),
    Field("tls_version"),
    Field("access_point_arn"),
    Field("acl_required"),
)


def _never_skip(_line: str) -> str | None:
    return None


S3_ACCESS = LogFormat(
    name="s3_access",
    delimiter=" ",
    quoted=True,
    # Older records end at Version Id (field 18, token 19); the Athena DDL makes the rest optional too.
    default_layout=Layout(S3_FIELDS, min_fields=19),
    event_time=EventTime.S3_BRACKETED,
    event_time_fields=("time", "time_offset"),
    is_skip_line=_never_skip,
    layout_from_header=_no_header,
)

# --- VPC Flow Logs: any field subset/order; S3 text files start with a header naming them. ---
VPC_KINDS: dict[str, Kind] = {
    "version": Kind.INT32,
    "srcport": Kind.INT32,
    "dstport": Kind.INT32,
    "protocol": Kind.INT32,
    "packets": Kind.INT64,
    "bytes": Kind.INT64,
    "start": Kind.INT64,
    "end": Kind.INT64,
    "tcp_flags": Kind.INT32,
    "traffic_path": Kind.INT32,
}
VPC_KNOWN_NAMES = frozenset(
    {
        *VPC_KINDS,
        "account_id",
        "interface_id",
        "srcaddr",
        "dstaddr",
        "action",
        "log_status",
        "vpc_id",
        "subnet_id",
        "instance_id",
        "type",
        "pkt_srcaddr",
        "pkt_dstaddr",
        "region",
        "az_id",
        "sublocation_type",
        "sublocation_id",
        "pkt_src_aws_service",
        "pkt_dst_aws_service",
        "flow_direction",
    }
)
VPC_DEFAULT_NAMES = (
    "version account_id interface_id srcaddr dstaddr srcport dstport protocol packets bytes start end action log_status"
).split()
_FIELD_NAME = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")


def _vpc_layout(names: Sequence[str], origin: str = "") -> Layout:
    # A flow log's format is fixed when it is created: every record has exactly its fields, so a line with more
    # is not a record of that format (AWS adds fields as new format versions, never to an existing flow log).
    fields = tuple(Field(n, VPC_KINDS.get(n, Kind.STR)) for n in names)
    return Layout(fields, min_fields=len(fields), max_fields=len(fields), origin=origin)


def _vpc_header(line: str) -> Layout | None:
    tokens = line.split()
    if not tokens or not all(_FIELD_NAME.fullmatch(t) for t in tokens):
        return None
    names = [identifier(t) for t in tokens]
    known = sum(n in VPC_KNOWN_NAMES for n in names)
    if known * 2 < len(names):
        return None
    return _vpc_layout(names, "the header line")


_LOG_FORMAT = re.compile(r"\$\{([a-z][a-z0-9]*(?:[-_][a-z0-9]+)*)\}(?: \$\{([a-z][a-z0-9]*(?:[-_][a-z0-9]+)*)\})*")
_LOG_FORMAT_FIELD = re.compile(r"\$\{([^}]*)\}")


def vpc_layout_from_log_format(log_format: str) -> Layout:
    """The layout of a flow log created with ``log_format`` (``${version} ${account-id} ...``, its LogFormat).

    Field names this release does not know are kept as string columns; the format must name ``start`` or ``end``,
    where the event time comes from.
    """
    if not _LOG_FORMAT.fullmatch(log_format):
        raise ValueError(
            f"log_format must be ${{field}} names separated by single spaces, as the flow log's LogFormat "
            f"('${{version}} ${{account-id}} ${{interface-id}} ...'), got {log_format[:80]!r}"
        )
    names = [identifier(n) for n in _LOG_FORMAT_FIELD.findall(log_format)]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"log_format names a field more than once: {', '.join(repeated)}")
    if not {"start", "end"} & set(names):
        raise ValueError("log_format must name start or end: the event time of a record comes from them")
    return _vpc_layout(names, "the configured log format")


def _vpc_skip(line: str) -> str | None:
    if _vpc_header(line) is not None:
        return "VPC flow log header line"
    return None


VPC_FLOW = LogFormat(
    name="vpc_flow",
    delimiter=" ",
    quoted=False,
    default_layout=_vpc_layout(VPC_DEFAULT_NAMES, "the default format (no header line and no configured log format)"),
    event_time=EventTime.EPOCH_START,
    event_time_fields=("start", "end"),
    is_skip_line=_vpc_skip,
    layout_from_header=_vpc_header,
    layout_from_config=vpc_layout_from_log_format,
)

# --- CloudFront standard (legacy) logs: W3C, tab separated, #Version/#Fields headers. ---
CLOUDFRONT_AWS_NAMES = (
    "date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) "
    "cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol "
    "cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type "
    "cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte "
    "x-edge-detailed-result-type sc-content-type sc-content-len sc-range-start sc-range-end"
).split()
CLOUDFRONT_KINDS: dict[str, Kind] = {
    "date": Kind.DATE,
    "time": Kind.CLOCK,
    "sc_bytes": Kind.INT64,
    "sc_status": Kind.INT32,
    "cs_bytes": Kind.INT64,
    "time_taken": Kind.FLOAT64,
    "fle_encrypted_fields": Kind.INT32,
    "c_port": Kind.INT32,
    "time_to_first_byte": Kind.FLOAT64,
    "sc_content_len": Kind.INT64,
    "sc_range_start": Kind.INT64,
    "sc_range_end": Kind.INT64,
}


def _cloudfront_layout(aws_names: Sequence[str]) -> Layout:
    fields = tuple(Field(n, CLOUDFRONT_KINDS.get(n, Kind.STR)) for n in map(identifier, aws_names))
    # The oldest published records stop at cs-uri-query (12 fields); date and time are always there.
    return Layout(fields, min_fields=min(12, len(fields)))


def _cloudfront_header(line: str) -> Layout | None:
    if not line.startswith("#Fields:"):
        return None
    names = line[len("#Fields:") :].split()
    if "date" not in names or "time" not in names:
        return None
    # The header names the fields every record of the file has: a shorter record is truncated, not older.
    fields = _cloudfront_layout(names).fields
    return Layout(fields, min_fields=len(fields), origin="the #Fields header")


def _cloudfront_skip(line: str) -> str | None:
    if line.startswith("#"):
        return "W3C header line"
    return None


CLOUDFRONT = LogFormat(
    name="cloudfront",
    delimiter="\t",
    quoted=False,
    default_layout=_cloudfront_layout(CLOUDFRONT_AWS_NAMES),
    event_time=EventTime.DATE_AND_CLOCK,
    event_time_fields=("date", "time"),
    is_skip_line=_cloudfront_skip,
    layout_from_header=_cloudfront_header,
)

# --- Network Load Balancer access logs (TLS listeners only): space-delimited, no quoted fields. ---
# Version 1.0 records end at domain_name; 2.0 appended the ALPN fields and tls_connection_creation_time. The
# ALPN preference list is written as "h2","http/1.1": quotes inside one space-free field, kept as written.
NLB_VERSIONS = {"1.0": 18, "2.0": 22}
NLB_FIELDS = (
    Field("type", values=frozenset({"tls"})),
    Field("version", values=frozenset(NLB_VERSIONS)),
    Field("time", Kind.UTC_SECONDS),
    Field("elb"),
    Field("listener"),
    Field("client", Kind.HOSTPORT),
    Field("destination", Kind.HOSTPORT),
    Field("connection_time", Kind.FLOAT64),  # milliseconds
    Field("tls_handshake_time", Kind.FLOAT64),  # milliseconds
    Field("received_bytes", Kind.INT64),
    Field("sent_bytes", Kind.INT64),
    Field("incoming_tls_alert", Kind.INT32),
    Field("chosen_cert_arn"),
    Field("chosen_cert_serial"),
    Field("tls_cipher"),
    Field("tls_protocol_version"),
    Field("tls_named_group"),
    Field("domain_name"),
    Field("alpn_fe_protocol"),
    Field("alpn_be_protocol"),
    Field("alpn_client_preference_list"),
    Field("tls_connection_creation_time", Kind.UTC_SECONDS),
)

NLB = LogFormat(
    name="nlb",
    delimiter=" ",
    quoted=False,
    default_layout=Layout(NLB_FIELDS, min_fields=min(NLB_VERSIONS.values())),
    event_time=EventTime.ISO_COLUMN,
    event_time_fields=("time",),
    is_skip_line=_alb_skip,  # ELB writes the same test object for every load balancer type
    layout_from_header=_no_header,
    versioned=Versioned("version", NLB_VERSIONS),
)

# --- Classic Load Balancer access logs: ALB's quoting; TCP/SSL listener lines hold "-" and "- - - ". ---
CLASSIC_ELB_FIELDS = (
    Field("timestamp", Kind.ISO_TS),
    Field("elb"),
    Field("client", Kind.HOSTPORT),
    Field("backend", Kind.HOSTPORT),  # "-" when the request could not be dispatched
    Field("request_processing_time", Kind.FLOAT64),  # -1 when the request could not be dispatched
    Field("backend_processing_time", Kind.FLOAT64),
    Field("response_processing_time", Kind.FLOAT64),
    Field("elb_status_code", Kind.INT32),
    Field("backend_status_code"),
    Field("received_bytes", Kind.INT64),
    Field("sent_bytes", Kind.INT64),
    Field("request"),
    Field("user_agent"),
    Field("ssl_cipher"),
    Field("ssl_protocol"),
)

CLASSIC_ELB = LogFormat(
    name="classic_elb",
    delimiter=" ",
    quoted=True,
    # Records from before 2015 end at "request"; user_agent, ssl_cipher and ssl_protocol were appended then.
    default_layout=Layout(CLASSIC_ELB_FIELDS, min_fields=12),
    event_time=EventTime.ISO_COLUMN,
    event_time_fields=("timestamp",),
    is_skip_line=_alb_skip,
    layout_from_header=_no_header,
)

DELIMITED_FORMATS: dict[str, LogFormat] = {f.name: f for f in (ALB, S3_ACCESS, VPC_FLOW, CLOUDFRONT, NLB, CLASSIC_ELB)}
CLOUDTRAIL = "cloudtrail"
CLOUDWATCH_LOGS = "cloudwatch_logs"  # subscription payloads delivered by Firehose (functions/log_etl/cloudwatch.py)
WAF = "waf"  # AWS WAF web ACL traffic logs, JSON lines (functions/log_etl/waf.py)
FORMAT_NAMES = (*DELIMITED_FORMATS, CLOUDTRAIL, CLOUDWATCH_LOGS, WAF)
