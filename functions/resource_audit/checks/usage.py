"""Cost checks on what is paid for and not used, per (account, region): load balancers without healthy targets or
requests, NAT gateways without traffic, io1/io2 volumes provisioned far above the IOPS they reach. Usage comes from
CloudWatch (functions/resource_audit/metrics.py) over the last 14 days; younger resources are not judged."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from functions.resource_audit.checks.base import (
    CheckEnv,
    Inventory,
    Outcome,
    OutcomeStatus,
    SourceError,
    check,
    money,
    parse_time,
    tags_of,
)
from functions.resource_audit.prices import HOURS_PER_MONTH

WINDOW_DAYS = 14
LB_METRIC = {"application": ("AWS/ApplicationELB", "RequestCount"), "network": ("AWS/NetworkELB", "NewFlowCount")}
NAT_METRICS = ("BytesOutToDestination", "BytesOutToSource")
IOPS_METRICS = ("VolumeReadOps", "VolumeWriteOps")
IOPS_USED_RATIO = 0.5
"""An io1/io2 volume whose peak IOPS stays under half of what it provisions is over-provisioned."""
IOPS_HEADROOM = 2
"""The IOPS a smaller provisioning keeps: twice the peak seen, at least 100."""
DOCS = "https://docs.aws.amazon.com/"


def lb_dimension(arn: str) -> str:
    """CloudWatch's LoadBalancer dimension: the ARN after ``loadbalancer/`` (``app/name/id``, ``net/name/id``)."""
    return arn.split(":loadbalancer/", 1)[-1]


def _too_young(created: object, env: CheckEnv) -> int | None:
    """The age in days when it is under the window (not judged), else None; an unreadable date is judged."""
    when = parse_time(created)
    if when is None:
        return None
    age = (env.now - when).days
    return age if age < WINDOW_DAYS else None


def _metric(inv: Inventory, source: str, resource: str, metric: str) -> float | SourceError:
    found = inv[source].get((resource, metric))
    return found if found is not None else SourceError("NotRead", f"{metric} not read")


