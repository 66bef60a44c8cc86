"""Logging checks (CloudTrail once per account, log group retention per region) and required tags."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from functions.resource_audit.checks.base import (
    CheckEnv,
    Inventory,
    Outcome,
    OutcomeStatus,
    SourceError,
    check,
    flag,
    tags_of,
)
from functions.resource_audit.models import ResourceAuditInput


@check(
    id="cloudtrail-multi-region-logging",
    title="No multi-region CloudTrail trail is logging",
    category="security",
    severity="high",
    scope="account",
    needs=("trails",),
    looks_at="DescribeTrails (shadow trails included, one region) and GetTrailStatus of each multi-region trail; "
    "ERROR when none is seen logging and the status of one could not be read",
    remediation="Create a multi-region trail (or an organization trail) writing to a protected bucket, and keep "
    "it logging.",
    link="https://docs.aws.amazon.com/awscloudtrail/latest/userguide/receive-cloudtrail-log-files-from-multiple-regions.html",
    cis=("3.1",),
    prowler=("cloudtrail_multi_region_enabled",),
)
def multi_region_trail(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    seen = []
    for item in inv["trails"]:
        trail, status = item["trail"], item["status"]
        if not trail.get("IsMultiRegionTrail"):
            continue
        name = trail.get("TrailARN") or trail.get("Name", "")
        logging = None if isinstance(status, SourceError) else flag(status.get("IsLogging"))
        if logging:
            yield Outcome(name, "trail", "PASS", f"{trail.get('Name')} is multi-region and logging", arn=name)
            return
        if logging is None:
            why = status.code if isinstance(status, SourceError) else "IsLogging not reported"
            seen.append(f"{trail.get('Name')}: status unknown ({why})")
        else:
            seen.append(f"{trail.get('Name')}: not logging")
    unknown = any("status unknown" in s for s in seen)  # a trail whose status could not be read may be logging
    yield Outcome(
        resource=inv.account,
        resource_type="account-setting",
        status="ERROR" if unknown else "FAIL",
        evidence="; ".join(seen) or "no multi-region trail",
    )


@check(
    id="logs-group-no-retention",
    title="CloudWatch log group keeps logs forever",
    category="cost",
    severity="low",
    scope="region",
    needs=("log_groups",),
    looks_at="DescribeLogGroups: no retentionInDays",
    remediation="Set a retention period (aws logs put-retention-policy); export what must be kept longer to S3.",
    link="https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/Working-with-log-groups-and-streams.html",
    prowler=("cloudwatch_log_group_retention_policy_specific_days_enabled",),
)
def log_retention(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    for g in inv["log_groups"]:
        name = g["logGroupName"]
        arn = g.get("logGroupArn") or str(g.get("arn", "")).removesuffix(":*") or None
        days = g.get("retentionInDays")
        stored = int(g.get("storedBytes", 0))
        if days:
            yield Outcome(name, "log-group", "PASS", f"retention {days} days", arn=arn)
        else:
            yield Outcome(name, "log-group", "FAIL", f"never expires ({stored / 1e9:.2f} GB stored)", arn=arn)


def _missing(required: list[str], tags: dict[str, str]) -> list[str]:
    return [t for t in required if not tags.get(t)]


def _tagged_ec2(inv: Inventory, env: CheckEnv) -> Iterator[tuple[str, str, str, dict[str, str]]]:
    types = env.params.tagged_types
    sources: list[tuple[str, str, str, str, bool]] = [
        ("instance", "instances", "InstanceId", "instance", True),
        ("volume", "volumes", "VolumeId", "volume", True),
        ("snapshot", "snapshots", "SnapshotId", "snapshot", False),
        ("security-group", "security_groups", "GroupId", "security-group", True),
    ]
    for kind, source, id_key, arn_kind, with_account in sources:
        if kind not in types:
            continue
        raw: list[dict[str, Any]] = inv.data.get(source, [])
        for item in raw:
            rid = item[id_key]
            yield kind, rid, inv.arn("ec2", f"{arn_kind}/{rid}", account=with_account), tags_of(item.get("Tags"))


EC2_SOURCES = {
    "instance": "instances",
    "volume": "volumes",
    "snapshot": "snapshots",
    "security-group": "security_groups",
}


def _ec2_needs(params: ResourceAuditInput) -> tuple[str, ...]:
    return tuple(EC2_SOURCES[t] for t in params.tagged_types if t in EC2_SOURCES)


@check(
    id="tags-required-ec2",
    title="EC2 resource is missing required tags",
    category="cost",
    severity="low",
    scope="region",
    needs=_ec2_needs,
    looks_at="The tags already returned by the EC2 listings (instances, volumes, snapshots, security groups as "
    "set in tagged_types) against required_tags",
    remediation="Add the missing tags (Owner, cost centre...) or enforce them with an AWS Organizations tag "
    "policy and activate them as cost allocation tags.",
    link="https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_tag-policies.html",
)
def ec2_tags(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    required = env.params.required_tags
    for kind, rid, arn, tags in _tagged_ec2(inv, env):
        missing = _missing(required, tags)
        status: OutcomeStatus = "FAIL" if missing else "PASS"
        evidence = ("missing " + ", ".join(missing)) if missing else "has " + ", ".join(required)
        yield Outcome(rid, kind, status, evidence, arn=arn, tags=tags)


@check(
    id="tags-required-s3",
    title="S3 bucket is missing required tags",
    category="cost",
    severity="low",
    scope="account",
    needs=("buckets",),
    looks_at="Resource Groups Tagging API GetResources (type s3, one paginated listing per region; GetBucketTagging "
    "per bucket where it fails), read once, also for suppression tags, against required_tags",
    remediation="Add the missing tags to the bucket (put-bucket-tagging replaces the whole tag set).",
    link="https://docs.aws.amazon.com/AmazonS3/latest/userguide/CostAllocTagging.html",
)
def s3_tags(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    required = env.params.required_tags
    for b in inv["buckets"]:
        tags = b.get("tags")
        arn = f"arn:{inv.partition}:s3:::{b['Name']}"
        region = b.get("Region") or None
        if isinstance(tags, SourceError):
            yield Outcome(b["Name"], "bucket", "ERROR", f"could not read tags: {tags}", arn=arn, region=region)
            continue
        missing = _missing(required, tags or {})
        status: OutcomeStatus = "FAIL" if missing else "PASS"
        evidence = ("missing " + ", ".join(missing)) if missing else "has " + ", ".join(required)
        yield Outcome(b["Name"], "bucket", status, evidence, arn=arn, tags=tags or {}, region=region)
