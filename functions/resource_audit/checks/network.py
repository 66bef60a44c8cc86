"""Security group checks, per (account, region)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from functions.resource_audit.checks.base import CheckEnv, Inventory, Outcome, check, tags_of

NOT_INTERNET_V4 = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
        "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
    )
)  # fmt: skip
"""IANA's special-purpose IPv4 blocks that are not globally reachable (private, loopback, link-local, shared,
documentation, benchmarking, multicast, reserved): a rule needs none of them to be open to the internet."""
INTERNET_V6 = (ipaddress.IPv6Network("2000::/3"),)
"""Global unicast: every IPv6 address the internet routes today."""
PROTOCOLS = {"tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp", "-1": "all"}
"""Protocols with ports; ICMP and the others carry none and open no port."""
MAX_SOURCES = 8

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _ranges(nets: Iterable[Network]) -> list[tuple[int, int]]:
    """The address ranges of ``nets``, merged (overlapping or adjacent ones joined), in order."""
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted((int(n.network_address), int(n.broadcast_address)) for n in nets):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def _covers(nets: Iterable[Network], targets: Iterable[Network]) -> bool:
    merged = _ranges(nets)
    return all(
        any(lo <= int(t.network_address) and int(t.broadcast_address) <= hi for lo, hi in merged) for t in targets
    )


def _public_v4() -> tuple[ipaddress.IPv4Network, ...]:
    blocks = [ipaddress.IPv4Network("0.0.0.0/0")]
    for private in NOT_INTERNET_V4:
        kept: list[ipaddress.IPv4Network] = []
        for b in blocks:
            if not b.overlaps(private):
                kept.append(b)
            elif private.subnet_of(b):
                kept.extend(b.address_exclude(private))
        blocks = kept  # a block inside the private one is dropped
    return tuple(ipaddress.collapse_addresses(blocks))


INTERNET_V4 = _public_v4()


def covers_internet(nets: Iterable[Network]) -> bool:
    """Whether these sources together hold every public IPv4 address, or every global IPv6 one: one rule of
    0.0.0.0/0, or 0.0.0.0/1 and 128.0.0.0/1, or everything but 10.0.0.0/8, are all the internet."""
    nets = list(nets)
    v4 = [n for n in nets if n.version == 4]
    v6 = [n for n in nets if n.version == 6]
    return (bool(v4) and _covers(v4, INTERNET_V4)) or (bool(v6) and _covers(v6, INTERNET_V6))


@dataclass(frozen=True)
class Grant:
    """One source of one ingress rule: a protocol, a port range, and the addresses it lets in."""

    protocol: str
    """``tcp``, ``udp`` or ``all``."""
    lo: int
    hi: int
    source: str
    """What the rule names: a CIDR or a managed prefix list id."""
    networks: tuple[Network, ...] = ()
    unknown: str | None = None
    """Why its addresses are not known (a prefix list that could not be read, a CIDR that does not parse)."""

    def allows(self, protocol: str, port: int) -> bool:
        return self.protocol in (protocol, "all") and self.lo <= port <= self.hi

    def __str__(self) -> str:
        what = "all protocols" if self.protocol == "all" else f"{self.protocol} {self.lo}-{self.hi}"
        return f"{self.source} ({what})"


def _parse(cidrs: Iterable[object]) -> tuple[tuple[Network, ...], str | None]:
    nets = []
    for cidr in cidrs:
        try:
            nets.append(ipaddress.ip_network(str(cidr), strict=False))
        except ValueError:
            return (), f"unreadable source {cidr!r}"
    return tuple(nets), None


def grants(group: dict[str, Any], prefix_lists: dict[str, Any]) -> list[Grant]:
    """Every (rule, source) of the group's ingress rules with ports, managed prefix lists expanded from
    ``prefix_lists`` (id -> CIDRs, or the SourceError of reading it)."""
    out = []
    for perm in group.get("IpPermissions") or []:
        protocol = PROTOCOLS.get(str(perm.get("IpProtocol", "")).lower())
        if protocol is None:
            continue
        lo, hi = perm.get("FromPort"), perm.get("ToPort")
        if protocol == "all" or lo is None or hi is None or lo < 0:
            lo, hi = 0, 65535  # all protocols; or ports not reported: counted as every port, never as none
        sources: list[tuple[str, list[object]] | tuple[str, str]] = []
        for r in perm.get("IpRanges") or []:
            sources.append((str(r.get("CidrIp")), [r.get("CidrIp")]))
        for r in perm.get("Ipv6Ranges") or []:
            sources.append((str(r.get("CidrIpv6")), [r.get("CidrIpv6")]))
        for r in perm.get("PrefixListIds") or []:
            pl = str(r.get("PrefixListId"))
            entries = prefix_lists.get(pl)
            if isinstance(entries, list):
                sources.append((pl, list(entries)))
            else:
                sources.append((pl, f"prefix list {pl} not read ({entries or 'not listed'})"))
        for name, cidrs in sources:
            if isinstance(cidrs, str):
                out.append(Grant(protocol, int(lo), int(hi), name, unknown=cidrs))
            else:
                nets, unknown = _parse(cidrs)
                out.append(Grant(protocol, int(lo), int(hi), name, nets, unknown))
    return out


def _names(found: Iterable[Grant]) -> str:
    items = sorted({str(g) for g in found})
    more = f" and {len(items) - MAX_SOURCES} more" if len(items) > MAX_SOURCES else ""
    return ", ".join(items[:MAX_SOURCES]) + more


def _open(relevant: list[Grant]) -> bool:
    return covers_internet(n for g in relevant for n in g.networks)


def _sg(inv: Inventory, g: dict[str, Any], status: str, evidence: str) -> Outcome:
    return Outcome(
        resource=g["GroupId"],
        resource_type="security-group",
        status=status,  # type: ignore[arg-type]
        evidence=evidence,
        arn=inv.arn("ec2", f"security-group/{g['GroupId']}"),
        tags=tags_of(g.get("Tags")),
    )


def _verdict(inv: Inventory, g: dict[str, Any], hits: list[str], unknown: list[str], clean: str) -> Outcome:
    """FAIL when something is certainly open, else ERROR when a source could not be known, else PASS."""
    if hits:
        return _sg(inv, g, "FAIL", "; ".join(hits))
    if unknown:
        return _sg(inv, g, "ERROR", "; ".join(sorted(set(unknown))))
    return _sg(inv, g, "PASS", clean)


@check(
    id="ec2-sg-open-admin-ports",
    title="Security group opens an admin port to the internet",
    category="security",
    severity="high",
    scope="region",
    needs=("security_groups", "prefix_lists"),
    looks_at="DescribeSecurityGroups (managed prefix lists expanded with GetManagedPrefixListEntries, once per "
    "list): TCP ingress, all-protocol rules included, whose sources together cover the internet (every public "
    "IPv4 or global IPv6 address, e.g. 0.0.0.0/0, or 0.0.0.0/1 with 128.0.0.0/1) on one of "
    "thresholds.admin_ports (22, 3389 by default)",
    remediation="Restrict the rule to known CIDRs, or remove it and use SSM Session Manager / a bastion.",
    link="https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html",
    cis=("5.2", "5.3"),
    prowler=(
        "ec2_securitygroup_allow_ingress_from_internet_to_tcp_port_22",
        "ec2_securitygroup_allow_ingress_from_internet_to_tcp_port_3389",
    ),
)
def sg_open_admin(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    ports = env.params.thresholds.admin_ports
    for g in inv["security_groups"]:
        found = grants(g, inv["prefix_lists"])
        hits, unknown = [], []
        for port in ports:
            relevant = [x for x in found if x.allows("tcp", port)]
            if _open(relevant):
                hits.append(f"port {port} open to the internet: {_names(x for x in relevant if x.networks)}")
            else:
                unknown += [f"port {port}: {x.unknown}" for x in relevant if x.unknown]
        yield _verdict(inv, g, hits, unknown, "no admin port open to the internet")


DATA_PORTS: tuple[tuple[str, int, str], ...] = (
    ("tcp", 3306, "MySQL"),
    ("tcp", 5432, "PostgreSQL"),
    ("tcp", 1433, "SQL Server"),
    ("tcp", 1521, "Oracle"),
    ("tcp", 27017, "MongoDB"),
    ("tcp", 6379, "Redis"),
    ("tcp", 11211, "Memcached"),
    ("udp", 11211, "Memcached"),
    ("tcp", 9200, "Elasticsearch/OpenSearch"),
    ("tcp", 9300, "Elasticsearch/OpenSearch transport"),
    ("tcp", 5601, "Kibana/OpenSearch Dashboards"),
)
"""Database, cache and search ports that should never face the internet (Memcached over UDP too: it is the one
used for amplification attacks)."""

_P = "ec2_securitygroup_allow_ingress_from_internet_to_tcp_port_"


@check(
    id="ec2-sg-open-database-ports",
    title="Security group opens a database, cache or search port to the internet",
    category="security",
    severity="high",
    scope="region",
    needs=("security_groups", "prefix_lists"),
    looks_at="DescribeSecurityGroups (managed prefix lists expanded): ingress on MySQL 3306, PostgreSQL 5432, SQL "
    "Server 1433, Oracle 1521, MongoDB 27017, Redis 6379, Memcached 11211 (TCP and UDP), Elasticsearch/OpenSearch "
    "9200/9300 or Kibana 5601, through a port range or an all-traffic rule that covers it, from sources that "
    "together cover the internet (IPv4 or IPv6)",
    remediation="Remove the rule; let only the application's security group (a rule that names it as source) reach "
    "the database, keep the database in private subnets, and reach it yourself through SSM port forwarding or a VPN.",
    link="https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html",
    prowler=(
        _P + "mysql_3306",
        _P + "postgres_5432",
        _P + "sql_server_1433_1434",
        _P + "oracle_1521_2483",
        _P + "mongodb_27017_27018",
        _P + "redis_6379",
        _P + "memcached_11211",
        _P + "elasticsearch_kibana_9200_9300_5601",
    ),
)
def sg_open_data(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    for g in inv["security_groups"]:
        found = grants(g, inv["prefix_lists"])
        hits, unknown = [], []
        for protocol, port, name in DATA_PORTS:
            relevant = [x for x in found if x.allows(protocol, port)]
            if _open(relevant):
                hits.append(
                    f"{name} {protocol} {port} open to the internet: {_names(x for x in relevant if x.networks)}"
                )
            else:
                unknown += [f"{protocol} {port}: {x.unknown}" for x in relevant if x.unknown]
        yield _verdict(inv, g, hits, unknown, "no database, cache or search port open to the internet")


def _every_port(found: list[Grant], protocol: str) -> tuple[bool, list[str]]:
    """Whether every port 1-65535 of ``protocol`` is open to the internet through the union of the rules (port 0
    is not one anything listens on), and else what could not be known on the ports that were not seen open."""
    relevant = [g for g in found if g.protocol in (protocol, "all")]
    cuts = sorted({1, 65536} | {min(max(b, 1), 65536) for g in relevant for b in (g.lo, g.hi + 1)})
    unknown: list[str] = []
    for start in cuts[:-1]:
        here = [g for g in relevant if g.lo <= start <= g.hi]
        if _open(here):
            continue
        why = [f"{protocol} from port {start}: {g.unknown}" for g in here if g.unknown]
        if not why:
            return False, []  # these ports are certainly not open to the internet
        unknown += why
    return not unknown, unknown


@check(
    id="ec2-sg-open-all-ports",
    title="Security group opens every port to the internet",
    category="security",
    severity="critical",
    scope="region",
    needs=("security_groups", "prefix_lists"),
    looks_at="DescribeSecurityGroups (managed prefix lists expanded): every TCP or every UDP port (1-65535), "
    "through one all-protocol rule or the union of port ranges, from sources that together cover the internet",
    remediation="Replace the rule with the few ports the service needs, from the sources that need them.",
    link="https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html",
    cis=("5.2", "5.3"),
    prowler=("ec2_securitygroup_allow_ingress_from_internet_to_all_ports",),
)
def sg_open_all(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    for g in inv["security_groups"]:
        found = grants(g, inv["prefix_lists"])
        everything = [x for x in found if x.protocol == "all"]
        hits, unknown = [], []
        if _open(everything):
            hits.append(f"all protocols from {_names(x for x in everything if x.networks)}")
        else:
            for protocol in ("tcp", "udp"):
                is_open, why = _every_port(found, protocol)
                if is_open:
                    own = [x for x in found if x.protocol in (protocol, "all") and x.networks]
                    hits.append(f"every {protocol} port from {_names(own)}")
                unknown += why
        yield _verdict(inv, g, hits, unknown, "no all-ports rule open to the internet")


@check(
    id="ec2-sg-unused",
    title="Security group attached to no network interface",
    category="security",
    severity="low",
    scope="region",
    needs=("security_groups", "network_interfaces"),
    looks_at="DescribeSecurityGroups and DescribeNetworkInterfaces: groups no interface uses (default groups excepted)",
    remediation="Delete the group if nothing will use it (unused groups with broad rules are attached by mistake).",
    link="https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-security-groups.html",
    prowler=("ec2_securitygroup_not_used",),
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
