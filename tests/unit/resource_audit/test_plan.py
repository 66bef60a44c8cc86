"""Suppressions (tag, config, expiry), the diff, and the check framework's ERROR rule: pure, no AWS."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.resource_audit.checks.base import CheckEnv, Inventory, SourceError
from functions.resource_audit.findings import AuditReport
from functions.resource_audit.models import ResourceAuditInput
from functions.resource_audit.plan import active, diff, enabled_checks, evaluate, scope_key, tag_ignores
from shared.errors import InputError
from shared.inputs import parse_input
from tests.unit.resource_audit.reports import finding, sample

NOW = datetime(2025, 6, 30, 12, tzinfo=UTC)


def _volumes_inventory(*volumes: dict[str, object]) -> Inventory:
    return Inventory(account="123456789012", region="eu-west-1", data={"volumes": list(volumes)})


def _vol(vid: str, state: str = "available", **tags: str) -> dict[str, object]:
    return {
        "VolumeId": vid,
        "State": state,
        "Size": 10,
        "VolumeType": "gp3",
        "Encrypted": True,
        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
    }


def _run(params: ResourceAuditInput, inv: Inventory, check_id: str = "ebs-volume-unattached") -> dict[str, object]:
    checks = [c for c in enabled_checks(params) if c.id == check_id]
    ev = evaluate(checks, inv, CheckEnv(params, NOW), "region")
    return {f.resource: f for f in ev.findings} | {"_ev": ev}


@pytest.mark.parametrize(
    ("value", "ignored"),
    [("ebs-volume-unattached", True), ("x, ebs-volume-unattached", True), ("*", True), ("all", True),
     ("ebs-volume-gp2", False), ("", False), (None, False)],
)  # fmt: skip
def test_ignore_tag_names_checks_or_everything(value: str | None, ignored: bool) -> None:
    assert tag_ignores(value, "ebs-volume-unattached") is ignored


def test_a_tagged_resource_is_suppressed_and_a_passing_one_is_never_marked() -> None:
    params = ResourceAuditInput()
    out = _run(params, _volumes_inventory(_vol("vol-a", **{params.ignore_tag: "ebs-volume-unattached"}),
                                          _vol("vol-b", "in-use", **{params.ignore_tag: "*"})))  # fmt: skip
    assert out["vol-a"].status == "SUPPRESSED"  # type: ignore[attr-defined]
    assert out["vol-b"].status == "PASS"  # type: ignore[attr-defined]


def test_config_suppression_applies_through_its_expiry_day_then_says_it_expired() -> None:
    rule = {"check": "ebs-volume-unattached", "resource": "vol-a*", "reason": "kept for a migration"}
    live = ResourceAuditInput(suppressions=[rule | {"expires": "2025-06-30"}])
    out = _run(live, _volumes_inventory(_vol("vol-a1")))
    assert out["vol-a1"].status == "SUPPRESSED"  # type: ignore[attr-defined]
    assert "kept for a migration" in out["vol-a1"].suppressed_by  # type: ignore[attr-defined]

    expired = ResourceAuditInput(suppressions=[rule | {"expires": "2025-06-29"}])
    out = _run(expired, _volumes_inventory(_vol("vol-a1"), _vol("vol-b1")))
    assert out["vol-a1"].status == "FAIL"  # type: ignore[attr-defined]
    assert "suppression expired 2025-06-29 (kept for a migration)" in out["vol-a1"].evidence  # type: ignore[attr-defined]
    assert "expired" not in out["vol-b1"].evidence  # type: ignore[attr-defined]
    assert out["_ev"].expired_hits == {0: 1}  # type: ignore[attr-defined]


def test_suppression_patterns_match_ids_or_arns_and_star_checks() -> None:
    params = ResourceAuditInput(
        suppressions=[
            {"check": "*", "resource": "arn:aws:ec2:*:*:volume/vol-z*", "reason": "lab", "expires": "2099-01-01"}
        ]
    )
    out = _run(params, _volumes_inventory(_vol("vol-z9"), _vol("vol-y9")))
    assert out["vol-z9"].status == "SUPPRESSED"  # type: ignore[attr-defined]
    assert out["vol-y9"].status == "FAIL"  # type: ignore[attr-defined]


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)), st.integers(-400, 400))
def test_active_exactly_until_expiry(expires: date, offset: int) -> None:
    from datetime import timedelta

    from functions.resource_audit.models import Suppression

    s = Suppression(check="*", resource="*", reason="why not", expires=expires)
    assert active(s, expires + timedelta(days=offset)) is (offset <= 0)


def test_a_failed_listing_gives_one_error_per_check_and_never_a_pass() -> None:
    params = ResourceAuditInput()
    inv = Inventory(account="1", region="eu-west-1", errors={"volumes": SourceError("AccessDenied", "no")})
    checks = [c for c in enabled_checks(params) if "volumes" in c.sources(params)]
    ev = evaluate(checks, inv, CheckEnv(params, NOW), "region")
    assert {f.check_id for f in ev.findings} == {c.id for c in checks}
    assert {f.status for f in ev.findings} == {"ERROR"}
    assert all("AccessDenied" in f.evidence for f in ev.findings)
    assert ev.audited == set()


def test_include_passes_false_drops_passes_only() -> None:
    out = _run(ResourceAuditInput(include_passes=False), _volumes_inventory(_vol("vol-a"), _vol("vol-b", "in-use")))
    assert set(out) == {"vol-a", "_ev"}


def test_checks_and_skip_checks_choose_what_runs_and_unknown_ids_are_rejected() -> None:
    chosen = enabled_checks(ResourceAuditInput(checks=["ebs-volume-gp2", "iam-root-mfa"], skip_checks=["iam-root-mfa"]))
    assert [c.id for c in chosen] == ["ebs-volume-gp2"]
    assert not [c for c in enabled_checks(ResourceAuditInput(required_tags=[])) if c.id.startswith("tags-")]
    with pytest.raises(InputError, match="unknown check id"):
        parse_input({"skip_checks": ["no-such-check"]}, ResourceAuditInput, env={})
    with pytest.raises(InputError, match="admin_ports"):
        parse_input({"thresholds": {"admin_ports": [70000]}}, ResourceAuditInput, env={})


def _report(*findings: object) -> AuditReport:
    return sample().model_copy(update={"findings": list(findings), "run_id": "prev"})


def test_diff_new_resolved_still_open() -> None:
    a, b, c = finding("ebs-volume-unattached", "FAIL", "vol-a"), finding("ebs-volume-unattached", "FAIL", "vol-b"), \
        finding("ebs-volume-unattached", "FAIL", "vol-c")  # fmt: skip
    now = [a, finding("ebs-volume-unattached", "PASS", "vol-b"), c.model_copy(update={"resource": "vol-d"})]
    audited = {scope_key(a, a.account, a.region)}
    d = diff(_report(a, b, c), now, audited)
    assert [f.resource for f in d.new] == ["vol-d"]
    assert sorted(f.resource for f in d.resolved) == ["vol-b", "vol-c"]
    assert d.still_open == 1
    assert d.previous_run_id == "prev"


def test_nothing_resolves_in_a_scope_that_errored_or_was_not_audited() -> None:
    old = finding("ebs-volume-unattached", "FAIL", "vol-a")
    error_now = finding("ebs-volume-unattached", "ERROR", "vol-a")
    assert diff(_report(old), [error_now], {scope_key(old, old.account, old.region)}).resolved == []
    assert diff(_report(old), [], set()).resolved == []


def test_first_report_marks_every_failure_new() -> None:
    d = diff(None, [finding("x", "FAIL", "a"), finding("x", "PASS", "b")], set())
    assert ([f.resource for f in d.new], d.resolved, d.previous_run_id) == (["a"], [], None)


statuses = st.sampled_from(["FAIL", "PASS", "ERROR", "SUPPRESSED"])
populations = st.dictionaries(st.sampled_from([f"vol-{i}" for i in range(12)]), statuses, max_size=12)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])  # a loaded machine
@given(populations, populations)
def test_diff_partitions_failures(before: dict[str, str], after: dict[str, str]) -> None:
    prev = [finding("ebs-volume-unattached", s, r) for r, s in before.items()]
    now = [finding("ebs-volume-unattached", s, r) for r, s in after.items()]
    key = scope_key(now[0] if now else finding("ebs-volume-unattached", "PASS", "x"), "123456789012", "eu-west-1")
    d = diff(_report(*prev), now, {key})
    failing_now = {r for r, s in after.items() if s == "FAIL"}
    failing_before = {r for r, s in before.items() if s == "FAIL"}
    assert {f.resource for f in d.new} == {r for r in failing_now - failing_before if before.get(r) != "ERROR"}
    assert d.still_open == len(failing_now & failing_before)
    assert {f.resource for f in d.resolved} == {r for r in failing_before - failing_now if after.get(r) != "ERROR"}
    assert {f.resource for f in d.unknown} == {r for r in failing_now - failing_before if before.get(r) == "ERROR"} | {
        r for r in failing_before - failing_now if after.get(r) == "ERROR"
    }
    assert not {f.resource for f in d.new} & {f.resource for f in d.resolved}


def test_a_bucket_in_error_whose_region_could_not_be_read_resolves_nothing() -> None:
    """A bucket's region comes from the listing; when reading it fails the ERROR finding carries the account's
    region label instead. It is still the same bucket: its earlier failure is not resolved."""
    old = finding("s3-bucket-versioning", "FAIL", "logs-bucket", region="eu-west-1", resource_type="bucket")
    error_now = old.model_copy(update={"status": "ERROR", "region": "global"})
    assert diff(_report(old), [error_now], {scope_key(old, old.account, old.region)}).resolved == []


def _boom_check(after: int) -> object:
    """A check that yields ``after`` outcomes, then raises as a bug or an unexpected response would."""
    from functions.resource_audit.checks.base import Check, Outcome

    def run(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
        for v in inv["volumes"][:after]:
            yield Outcome(v["VolumeId"], "volume", "FAIL", "failing before the crash")
        raise ZeroDivisionError("division by zero in the check")

    return Check("boom", "a check with a bug", "cost", "high", "region", ("volumes",), "volumes", "fix it", run)


def test_a_check_that_raises_gives_an_error_finding_naming_the_exception_and_the_others_go_on() -> None:
    params = ResourceAuditInput()
    others = [c for c in enabled_checks(params) if c.id in ("ebs-volume-unattached", "ebs-volume-gp2")]
    boom = _boom_check(after=1)
    inv = _volumes_inventory(_vol("vol-a"), _vol("vol-b", "in-use"))
    ev = evaluate([boom, *others], inv, CheckEnv(params, NOW), "region")  # type: ignore[list-item]
    mine = [f for f in ev.findings if f.check_id == "boom"]
    assert [(f.resource, f.status) for f in mine] == [("vol-a", "FAIL"), ("*", "ERROR")]
    assert "ZeroDivisionError" in mine[1].evidence
    assert "division by zero in the check" in mine[1].evidence
    assert {f.check_id for f in ev.findings if f.check_id != "boom"} == {"ebs-volume-unattached", "ebs-volume-gp2"}
    assert scope_key(boom, "123456789012", "eu-west-1") not in ev.audited  # type: ignore[arg-type]
    assert {scope_key(c, "123456789012", "eu-west-1") for c in others} <= ev.audited
    assert set(ev.raised) == {"boom"}


def test_a_check_yielding_an_outcome_that_is_not_a_finding_is_an_error_too() -> None:
    from functions.resource_audit.checks.base import Check, Outcome

    def run(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
        yield Outcome("vol-a", "volume", "MAYBE", "no such status")  # type: ignore[arg-type]

    bad = Check("bad", "t", "cost", "low", "region", ("volumes",), "volumes", "r", run)
    ev = evaluate([bad], _volumes_inventory(_vol("vol-a")), CheckEnv(ResourceAuditInput(), NOW), "region")
    assert [(f.resource, f.status) for f in ev.findings] == [("*", "ERROR")]
    assert "ValidationError" in ev.findings[0].evidence


def test_an_inventory_that_raises_as_a_whole_errors_every_check_of_its_scope() -> None:
    from functions.resource_audit.task import inventory_or_errors

    def build() -> Inventory:
        raise RuntimeError("no client for this region")

    params = ResourceAuditInput()
    needs = {"volumes", "snapshots"}
    inv = inventory_or_errors(build, "123456789012", "eu-west-1", needs)
    checks = [c for c in enabled_checks(params) if set(c.sources(params)) & needs and c.scope == "region"]
    ev = evaluate(checks, inv, CheckEnv(params, NOW), "region")
    assert {f.status for f in ev.findings} == {"ERROR"}
    assert all("RuntimeError: no client for this region" in f.evidence for f in ev.findings)


def _scope_error(check_id: str = "ebs-volume-unattached", **extra: object) -> object:
    return finding(check_id, "ERROR", "*", evidence="could not list volumes: AccessDenied", **extra)


def test_a_failure_whose_check_errored_in_the_previous_report_is_unknown_not_new() -> None:
    now = [finding("ebs-volume-unattached", "FAIL", "vol-a")]
    audited = {scope_key(now[0], now[0].account, now[0].region)}
    d = diff(_report(_scope_error()), now, audited)
    assert (d.new, [f.resource for f in d.unknown]) == ([], ["vol-a"])


def test_a_failure_whose_check_errors_now_is_unknown_not_resolved() -> None:
    old = finding("ebs-volume-unattached", "FAIL", "vol-a")
    key = scope_key(old, old.account, old.region)
    d = diff(_report(old), [_scope_error()], set(), unaudited={key})  # type: ignore[list-item]
    assert (d.resolved, [f.resource for f in d.unknown]) == ([], ["vol-a"])


def test_a_resource_in_error_in_either_report_is_unknown() -> None:
    was_error = finding("s3-bucket-versioning", "ERROR", "b", resource_type="bucket")
    failing = finding("s3-bucket-versioning", "FAIL", "b", resource_type="bucket")
    audited = {scope_key(failing, failing.account, failing.region)}
    assert [f.resource for f in diff(_report(was_error), [failing], audited).unknown] == ["b"]
    d = diff(_report(failing), [was_error], audited)
    assert (d.resolved, [f.resource for f in d.unknown]) == ([], ["b"])


def test_scopes_the_previous_run_did_not_audit_make_its_failures_unknown() -> None:
    """A unit that crashed or ran out of time, or an account that could not be reached, left no findings: what
    fails there now is not new."""
    f = finding("ebs-volume-unattached", "FAIL", "vol-a")
    audited = {scope_key(f, f.account, f.region)}
    crashed = _report().model_copy(update={"unaudited": [scope_key(f, f.account, f.region)]})
    assert [x.resource for x in diff(crashed, [f], audited).unknown] == ["vol-a"]
    unreachable = _report().model_copy(update={"unaudited": [f"*|{f.account}|*"]})
    assert [x.resource for x in diff(unreachable, [f], audited).unknown] == ["vol-a"]
    clean = _report().model_copy(update={"unaudited": []})
    assert [x.resource for x in diff(clean, [f], audited).new] == ["vol-a"]


def test_the_scopes_a_run_did_not_audit() -> None:
    from functions.resource_audit.plan import unaudited

    params = ResourceAuditInput(checks=["ebs-volume-unattached", "iam-root-mfa"])
    checks = enabled_checks(params)
    audited = {"ebs-volume-unattached|1|eu-west-1", "iam-root-mfa|1|*"}
    units = [("1", "eu-west-1"), ("1", "us-east-1"), ("2", "eu-west-1"), ("3", "*")]
    assert unaudited(checks, units, audited) == {
        "ebs-volume-unattached|1|us-east-1",
        "ebs-volume-unattached|2|eu-west-1",
        "iam-root-mfa|2|*",
        "*|3|*",
    }


checked = st.sampled_from(["ebs-volume-unattached", "ebs-volume-gp2"])
errored_checks = st.sets(checked, max_size=2)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])  # a loaded machine
@given(populations, populations, errored_checks, errored_checks)
def test_nothing_of_a_check_in_error_in_either_report_is_new_or_resolved(
    before: dict[str, str], after: dict[str, str], err_before: set[str], err_after: set[str]
) -> None:
    prev, now = [], []
    for check_id in ("ebs-volume-unattached", "ebs-volume-gp2"):
        prev += [_scope_error(check_id)] if check_id in err_before else [
            finding(check_id, s, r) for r, s in before.items()
        ]  # fmt: skip
        now += (
            [_scope_error(check_id)] if check_id in err_after else [finding(check_id, s, r) for r, s in after.items()]
        )
    audited = {f"{c}|123456789012|eu-west-1" for c in ("ebs-volume-unattached", "ebs-volume-gp2")} - {
        f"{c}|123456789012|eu-west-1" for c in err_after
    }
    d = diff(_report(*prev), now, audited, unaudited={f"{c}|123456789012|eu-west-1" for c in err_after})  # type: ignore[arg-type]
    errored = err_before | err_after
    assert not {f.check_id for f in d.new + d.resolved} & errored
    failing_now = {f.key for f in now if f.status == "FAIL"}  # type: ignore[attr-defined]
    failing_before = {f.key for f in prev if f.status == "FAIL"}  # type: ignore[attr-defined]
    # every failure now is new, still open or unknown, exactly one of them
    new, unknown = {f.key for f in d.new}, {f.key for f in d.unknown}
    assert new | (failing_now & failing_before) | (unknown & failing_now) == failing_now
    assert not new & unknown
    in_error = {f.key for f in prev + now if f.status == "ERROR"}  # type: ignore[attr-defined]
    assert {f.key for f in d.unknown} == {
        k for k in failing_now ^ failing_before if k.split("|")[0] in errored or k in in_error
    }
