"""Load balancers, NAT gateways and io1/io2 volumes paid for and not used: pure checks over hand-made inventories,
and GetMetricData batched at 500 queries a call with every page read (served by a botocore hook)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from functions.resource_audit import metrics
from functions.resource_audit.checks import BY_ID
from functions.resource_audit.checks.base import CheckEnv, Inventory, SourceError
from functions.resource_audit.models import ResourceAuditInput
from tests.faults import _api_params, _events

NOW = datetime(2025, 6, 30, tzinfo=UTC)
OLD, NEW = NOW - timedelta(days=60), NOW - timedelta(days=3)
ALB = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188"
TG = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/73e2d6bc24d8a067"


def _run(check_id: str, data: dict[str, Any]) -> list[tuple[str, str, float | None]]:
    inv = Inventory(account="123456789012", region="eu-west-1", data=data)
    return [(o.resource, o.status, o.saving) for o in BY_ID[check_id].run(inv, CheckEnv(ResourceAuditInput(), NOW))]


def _lb(health: Any, requests: Any, created: datetime = OLD, groups: bool = True, kind: str = "application") -> Any:
    lb = {"LoadBalancerArn": ALB, "LoadBalancerName": "web", "Type": kind, "CreatedTime": created}
    data = {
        "load_balancers": [lb],
        "target_groups": [{"TargetGroupArn": TG, "LoadBalancerArns": [ALB]}] if groups else [],
        "target_health": {TG: health},
        "lb_requests": {(ALB, "RequestCount"): requests},
    }
    return _run("elb-idle", data)


HEALTHY = [{"Id": "i-1", "State": "healthy"}]
UNHEALTHY = [{"Id": "i-1", "State": "unhealthy"}]


@pytest.mark.parametrize(
    ("health", "requests", "created", "groups", "status"),
    [
        (HEALTHY, 1200.0, OLD, True, "PASS"),
        (UNHEALTHY, 1200.0, OLD, True, "FAIL"),
        (HEALTHY, 0.0, OLD, True, "FAIL"),
        ([], 5.0, OLD, True, "FAIL"),
        (HEALTHY, 5.0, OLD, False, "FAIL"),  # no target group at all
        (HEALTHY, 0.0, NEW, True, "PASS"),  # too young to judge
        (SourceError("AccessDenied", ""), 1200.0, OLD, True, "ERROR"),
        (HEALTHY, SourceError("StatusCode InternalError", ""), OLD, True, "ERROR"),
        (SourceError("AccessDenied", ""), 0.0, OLD, True, "FAIL"),  # no requests is enough
    ],
)
def test_a_load_balancer_without_healthy_targets_or_requests_fails(
    health: Any, requests: Any, created: datetime, groups: bool, status: str
) -> None:
    [(name, got, saving)] = _lb(health, requests, created, groups)
    assert (name, got) == ("web", status)
    assert (saving is not None) == (status == "FAIL")


def test_a_gateway_load_balancer_is_not_judged() -> None:
    assert _lb(HEALTHY, 0.0, kind="gateway") == []


def _nat(out_dest: Any, out_src: Any, created: datetime = OLD) -> list[tuple[str, str, float | None]]:
    data = {
        "nat_gateways": [{"NatGatewayId": "nat-1", "CreateTime": created}],
        "nat_traffic": {("nat-1", "BytesOutToDestination"): out_dest, ("nat-1", "BytesOutToSource"): out_src},
    }
    return _run("ec2-nat-gateway-idle", data)


@pytest.mark.parametrize(
    ("dest", "src", "created", "status"),
    [
        (0.0, 0.0, OLD, "FAIL"),
        (0.0, 10.0, OLD, "PASS"),
        (1e9, 0.0, OLD, "PASS"),
        (0.0, 0.0, NEW, "PASS"),
        (SourceError("StatusCode PartialData", ""), 0.0, OLD, "ERROR"),
    ],
)
def test_a_nat_gateway_without_traffic_fails_with_its_hourly_cost(
    dest: Any, src: Any, created: datetime, status: str
) -> None:
    [(_, got, saving)] = _nat(dest, src, created)
    assert got == status
    if status == "FAIL":
        assert saving == pytest.approx(32.85)


def _io(iops: Any, read_max: Any, write_max: Any, kind: str = "io1", created: datetime = OLD) -> Any:
    volume = {"VolumeId": "vol-1", "VolumeType": kind, "State": "in-use", "Iops": iops, "CreateTime": created}
    data = {"volumes": [volume], "volume_iops": {("vol-1", "VolumeReadOps"): read_max,
                                                 ("vol-1", "VolumeWriteOps"): write_max}}  # fmt: skip
    return _run("ebs-io-overprovisioned", data)


@pytest.mark.parametrize(
    ("iops", "read", "write", "status", "saving"),
    [
        (10_000, 60 * 1000.0, 60 * 500.0, "FAIL", (10_000 - 3000) * 0.065),  # peak 1,500 IOPS: keep 3,000
        (10_000, 60 * 4000.0, 60 * 1000.0, "PASS", None),  # peak 5,000: half of it
        (1000, 0.0, 0.0, "FAIL", (1000 - 100) * 0.065),  # never used: keep the 100 minimum
        (None, 0.0, 0.0, "ERROR", None),
        (1000, SourceError("StatusCode Forbidden", ""), 0.0, "ERROR", None),
    ],
)
def test_an_io_volume_far_above_its_peak_iops_fails_with_the_iops_it_could_drop(
    iops: Any, read: Any, write: Any, status: str, saving: float | None
) -> None:
    [(_, got, money)] = _io(iops, read, write)
    assert got == status
    assert money == (pytest.approx(round(saving, 2)) if saving is not None else None)


def test_only_in_use_io_volumes_old_enough_are_judged() -> None:
    assert _io(1000, 0.0, 0.0, kind="gp3") == []
    assert [s for _, s, _ in _io(1000, 0.0, 0.0, created=NEW)] == ["PASS"]


class FakeCloudWatch:
    """GetMetricData as CloudWatch answers it: each call's queries over two pages (PartialData, then Complete)."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def attach(self, client: Any) -> None:
        _events(client).register_first("before-call.cloudwatch.GetMetricData", self._answer)

    def _answer(self, context: dict[str, Any] | None = None, **_: Any) -> tuple[AWSResponse, Any]:
        params = _api_params(context)
        ids = [q["Id"] for q in params["MetricDataQueries"]]
        assert len(ids) <= metrics.MAX_QUERIES
        assert params["EndTime"] - params["StartTime"] == timedelta(days=metrics.WINDOW_DAYS)
        self.calls.append(len(ids))
        first = "NextToken" not in params
        results = [{"Id": i, "Values": [1.0, 2.0], "StatusCode": "PartialData" if first else "Complete"} for i in ids]
        page: dict[str, Any] = {"MetricDataResults": results, "ResponseMetadata": {"HTTPStatusCode": 200}}
        if first:
            page["NextToken"] = "more"
        return AWSResponse("", 200, {}, None), page  # type: ignore[arg-type]


