"""A small, fixed audit report for renderer tests (golden files) and the browser test."""

from __future__ import annotations

from datetime import UTC, datetime

from functions.resource_audit.findings import (
    AuditReport,
    CheckInfo,
    Diff,
    ExpiredSuppression,
    Finding,
    summarize,
    summarize_accounts,
)
from functions.resource_audit.prices import SOURCE

AT = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)


def finding(check_id: str, status: str, resource: str, **extra: object) -> Finding:
    base: dict[str, object] = {
        "check_id": check_id,
        "title": f"title of {check_id}",
        "category": "security",
        "severity": "high",
        "status": status,
        "account": "123456789012",
        "region": "eu-west-1",
        "resource_type": "volume",
        "resource": resource,
        "arn": f"arn:aws:ec2:eu-west-1:123456789012:volume/{resource}",
        "evidence": f"evidence for {resource}",
    }
    return Finding.model_validate(base | extra)


def sample() -> AuditReport:
    findings = [
        finding("ebs-volume-unattached", "FAIL", "vol-1", category="cost", severity="medium", monthly_saving_usd=8.0),
        finding("ebs-volume-unattached", "PASS", "vol-2", category="cost", severity="medium"),
        finding("ec2-sg-open-all-ports", "FAIL", "sg-1", severity="critical", resource_type="security-group"),
        finding("iam-root-mfa", "FAIL", "root", severity="critical", region="global", resource_type="root-user"),
        finding("ebs-volume-gp2", "SUPPRESSED", "vol-3", category="cost", severity="low", suppressed_by="tag x"),
        finding("logs-group-no-retention", "ERROR", "*", category="cost", severity="low", region="us-east-1"),
        finding("ec2-instance-imdsv1", "FAIL", "i-<script>", evidence='HttpTokens="optional" & <b>'),
    ]
    old = finding("ebs-snapshot-public", "FAIL", "snap-1", severity="critical", resource_type="snapshot")
    unseen = finding("logs-group-no-retention", "FAIL", "/app/old", category="cost", severity="low",
                     region="us-east-1", resource_type="log-group")  # fmt: skip
    return AuditReport(
        run_id="run-2",
        generated_at=AT,
        accounts=["123456789012"],
        regions=["eu-west-1", "us-east-1"],
        summary=summarize(findings, checks_run=6),
        diff=Diff(
            previous_run_id="run-1",
            previous_generated_at=datetime(2025, 3, 3, 5, 6, 7, tzinfo=UTC),
            new=[findings[2]],
            resolved=[old],
            unknown=[unseen],
            still_open=2,
        ),
        expired_suppressions=[
            ExpiredSuppression(
                check="ebs-volume-gp2", resource="vol-9*", reason="old waiver", expires=AT.date(), matched=1
            )
        ],
        prices=SOURCE,
        checks=[
            CheckInfo(
                id="ebs-volume-unattached",
                title="t",
                category="cost",
                severity="medium",
                scope="region",
                remediation="delete it",
            ),
        ],
        per_account=summarize_accounts(
            ["123456789012"],
            findings,
            [findings[2]],
            {"ebs-volume-unattached|123456789012|eu-west-1", "iam-root-mfa|123456789012|*"},
            ["logs-group-no-retention|123456789012|us-east-1"],
        ),
        findings=findings,
        unaudited=["logs-group-no-retention|123456789012|us-east-1"],
    )
