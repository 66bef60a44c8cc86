"""The price table behind estimated savings. Estimates only: list prices, one region, no discounts or tiers.

The shipped table (:data:`SHIPPED`, dated) is what every run uses unless ``refresh_prices`` asks for the AWS Price
List API's current prices (:mod:`functions.resource_audit.price_list`), which replace its EBS storage and snapshot
prices; the rest stays as shipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from functions.resource_audit.findings import PriceSource

HOURS_PER_MONTH = 730
GP3_BASE_IOPS = 3000
GP3_BASE_MIBPS = 125

SOURCE = PriceSource(
    source="AWS public price pages: aws.amazon.com/ebs/pricing (volumes, snapshots) and "
    "aws.amazon.com/vpc/pricing (public IPv4 addresses), us-east-1 on-demand list prices",
    as_of="2025-01",
    note="Estimated monthly savings, not quotes: us-east-1 list prices applied to every region (most other "
    "regions cost 0-30% more), no Savings Plans or discounts; snapshot savings assume the full volume size, "
    "an upper bound since snapshots are incremental; gp2 to gp3 savings subtract the gp3 IOPS and throughput a "
    "volume needs to match its gp2 baseline; other provisioned IOPS and throughput are not counted.",
)

EBS_TYPES = ("gp3", "gp2", "io1", "io2", "st1", "sc1", "standard")


@dataclass(frozen=True)
class PriceTable:
    """USD list prices: per GB-month of volume storage by type, per GB-month of snapshot storage (standard tier),
    per provisioned gp3 IOPS-month and MiB/s-month above the baseline, per hour of a public IPv4 address."""

    ebs_gb_month: Mapping[str, float]
    snapshot_gb_month: float
    gp3_iops_month: float
    gp3_mibps_month: float
    public_ipv4_hour: float
    piops_month: float = 0.065
    """io1 (and io2 up to 32,000) provisioned IOPS-month."""
    nat_hour: float = 0.045
    """A NAT gateway's hourly charge (its data processing charge is by the GB)."""
    lb_hour: float = 0.0225
    """An Application or Network Load Balancer's hourly charge (capacity units come on top)."""
    source: PriceSource = field(default_factory=lambda: SOURCE)

    def with_storage(
        self, ebs_gb_month: Mapping[str, float], snapshot_gb_month: float, source: PriceSource
    ) -> PriceTable:
        """This table with other storage prices (a Price List refresh), and where they come from."""
        return replace(
            self,
            ebs_gb_month=MappingProxyType(dict(ebs_gb_month)),
            snapshot_gb_month=snapshot_gb_month,
            source=source,
        )

    def volume_month(self, volume_type: str, size_gb: int) -> float:
        """Monthly storage cost of a volume; unknown types are priced as gp2."""
        return self.ebs_gb_month.get(volume_type, self.ebs_gb_month["gp2"]) * size_gb

    def gp3_saving(self, size_gb: int) -> float:
        """gp2 cost less the cost of a gp3 volume that performs as well: its storage plus the IOPS and throughput
        above the gp3 baseline that the gp2 volume had included (small gp2 bursts to 3,000 IOPS: the baseline)."""
        extra_iops = max(gp2_iops(size_gb) - GP3_BASE_IOPS, 0)
        extra_mibps = gp2_mibps(size_gb) - GP3_BASE_MIBPS
        storage = (self.ebs_gb_month["gp2"] - self.ebs_gb_month["gp3"]) * size_gb
        return storage - extra_iops * self.gp3_iops_month - extra_mibps * self.gp3_mibps_month

    def snapshot_month(self, size_gb: int) -> float:
        return self.snapshot_gb_month * size_gb

    def idle_ip_month(self) -> float:
        return self.public_ipv4_hour * HOURS_PER_MONTH


SHIPPED = PriceTable(
    ebs_gb_month=MappingProxyType(
        {"gp3": 0.08, "gp2": 0.10, "io1": 0.125, "io2": 0.125, "st1": 0.045, "sc1": 0.015, "standard": 0.05}
    ),
    snapshot_gb_month=0.05,
    gp3_iops_month=0.005,
    gp3_mibps_month=0.04,
    public_ipv4_hour=0.005,  # in use or idle, since February 2024
)
"""The table shipped with the code: us-east-1 list prices as of :data:`SOURCE`'s date."""


def gp2_iops(size_gb: int) -> int:
    """A gp2 volume's baseline IOPS: 3 per GiB, at least 100, at most 16,000."""
    return min(max(3 * size_gb, 100), 16_000)


def gp2_mibps(size_gb: int) -> int:
    """A gp2 volume's sustained throughput to match: 250 MiB/s from 334 GiB; below, 128 MiB/s (250 only on burst
    credits), which the gp3 baseline of 125 MiB/s is taken to match."""
    return 250 if size_gb >= 334 else GP3_BASE_MIBPS
