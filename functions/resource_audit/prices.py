"""The price table behind estimated savings. Estimates only: list prices, one region, no discounts or tiers."""

from __future__ import annotations

from functions.resource_audit.findings import PriceSource

SOURCE = PriceSource(
    source="AWS public price pages: aws.amazon.com/ebs/pricing (volumes, snapshots) and "
    "aws.amazon.com/vpc/pricing (public IPv4 addresses), us-east-1 on-demand list prices",
    as_of="2025-01",
    note="Estimated monthly savings, not quotes: us-east-1 list prices applied to every region (most other "
    "regions cost 0-30% more), no Savings Plans or discounts; snapshot savings assume the full volume size, "
    "an upper bound since snapshots are incremental; provisioned IOPS and throughput are not counted.",
)

HOURS_PER_MONTH = 730

EBS_GB_MONTH: dict[str, float] = {
    "gp3": 0.08,
    "gp2": 0.10,
    "io1": 0.125,
    "io2": 0.125,
    "st1": 0.045,
    "sc1": 0.015,
    "standard": 0.05,
}
"""USD per GB-month of provisioned volume storage."""

SNAPSHOT_GB_MONTH = 0.05
"""USD per GB-month of EBS snapshot storage (standard tier)."""

PUBLIC_IPV4_HOUR = 0.005
"""USD per hour of a public IPv4 address, in use or idle (since February 2024)."""


def volume_month(volume_type: str, size_gb: int) -> float:
    """Monthly storage cost of a volume; unknown types are priced as gp2."""
    return EBS_GB_MONTH.get(volume_type, EBS_GB_MONTH["gp2"]) * size_gb


def gp3_saving(size_gb: int) -> float:
    return (EBS_GB_MONTH["gp2"] - EBS_GB_MONTH["gp3"]) * size_gb


def snapshot_month(size_gb: int) -> float:
    return SNAPSHOT_GB_MONTH * size_gb


def idle_ip_month() -> float:
    return PUBLIC_IPV4_HOUR * HOURS_PER_MONTH
