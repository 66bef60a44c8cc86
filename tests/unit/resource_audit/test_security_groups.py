"""Security group exposure: what the rules of a group allow together, not rule by rule. Sources that together
cover the internet, managed prefix lists (expanded), all ports as a union of ranges, admin ports over TCP only."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.resource_audit.checks import BY_ID
from functions.resource_audit.checks.base import CheckEnv, Inventory, SourceError
from functions.resource_audit.checks.network import covers_internet
from functions.resource_audit.models import ResourceAuditInput

NOW = datetime(2025, 6, 30, tzinfo=UTC)
ADMIN, ALL = "ec2-sg-open-admin-ports", "ec2-sg-open-all-ports"


def _perm(proto: str, lo: int | None = None, hi: int | None = None, *cidrs: str, lists: tuple[str, ...] = ()) -> Any:
    perm: dict[str, Any] = {"IpProtocol": proto}
    if lo is not None:
        perm |= {"FromPort": lo, "ToPort": hi}
    perm["IpRanges"] = [{"CidrIp": c} for c in cidrs if ":" not in c]
    perm["Ipv6Ranges"] = [{"CidrIpv6": c} for c in cidrs if ":" in c]
    perm["PrefixListIds"] = [{"PrefixListId": p} for p in lists]
    return perm


def _run(check_id: str, *perms: Any, prefix_lists: dict[str, Any] | None = None) -> tuple[str, str]:
    group = {"GroupId": "sg-1", "GroupName": "g", "IpPermissions": list(perms)}
    data = {"security_groups": [group], "prefix_lists": prefix_lists or {}}
    inv = Inventory(account="123456789012", region="eu-west-1", data=data)
    [outcome] = BY_ID[check_id].run(inv, CheckEnv(ResourceAuditInput(), NOW))
    return outcome.status, outcome.evidence


def _status(check_id: str, *perms: Any, prefix_lists: dict[str, Any] | None = None) -> str:
    return _run(check_id, *perms, prefix_lists=prefix_lists)[0]


# every IPv4 address outside 10.0.0.0/8: still the whole internet
ALL_BUT_TEN = ("0.0.0.0/5", "8.0.0.0/7", "11.0.0.0/8", "12.0.0.0/6", "16.0.0.0/4", "32.0.0.0/3", "64.0.0.0/2",
               "128.0.0.0/1")  # fmt: skip


@pytest.mark.parametrize(
    ("perms", "admin"),
    [
        ([_perm("tcp", 22, 22, "0.0.0.0/1", "128.0.0.0/1")], "FAIL"),
        ([_perm("tcp", 22, 22, "0.0.0.0/1"), _perm("tcp", 20, 30, "128.0.0.0/1")], "FAIL"),  # across rules
        ([_perm("tcp", 22, 22, *ALL_BUT_TEN)], "FAIL"),
        ([_perm("tcp", 22, 22, "0.0.0.0/1")], "PASS"),  # half of it: not the whole internet
        ([_perm("tcp", 22, 22, "0.0.0.0/1"), _perm("tcp", 23, 30, "128.0.0.0/1")], "PASS"),  # not on one port
        ([_perm("tcp", 22, 22, "0.0.0.0/1"), _perm("udp", 22, 22, "128.0.0.0/1")], "PASS"),  # not one protocol
        ([_perm("tcp", 22, 22, "2000::/3")], "FAIL"),  # every global unicast IPv6 address
        ([_perm("tcp", 22, 22, "::/1", "8000::/1")], "FAIL"),
        ([_perm("tcp", 22, 22, "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")], "PASS"),
        ([_perm("udp", 22, 22, "0.0.0.0/0")], "PASS"),  # admin ports are TCP
        ([_perm("udp", 3389, 3389, "::/0")], "PASS"),
        ([_perm("17", 0, 65535, "0.0.0.0/0")], "PASS"),
        ([_perm("6", 22, 22, "0.0.0.0/0")], "FAIL"),  # protocol numbers
        ([_perm("-1", None, None, "0.0.0.0/0")], "FAIL"),
        ([_perm("icmp", -1, -1, "0.0.0.0/0")], "PASS"),
    ],
)
def test_admin_ports_open_to_the_internet(perms: list[Any], admin: str) -> None:
    assert _status(ADMIN, *perms) == admin


@pytest.mark.parametrize(
    ("perms", "all_ports"),
    [
        ([_perm("tcp", 0, 65535, "0.0.0.0/0")], "FAIL"),
        ([_perm("tcp", 1, 65535, "0.0.0.0/0")], "FAIL"),  # port 0 is not a port anything listens on
        ([_perm("tcp", 0, 32767, "0.0.0.0/0"), _perm("tcp", 32768, 65535, "::/0", "0.0.0.0/0")], "FAIL"),
        ([_perm("udp", 0, 65535, "0.0.0.0/1", "128.0.0.0/1")], "FAIL"),
        ([_perm("-1", None, None, "::/0")], "FAIL"),
        ([_perm("tcp", 0, 65535, "0.0.0.0/1"), _perm("tcp", 0, 32767, "128.0.0.0/1")], "PASS"),
        ([_perm("tcp", 0, 32767, "0.0.0.0/0"), _perm("udp", 32768, 65535, "0.0.0.0/0")], "PASS"),
        ([_perm("tcp", 2, 65535, "0.0.0.0/0")], "PASS"),
        ([_perm("tcp", 22, 22, "0.0.0.0/0")], "PASS"),
    ],
)
def test_all_ports_open_to_the_internet_as_a_union_of_rules(perms: list[Any], all_ports: str) -> None:
    assert _status(ALL, *perms) == all_ports


def test_a_managed_prefix_list_is_expanded() -> None:
    internet = {"pl-open": ["0.0.0.0/0"], "pl-office": ["203.0.113.0/24", "198.51.100.0/24"]}
    assert _status(ADMIN, _perm("tcp", 22, 22, lists=("pl-open",)), prefix_lists=internet) == "FAIL"
    assert _status(ALL, _perm("-1", lists=("pl-open",)), prefix_lists=internet) == "FAIL"
    assert _status(ADMIN, _perm("tcp", 22, 22, lists=("pl-office",)), prefix_lists=internet) == "PASS"
    halves = {"pl-a": ["0.0.0.0/1"], "pl-b": ["128.0.0.0/1"]}
    assert _status(ADMIN, _perm("tcp", 22, 22, lists=("pl-a", "pl-b")), prefix_lists=halves) == "FAIL"
    status, evidence = _run(ADMIN, _perm("tcp", 22, 22, lists=("pl-open",)), prefix_lists=internet)
    assert status == "FAIL"
    assert "pl-open" in evidence


def test_a_prefix_list_that_could_not_be_read_is_error_unless_the_group_fails_anyway() -> None:
    unread = {"pl-x": SourceError("AccessDenied", "")}
    status, evidence = _run(ADMIN, _perm("tcp", 22, 22, lists=("pl-x",)), prefix_lists=unread)
    assert status == "ERROR"
    assert "pl-x" in evidence
    assert "AccessDenied" in evidence
    assert _status(ADMIN, _perm("tcp", 22, 22, lists=("pl-gone",))) == "ERROR"  # not in the inventory at all
    also_open = [_perm("tcp", 22, 22, lists=("pl-x",)), _perm("tcp", 22, 22, "0.0.0.0/0")]
    assert _status(ADMIN, *also_open, prefix_lists=unread) == "FAIL"
    # a list on a port that is not an admin one does not matter to the admin check
    assert _status(ADMIN, _perm("tcp", 443, 443, lists=("pl-x",)), prefix_lists=unread) == "PASS"


def test_a_source_that_cannot_be_read_is_error_not_pass() -> None:
    assert _status(ADMIN, _perm("tcp", 22, 22, "not-a-cidr")) == "ERROR"


cidrs = st.builds(
    lambda block, length: str(ipaddress.ip_network((block << 29, length), strict=False)),
    st.integers(0, 7),
    st.integers(0, 3),
)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])  # a loaded machine
@given(st.lists(cidrs, max_size=8))
def test_covering_the_internet_is_covering_every_public_address(sources: list[str]) -> None:
    """Oracle: with prefixes of length 0-3 the IPv4 space falls into eight /3 blocks; 224.0.0.0/3 (multicast and
    reserved) holds no public address and each other block does, so the sources cover the internet exactly
    when they cover the other seven."""
    blocks = [ipaddress.ip_network((i << 29, 3)) for i in range(7)]
    nets = [ipaddress.ip_network(s) for s in sources]
    expected = all(any(b.subnet_of(n) for n in nets) for b in blocks)  # type: ignore[arg-type]
    assert covers_internet(nets) is expected