def _queries(n: int, stat: str = "Sum") -> list[metrics.Query]:
    return [metrics.Query(f"nat-{i}", "AWS/NATGateway", "BytesOutToSource", (("NatGatewayId", f"nat-{i}"),), stat,
                          86400) for i in range(n)]  # fmt: skip


def _cloudwatch() -> tuple[Any, FakeCloudWatch]:
    cw = boto3.client("cloudwatch", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    fake = FakeCloudWatch()
    fake.attach(cw)
    return cw, fake


def test_queries_go_500_a_call_and_every_page_is_read() -> None:
    cw, fake = _cloudwatch()
    got = metrics.read(cw, _queries(1201), NOW)
    assert fake.calls == [500, 500, 500, 500, 201, 201]  # each batch over two pages
    assert len(fake.calls) == 2 * math.ceil(1201 / 500)
    assert set(got.values()) == {6.0}  # 1 + 2 on each page, summed
    assert len(got) == 1201


def test_the_maximum_statistic_keeps_the_largest_value() -> None:
    cw, _ = _cloudwatch()
    assert set(metrics.read(cw, _queries(3, "Maximum"), NOW).values()) == {2.0}


def test_a_failed_call_makes_its_batch_error_and_no_query_is_no_call() -> None:
    from tests.faults import ErrorOn

    cw, fake = _cloudwatch()
    assert metrics.read(cw, [], NOW) == {}
    assert fake.calls == []
    denied = boto3.client("cloudwatch", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    ErrorOn(lambda op, params: True, "AccessDenied", status=403).attach(denied)
    got = metrics.read(denied, _queries(2), NOW)
    assert all(isinstance(v, SourceError) and v.code == "AccessDenied" for v in got.values())
