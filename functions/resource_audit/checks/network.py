"""Security group checks, per (account, region)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from functions.resource_audit.checks.base import CheckEnv, Inventory, Outcome, check, tags_of

OPEN_CIDRS = ("0.0.0.0/0", "::/0")


def _sg(inv: Inventory, g: dict[str, Any], status: str, evidence: str) -> Outcome:
    return Outcome(
        resource=g["GroupId"],
        resource_type="security-group",
        status=status,  # type: ignore[arg-type]
        evidence=evidence,
        arn=inv.arn("ec2", f"security-group/{g['GroupId']}"),
        tags=tags_of(g.get("Tags")),
    )


def _open_ranges(group: dict[str, Any]) -> Iterator[tuple[str, int, int, str]]:
    """(protocol, from, to, cidr) of every ingress rule open to the whole internet."""
    for perm in group.get("IpPermissions", []):
        cidrs = [r.get("CidrIp") for r in perm.get("IpRanges", [])]
        cidrs += [r.get("CidrIpv6") for r in perm.get("Ipv6Ranges", [])]
        for cidr in cidrs:
            if cidr in OPEN_CIDRS:
                proto = str(perm.get("IpProtocol", "-1"))
                if proto == "-1":
                    yield proto, 0, 65535, cidr
                elif proto in ("tcp", "udp", "6", "17"):
                    yield proto, int(perm.get("FromPort", 0)), int(perm.get("ToPort", 65535)), cidr


@check(
    id="ec2-sg-open-admin-ports",
    title="Security group opens an admin port to the internet",
    category="security",
    severity="high",
    scope="region",
    needs=("security_groups",),
    looks_at="DescribeSecurityGroups: ingress from 0.0.0.0/0 or ::/0 whose port range covers one of "
    "thresholds.admin_ports (22, 3389 by default), all-protocol rules included",
    remediation="Restrict the rule to known CIDRs, or remove it and use SSM Session Manager / a bastion.",
)
def sg_open_admin(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    ports = env.params.thresholds.admin_ports
    for g in inv["security_groups"]:
        hits = sorted(
            {
                f"port {p} ({'all protocols' if proto == '-1' else proto}, rule {lo}-{hi}) from {cidr}"
                for proto, lo, hi, cidr in _open_ranges(g)
                for p in ports
                if lo <= p <= hi
            }
        )
        if hits:
            yield _sg(inv, g, "FAIL", "; ".join(hits))
        else:
            yield _sg(inv, g, "PASS", "no admin port open to the internet")


@check(
    id="ec2-sg-open-all-ports",
    title="Security group opens every port to the internet",
    category="security",
    severity="critical",
    scope="region",
    needs=("security_groups",),
    looks_at="DescribeSecurityGroups: an all-protocol rule, or a TCP/UDP rule for 0-65535, from 0.0.0.0/0 or ::/0",
    remediation="Replace the rule with the few ports the service needs, from the sources that need them.",
)
def sg_open_all(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    for g in inv["security_groups"]:
        hits = sorted(
            f"{'all protocols' if proto == '-1' else proto} {lo}-{hi} from {cidr}"
            for proto, lo, hi, cidr in _open_ranges(g)
            if lo == 0 and hi == 65535
        )
        if hits:
            yield _sg(inv, g, "FAIL", "; ".join(hits))
        else:
            yield _sg(inv, g, "PASS", "no all-ports rule open to the internet")


@check(
    id="ec2-sg-unused",
    title="Security group attached to no network interface",
    category="security",
    severity="low",
    scope="region",
    needs=("security_groups", "network_interfaces"),
    looks_at="DescribeSecurityGroups and DescribeNetworkInterfaces: groups no interface uses (default groups excepted)",
    remediation="Delete the group if nothing will use it (unused groups with broad rules are attached by mistake).",
)
def sg_unused(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    used = {g["GroupId"] for eni in inv["network_interfaces"] for g in eni.get("Groups", [])}
    for g in inv["security_groups"]:
        if g.get("GroupName") == "default":
            continue
        if g["GroupId"] in used:
            yield _sg(inv, g, "PASS", "attached to a network interface")
        else:
            yield _sg(inv, g, "FAIL", f"{g.get('GroupName')} is attached to nothing")
