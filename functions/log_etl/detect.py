"""Which log format an S3 object holds, from the key layout AWS delivers it under."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from functions.log_etl.formats import FORMAT_NAMES

_ACCOUNT = r"\d{12}"
_REGION = r"[a-z]{2}(?:-[a-z]+)+-\d"

# Objects AWS writes next to the logs that are not logs.
SKIP_KEY_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # ELB writes it to <prefix>/AWSLogs/<acct>/ELBAccessLogTestFile; recognised by its name under any prefix.
    (re.compile(r"(?:^|/)ELBAccessLogTestFile$"), "ELB access-log test object"),
    (re.compile(r"(?:^|/)CloudTrail-Digest/"), "CloudTrail digest file"),
)

KEY_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        # AWSLogs/<acct>/elasticloadbalancing/<region>/yyyy/mm/dd/<acct>_elasticloadbalancing_<region>_app.<lb>_...
        re.compile(rf"(?:^|/){_ACCOUNT}_elasticloadbalancing_{_REGION}_app\.[^/]+\.log(?:\.gz)?$"),
        "alb",
    ),
    (
        # NLB: <acct>_elasticloadbalancing_<region>_net.<lb name>.<lb id>_<YYYYMMDDTHHmmZ>_<random>.log.gz
        re.compile(rf"(?:^|/){_ACCOUNT}_elasticloadbalancing_{_REGION}_net\.[^/]+\.log(?:\.gz)?$"),
        "nlb",
    ),
    (
        # Classic: <acct>_elasticloadbalancing_<region>_<lb name>_<end time>_<ip>_<random>.log (not gzipped); a
        # Classic load balancer's name is letters, digits and hyphens, so it never starts with app. or net.
        re.compile(
            rf"(?:^|/){_ACCOUNT}_elasticloadbalancing_{_REGION}_[0-9A-Za-z-]+_\d{{8}}T\d{{4}}Z_[0-9A-Fa-f.:]+_"
            r"[0-9A-Za-z]+\.log(?:\.gz)?$"
        ),
        "classic_elb",
    ),
    (
        # WAF to S3: AWSLogs/<acct>/WAFLogs/<region>/<web ACL>/YYYY/MM/dd/HH/mm/
        # <acct>_waflogs_<region>_<web ACL>_<YYYYMMDDTHHmmZ>_<hash>.log.gz (region "cloudfront" for CloudFront ACLs)
        re.compile(
            rf"(?:^|/){_ACCOUNT}_waflogs_(?:{_REGION}|cloudfront)_[^/]+_\d{{8}}T\d{{4}}Z_[0-9a-f]+\.log(?:\.gz)?$"
        ),
        "waf",
    ),
    (
        # WAF through Firehose, whose stream name must start with aws-waf-logs-:
        # <prefix>YYYY/MM/dd/HH/aws-waf-logs-<name>-<version>-YYYY-MM-dd-HH-MM-SS-<uuid>[.gz]
        re.compile(r"(?:^|/)aws-waf-logs-[^/]*-\d+-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-[0-9a-f-]{36}(?:\.gz)?$"),
        "waf",
    ),
    (
        # <acct>_vpcflowlogs_<region>_<flow-log-id>_<YYYYMMDDTHHmmZ>_<hash>.log.gz
        re.compile(rf"(?:^|/){_ACCOUNT}_vpcflowlogs_{_REGION}_fl-[0-9a-z]+_\d{{8}}T\d{{4}}Z_[0-9a-f]+\.log(?:\.gz)?$"),
        "vpc_flow",
    ),
    (
        # <acct>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<unique>.json.gz (Insights files share the schema); the
        # CloudTrail guide's own example has no underscore before the unique string
        re.compile(
            rf"(?:^|/){_ACCOUNT}_CloudTrail(?:-Insight)?_{_REGION}_\d{{8}}T\d{{4}}Z_?[0-9A-Za-z]+\.json(?:\.gz)?$"
        ),
        "cloudtrail",
    ),
    (
        # <distribution id>.YYYY-MM-DD-HH.<unique id>.gz (AWS's example: EMLARXS9EXAMPLE.2019-11-14-20.RT4KCN4SGK9.gz)
        re.compile(r"(?:^|/)[A-Z0-9]+\.\d{4}-\d{2}-\d{2}-\d{2}\.[0-9A-Za-z]+(?:\.gz)?$"),
        "cloudfront",
    ),
    (
        # [prefix]YYYY-mm-DD-HH-MM-SS-<UniqueString>, also under the date-partitioned prefix layout
        re.compile(r"(?:^|/|[^0-9])\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-[0-9A-Z]{16}$"),
        "s3_access",
    ),
)


@dataclass(frozen=True)
class Detection:
    """Outcome for one key: a format name to parse with, a reason to skip it, or neither (unknown)."""

    format: str | None = None
    skip_reason: str | None = None
    configured: bool = False  # the format is the one configured for the key's prefix


def detect_format(key: str, override: str | None = None, by_prefix: Sequence[tuple[str, str]] = ()) -> Detection:
    """Name the format of the object at ``key``.

    Non-log objects (ELB test file, CloudTrail digests) are skipped even when ``override`` is set; otherwise
    ``override`` (a name from ``FORMAT_NAMES``) wins, then the format of the longest of the ``by_prefix``
    (prefix, format) pairs that ``key`` starts with, then the key layout. Unknown keys give ``Detection()``.
    """
    for name in (override, *(f for _, f in by_prefix)):
        if name is not None and name not in FORMAT_NAMES:
            raise ValueError(f"unknown log format {name!r}; expected one of {FORMAT_NAMES}")
    for pattern, reason in SKIP_KEY_PATTERNS:
        if pattern.search(key):
            return Detection(skip_reason=reason)
    if override is not None:
        return Detection(format=override)
    matching = [(prefix, name) for prefix, name in by_prefix if key.startswith(prefix)]
    if matching:
        return Detection(format=max(matching, key=lambda m: len(m[0]))[1], configured=True)
    for pattern, name in KEY_PATTERNS:
        if pattern.search(key):
            return Detection(format=name)
    return Detection()