@check(
    id="elb-idle",
    title="Load balancer has no healthy target or no requests in 14 days",
    category="cost",
    severity="medium",
    scope="region",
    needs=("load_balancers", "target_groups", "target_health", "lb_requests"),
    looks_at="DescribeLoadBalancers and DescribeTargetGroups (one listing each), DescribeTargetHealth per target "
    "group (no listing answers it), CloudWatch RequestCount (ALB) or NewFlowCount (NLB) summed over 14 days "
    "(GetMetricData, 500 queries a call); load balancers younger than 14 days and gateway load balancers are not "
    "judged",
    remediation="Delete the load balancer if nothing uses it any more (check DNS records and CloudFront origins "
    "that point to it first); if it should serve, fix its targets' health checks.",
    link=DOCS + "elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html",
    prowler=("elbv2_listeners_underneath",),
)
def lb_idle(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    health = inv["target_health"]
    for lb in inv["load_balancers"]:
        arn, kind = lb["LoadBalancerArn"], lb.get("Type")
        if kind not in LB_METRIC:
            continue
        name = lb.get("LoadBalancerName") or lb_dimension(arn)

        def out(
            status: OutcomeStatus, evidence: str, saving: float | None = None, _name: str = name, _arn: str = arn
        ) -> Outcome:
            return Outcome(_name, "load-balancer", status, evidence, arn=_arn, saving=saving)

        age = _too_young(lb.get("CreatedTime"), env)
        if age is not None:
            yield out("PASS", f"created {age} days ago: too new to judge")
            continue
        groups = [g for g in inv["target_groups"] if arn in (g.get("LoadBalancerArns") or [])]
        states = [health.get(g["TargetGroupArn"]) for g in groups]
        unknown = [s for s in states if not isinstance(s, list)]
        healthy = sum(1 for s in states if isinstance(s, list) for t in s if t.get("State") == "healthy")
        requests = _metric(inv, "lb_requests", arn, LB_METRIC[kind][1])
        idle_cost = money(env.prices.lb_hour * HOURS_PER_MONTH)
        problems = []
        if not groups:
            problems.append("no target group")
        elif healthy == 0 and not unknown:
            problems.append(f"no healthy target in {len(groups)} target group(s)")
        if not isinstance(requests, SourceError) and requests == 0:
            problems.append(f"no {LB_METRIC[kind][1]} in {WINDOW_DAYS} days")
        if problems:
            yield out("FAIL", "; ".join(problems), idle_cost)
        elif unknown or isinstance(requests, SourceError):
            why = [f"target health not read ({s})" for s in unknown]
            why += [f"{LB_METRIC[kind][1]} not known ({requests})"] if isinstance(requests, SourceError) else []
            yield out("ERROR", "; ".join(why))
        else:
            yield out("PASS", f"{healthy} healthy target(s), {requests:.0f} {LB_METRIC[kind][1]} in {WINDOW_DAYS} days")


@check(
    id="ec2-nat-gateway-idle",
    title="NAT gateway carried no traffic in 14 days",
    category="cost",
    severity="medium",
    scope="region",
    needs=("nat_gateways", "nat_traffic"),
    looks_at="DescribeNatGateways (available) and CloudWatch BytesOutToDestination and BytesOutToSource summed "
    "over 14 days (GetMetricData, 500 queries a call); gateways younger than 14 days are not judged",
    remediation="Delete the NAT gateway (and release its Elastic IP) if no private subnet routes through it any "
    "more; consider VPC endpoints for AWS services instead of NAT traffic.",
    link=DOCS + "vpc/latest/userguide/vpc-nat-gateway-cloudwatch.html",
)
def nat_idle(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    for gw in inv["nat_gateways"]:
        gid = gw["NatGatewayId"]

        def out(status: OutcomeStatus, evidence: str, saving: float | None = None, _gw: dict[str, Any] = gw) -> Outcome:
            rid = _gw["NatGatewayId"]
            arn = inv.arn("ec2", f"natgateway/{rid}")
            return Outcome(rid, "nat-gateway", status, evidence, arn=arn, saving=saving, tags=tags_of(_gw.get("Tags")))

        age = _too_young(gw.get("CreateTime"), env)
        if age is not None:
            yield out("PASS", f"created {age} days ago: too new to judge")
            continue
        sums = [_metric(inv, "nat_traffic", gid, m) for m in NAT_METRICS]
        unknown = [f"{m}: {s}" for m, s in zip(NAT_METRICS, sums, strict=True) if isinstance(s, SourceError)]
        if unknown:
            yield out("ERROR", "; ".join(unknown))
            continue
        total = sum(s for s in sums if not isinstance(s, SourceError))
        if total == 0:
            yield out("FAIL", f"no traffic in {WINDOW_DAYS} days", money(env.prices.nat_hour * HOURS_PER_MONTH))
        else:
            yield out("PASS", f"{total / 1e9:.2f} GB in {WINDOW_DAYS} days")


@check(
    id="ebs-io-overprovisioned",
    title="io1/io2 volume provisions far more IOPS than it uses",
    category="cost",
    severity="low",
    scope="region",
    needs=("volumes", "volume_iops"),
    looks_at="DescribeVolumes (in-use io1/io2) and CloudWatch VolumeReadOps and VolumeWriteOps (hourly Maximum of "
    "the per-minute counts, over 14 days, GetMetricData 500 queries a call): a peak under half the provisioned "
    "IOPS; volumes younger than 14 days are not judged",
    remediation="Lower the provisioned IOPS (aws ec2 modify-volume --iops N, in place), or move to gp3, which "
    "includes 3,000 IOPS and sells more at a lower price.",
    link=DOCS + "ebs/latest/userguide/using_cloudwatch_ebs.html",
)
def io_overprovisioned(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    for v in inv["volumes"]:
        if v.get("VolumeType") not in ("io1", "io2") or v.get("State") != "in-use":
            continue
        vid = v["VolumeId"]

        def out(status: OutcomeStatus, evidence: str, saving: float | None = None, _v: dict[str, Any] = v) -> Outcome:
            rid = _v["VolumeId"]
            arn = inv.arn("ec2", f"volume/{rid}")
            return Outcome(rid, "volume", status, evidence, arn=arn, saving=saving, tags=tags_of(_v.get("Tags")))

        age = _too_young(v.get("CreateTime"), env)
        if age is not None:
            yield out("PASS", f"created {age} days ago: too new to judge")
            continue
        iops = v.get("Iops")
        peaks = [_metric(inv, "volume_iops", vid, m) for m in IOPS_METRICS]
        unknown = [f"{m}: {p}" for m, p in zip(IOPS_METRICS, peaks, strict=True) if isinstance(p, SourceError)]
        if not isinstance(iops, int) or isinstance(iops, bool) or iops <= 0:
            yield out("ERROR", f"provisioned IOPS not reported ({iops!r})")
            continue
        if unknown:
            yield out("ERROR", "; ".join(unknown))
            continue
        peak = sum(p for p in peaks if not isinstance(p, SourceError)) / 60  # per-minute counts to per second
        if peak < iops * IOPS_USED_RATIO:
            keep = max(math.ceil(peak * IOPS_HEADROOM), 100)
            saving = money(max(iops - keep, 0) * env.prices.piops_month)
            yield out("FAIL", f"peak {peak:.0f} IOPS of {iops} provisioned in {WINDOW_DAYS} days", saving)
        else:
            yield out("PASS", f"peak {peak:.0f} IOPS of {iops} provisioned")
