"""The price table behind estimated savings. Estimates only: list prices, one region, no discounts or tiers."""

from __future__ import annotations

from functions.resource_audit.findings import PriceSource

SOURCE = PriceSource(
    source="AWS public price pages: aws.amazon.com/ebs/pricing (volumes, snapshots) and "
    "aws.amazon.com/vpc/pricing (public IPv4 addresses), us-east-1 on-demand list prices",
    as_of="2025-01",
    note="Estimated monthly savings, not quotes: us-east-1 list prices applied to every region (most other "
    "regions cost 0-30% more), no Savings Plans or discounts; snapshot savings assume the full volume size, "
    "an upper bound since snapshots are incremental; gp2 to gp3 savings subtract the gp3 IOPS and throughput a "
    "volume needs to match its gp2 baseline; other provisioned IOPS and throughput are not counted.",
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

GP3_IOPS_MONTH = 0.005
"""USD per provisioned IOPS-month of gp3 above its baseline of ``GP3_BASE_IOPS``."""

GP3_MIBPS_MONTH = 0.04
"""USD per provisioned MiB/s-month of gp3 throughput above its baseline of ``GP3_BASE_MIBPS``."""

GP3_BASE_IOPS = 3000
GP3_BASE_MIBPS = 125

PUBLIC_IPV4_HOUR = 0.005
"""USD per hour of a public IPv4 address, in use or idle (since February 2024)."""


def volume_month(volume_type: str, size_gb: int) -> float:
    """Monthly storage cost of a volume; unknown types are priced as gp2."""
    return EBS_GB_MONTH.get(volume_type, EBS_GB_MONTH["gp2"]) * size_gb


def gp2_iops(size_gb: int) -> int:
    """A gp2 volume's baseline IOPS: 3 per GiB, at least 100, at most 16,000."""
    return min(max(3 * size_gb, 100), 16_000)


def gp2_mibps(size_gb: int) -> int:
    """A gp2 volume's sustained throughput to match: 250 MiB/s from 334 GiB; below, 128 MiB/s (250 only on burst
    credits), which the gp3 baseline of 125 MiB/s is taken to match."""
    return 250 if size_gb >= 334 else GP3_BASE_MIBPS


def gp3_saving(size_gb: int) -> float:
    """gp2 cost less the cost of a gp3 volume that performs as well: its storage plus the IOPS and throughput
    above the gp3 baseline that the gp2 volume had included (small gp2 bursts to 3,000 IOPS: the baseline)."""
    extra_iops = max(gp2_iops(size_gb) - GP3_BASE_IOPS, 0)
    extra_mibps = gp2_mibps(size_gb) - GP3_BASE_MIBPS
    storage = (EBS_GB_MONTH["gp2"] - EBS_GB_MONTH["gp3"]) * size_gb
    return storage - extra_iops * GP3_IOPS_MONTH - extra_mibps * GP3_MIBPS_MONTH


def snapshot_month(size_gb: int) -> float:
    return SNAPSHOT_GB_MONTH * size_gb


def idle_ip_month() -> float:
    return PUBLIC_IPV4_HOUR * HOURS_PER_MONTH
