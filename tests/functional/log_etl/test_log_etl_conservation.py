"""Conservation through the whole pipeline: every line of generated input is a row, a reject or a skip."""

from __future__ import annotations

import gzip
import io
import itertools
import json

import pyarrow.parquet as pq
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from functions.log_etl.handler import handler
from tests.functional.log_etl.conftest import KEYS, LAKE, Lake, fixture, sqs_event
from tests.helpers import FakeContext

ALB_LINES = fixture("alb/awsdocs-elb-alb-guide_2023-06_examples.joined.log").splitlines()
VPC_LINES = [
    b"2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 "
    b"ACCEPT OK",
    b"2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA",
]
_counter = itertools.count()


def _mutate(line: bytes, cut: int, junk: bytes) -> bytes:
    return line[: cut % (len(line) + 1)] + junk


line_strategy = st.one_of(
    st.sampled_from(ALB_LINES),
    st.builds(_mutate, st.sampled_from(ALB_LINES), st.integers(0, 400), st.binary(max_size=20)),
    st.binary(max_size=60).map(lambda b: b.replace(b"\n", b" ")),
    st.just(b""),
    st.just(b"Enable AccessLog"),
)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(lines=st.lists(line_strategy, max_size=40), gz=st.booleans())
@example(lines=[ALB_LINES[0], ALB_LINES[1][:40] + b"\xff", b"", b"Enable AccessLog", ALB_LINES[2], b"junk"], gz=True)
@example(lines=[ALB_LINES[0], b"not a log line", b""], gz=False)
def test_alb_lines_in_equal_rows_out_plus_rejected_plus_skipped(lake: Lake, lines: list[bytes], gz: bool) -> None:
    data = b"\n".join(line.replace(b"\n", b" ") for line in lines) + (b"\n" if lines else b"")
    assume(gz or not data.startswith(b"\x1f\x8b"))  # the gzip magic number: read as (corrupt) gzip, by design
    key = KEYS["alb"].replace("2n3g4h5i", f"p{next(_counter):07d}")
    obj = lake.put(key, data, gz=gz)

    assert handler(sqs_event([obj]), FakeContext()) == {"batchItemFailures": []}

    manifests = [k for k in lake.keys("manifests/") if key in k]
    if obj["size"] == 0:
        assert manifests == []  # an empty object is skipped before it is read
        return
    (manifest_key,) = manifests
    manifest = json.loads(lake.s3.get_object(Bucket=LAKE, Key=manifest_key)["Body"].read())
    assert manifest["lines_in"] == data.count(b"\n")
    assert manifest["lines_in"] == manifest["rows_out"] + manifest["rows_rejected"] + manifest["lines_skipped"]
    assert sum(manifest["skip_reasons"].values()) == manifest["lines_skipped"]  # every skip has its reason
    rows = sum(pq.read_metadata(io.BytesIO(_get(lake, k))).num_rows for k in manifest["files"])
    assert rows == manifest["rows_out"]
    rejected = 0
    if manifest["quarantine"]:
        rejected = len(gzip.decompress(_get(lake, manifest["quarantine"])).splitlines())
    assert rejected == manifest["rows_rejected"]


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(lines=st.lists(st.one_of(st.sampled_from(VPC_LINES), st.text(max_size=30)), min_size=1, max_size=30))
def test_vpc_flow_conservation_with_a_header(lake: Lake, lines: list[str | bytes]) -> None:
    header = (
        b"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action "
        b"log-status"
    )
    body = [x if isinstance(x, bytes) else x.encode().replace(b"\n", b" ").replace(b"\r", b" ") for x in lines]
    data = b"\n".join([header, *body]) + b"\n"
    key = KEYS["vpc_flow"].replace("0a1b2c3d", f"{next(_counter):08x}")
    obj = lake.put(key, data, gz=True)

    assert handler(sqs_event([obj]), FakeContext()) == {"batchItemFailures": []}

    (manifest_key,) = [k for k in lake.keys("manifests/") if key in k]
    manifest = json.loads(_get(lake, manifest_key))
    assert manifest["lines_in"] == len(body) + 1
    assert manifest["lines_in"] == manifest["rows_out"] + manifest["rows_rejected"] + manifest["lines_skipped"]
    assert manifest["balanced"] is True
    assert manifest["lines_skipped"] >= 1  # the header
    assert sum(manifest["skip_reasons"].values()) == manifest["lines_skipped"]
    assert manifest["rows_out"] >= sum(isinstance(x, bytes) for x in lines)  # every documented record is a row
    rows = sum(pq.read_metadata(io.BytesIO(_get(lake, k))).num_rows for k in manifest["files"])
    assert rows == manifest["rows_out"]


def _get(lake: Lake, key: str) -> bytes:
    return lake.s3.get_object(Bucket=LAKE, Key=key)["Body"].read()
