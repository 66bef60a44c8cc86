"""OCSF lines are Detection Findings (class 2004) that hold to the OCSF 1.1.0 schema's rules.

The rules below are written from the OCSF schema at tag v1.1.0 (github.com/ocsf/ocsf-schema; schema.ocsf.io/1.1.0):
``events/base_event.json`` (metadata and severity_id required, status_id recommended), ``includes/classification.json``
(activity_id, category_uid, class_uid, type_uid required; type_uid = class_uid * 100 + activity_id),
``includes/occurrence.json`` (time required, a timestamp_t: milliseconds since the epoch), ``events/findings/
finding.json`` (finding_info required; activity_id 1 Create, 2 Update, 3 Close; status_id 1 New, 2 In Progress,
3 Suppressed, 4 Resolved), ``events/findings/detection_finding.json`` (uid 4 in category ``findings``, uid 2:
class 2004), ``objects/finding_info.json`` (uid and title required), ``objects/metadata.json`` (product and
version required), ``objects/product.json`` (vendor_name required), ``profiles/cloud.json`` (cloud required),
``objects/cloud.json`` (provider required), ``objects/_entity.json`` (a resource needs name or uid),
``objects/remediation.json`` (desc required), ``objects/analytic.json`` (type_id required, 0-4 or 99) and the
dictionary's enums (severity_id 0-6 or 99).
"""

from __future__ import annotations

import json
from typing import Any

from functions.resource_audit.asff import finding_id
from functions.resource_audit.findings import Diff
from functions.resource_audit.ocsf import OCSF_VERSION, events, to_jsonl
from tests.unit.resource_audit.reports import sample

SEVERITY_IDS = {0, 1, 2, 3, 4, 5, 6, 99}
ACTIVITY_IDS = {0, 1, 2, 3, 99}
STATUS_IDS = {0, 1, 2, 3, 4, 99}
ANALYTIC_TYPE_IDS = {0, 1, 2, 3, 4, 99}
ACCOUNT_TYPE_IDS = {*range(11), 99}


def _int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def ocsf_problems(e: dict[str, Any]) -> list[str]:
    """What breaks OCSF 1.1.0's rules for a Detection Finding with the cloud profile (empty: none)."""
    bad = []
    for key in ("activity_id", "category_uid", "class_uid", "type_uid", "severity_id", "time"):
        if not _int(e.get(key)):
            bad.append(f"{key} missing or not an integer")
    if bad:
        return bad
    if e["class_uid"] != 2004 or e["category_uid"] != 2:
        bad.append("not a Detection Finding (class 2004, category 2)")
    if e["activity_id"] not in ACTIVITY_IDS:
        bad.append("activity_id")
    if e["type_uid"] != e["class_uid"] * 100 + e["activity_id"]:
        bad.append("type_uid is not class_uid * 100 + activity_id")
    if e["severity_id"] not in SEVERITY_IDS:
        bad.append("severity_id")
    if "status_id" in e and e["status_id"] not in STATUS_IDS:
        bad.append("status_id")
    if not 10**12 <= e["time"] < 10**14:
        bad.append("time is not milliseconds since the epoch")
    meta = e.get("metadata") or {}
    if meta.get("version") != "1.1.0" or not (meta.get("product") or {}).get("vendor_name"):
        bad.append("metadata.version / metadata.product.vendor_name")
    info = e.get("finding_info") or {}
    if not isinstance(info.get("uid"), str) or not info["uid"] or not isinstance(info.get("title"), str):
        bad.append("finding_info.uid / title")
    analytic = info.get("analytic")
    if analytic is not None and analytic.get("type_id") not in ANALYTIC_TYPE_IDS:
        bad.append("finding_info.analytic.type_id")
    if "cloud" in meta.get("profiles", []) or "cloud" in e:
        cloud = e.get("cloud") or {}
        if not cloud.get("provider"):
            bad.append("cloud.provider")
        account = cloud.get("account") or {}
        if not (account.get("uid") or account.get("name")):
            bad.append("cloud.account needs uid or name")
        if "type_id" in account and account["type_id"] not in ACCOUNT_TYPE_IDS:
            bad.append("cloud.account.type_id")
    for r in e.get("resources") or []:
        if not (r.get("uid") or r.get("name")):
            bad.append("a resource needs uid or name")
    if "remediation" in e and not e["remediation"].get("desc"):
        bad.append("remediation.desc")
    return bad


def test_every_line_is_a_valid_detection_finding() -> None:
    lines = to_jsonl(sample()).splitlines()
    assert lines
    for line in lines:
        event = json.loads(line)
        assert ocsf_problems(event) == [], event
        assert event["metadata"]["version"] == OCSF_VERSION == "1.1.0"
        assert event["cloud"]["account"]["uid"] == "123456789012"


def test_the_validator_refuses_what_ocsf_refuses() -> None:
    good = next(events(sample()))
    assert ocsf_problems(good) == []
    for broken in (
        {**good, "type_uid": 200499},
        {**good, "severity_id": 7},
        {**good, "time": 1_700_000_000},  # seconds, not milliseconds
        {**good, "finding_info": {"title": "no uid"}},
        {**good, "cloud": {"account": {"uid": "1"}}},
        {k: v for k, v in good.items() if k != "metadata"},
    ):
        assert ocsf_problems(broken), broken


def test_new_failures_are_created_open_ones_updated_suppressed_ones_suppressed_resolved_ones_closed() -> None:
    report = sample()
    by_uid = {e["finding_info"]["uid"]: e for e in events(report)}
    for f in report.findings:
        uid = finding_id(f)
        if f.status == "FAIL":
            assert by_uid[uid]["status_id"] == 1
            assert by_uid[uid]["activity_id"] == (1 if f.key in report.diff.new_keys else 2)
        elif f.status == "SUPPRESSED":
            assert (by_uid[uid]["activity_id"], by_uid[uid]["status_id"]) == (2, 3)
        else:
            assert uid not in by_uid  # PASS and ERROR say nothing about the resource here
    [old] = report.diff.resolved
    assert (by_uid[finding_id(old)]["activity_id"], by_uid[finding_id(old)]["status_id"]) == (3, 4)
    assert by_uid[finding_id(old)]["type_uid"] == 200403


def test_a_finding_resolved_by_a_suppression_is_one_suppressed_line() -> None:
    report = sample()
    suppressed = next(f for f in report.findings if f.status == "SUPPRESSED")
    report.diff = Diff(previous_run_id="run-1", resolved=[suppressed])
    mine = [e for e in events(report) if e["finding_info"]["uid"] == finding_id(suppressed)]
    assert [e["status_id"] for e in mine] == [3]


def test_account_wide_findings_name_no_region() -> None:
    report = sample()
    root = next(e for e in events(report) if e["finding_info"]["analytic"]["uid"] == "iam-root-mfa")
    assert "region" not in root["cloud"]
    assert "region" not in root["resources"][0]
    assert root["resources"][0]["cloud_partition"] == "aws"
