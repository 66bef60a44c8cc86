"""Read-only inventory: one paginated listing per resource type per region, IAM through the credential report,
per-bucket S3 reads in parallel (the public-access reads skipped when the account's Block Public Access settles
them; tags from the Resource Groups Tagging API, one listing per region). A listing that fails is recorded as that
source's error; the checks that need it report ERROR.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.resource_audit import inventory_lambda, inventory_services
from functions.resource_audit.checks.base import Inventory, SourceError, flag
from functions.resource_audit.checks.s3 import CANCELS, cancels_all, effective
from shared.aws import Clients, error_code
from shared.observability import logger

PAGE = 1000
LIVE_STATES = ["pending", "running", "shutting-down", "stopping", "stopped"]
ALL_USERS = (
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
)
BUCKET_FIELD_OF_CHECK = {
    "s3-bucket-public": "public",
    "s3-bucket-secure-transport": "policy",
    "s3-bucket-versioning": "versioning",
    "s3-bucket-lifecycle": "lifecycle",
    "tags-required-s3": "tags",
}
REPORT_POLLS = 10


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def _catch(fn: Callable[[], Any]) -> Any:
    """The value, or a SourceError: for an AWS error (throttling past botocore's retries included), and for a
    response this code cannot read (logged with its traceback), so that only the checks needing it are ERROR."""
    try:
        return fn()
    except (ClientError, BotoCoreError) as exc:
        return SourceError(error_code(exc), str(exc))
    except Exception as exc:  # noqa: BLE001 - recorded as the source's error: its checks report ERROR
        logger.exception("listing raised", error=type(exc).__name__)
        return SourceError(type(exc).__name__, str(exc))


def _fetch(inv: Inventory, name: str, fn: Callable[[], Any]) -> None:
    value = _catch(fn)
    if isinstance(value, SourceError):
        logger.warning("listing failed", source=name, account=inv.account, region=inv.region, error_code=value.code)
        inv.errors[name] = value
    else:
        inv.data[name] = value


def _pages(client: Any, op: str, key: str, **params: Any) -> list[Any]:
    return [item for page in client.get_paginator(op).paginate(**params) for item in page.get(key, [])]


def _regional_listers(ec2: Any, logs: Any) -> dict[str, Callable[[], Any]]:
    cfg = {"PaginationConfig": {"PageSize": PAGE}}
    return {
        "volumes": lambda: _pages(ec2, "describe_volumes", "Volumes", PaginationConfig={"PageSize": 500}),
        "snapshots": lambda: _pages(ec2, "describe_snapshots", "Snapshots", OwnerIds=["self"], **cfg),
        "public_snapshots": lambda: [
            s["SnapshotId"]
            for s in _pages(
                ec2, "describe_snapshots", "Snapshots", OwnerIds=["self"], RestorableByUserIds=["all"], **cfg
            )
        ],
        "images": lambda: _pages(
            ec2, "describe_images", "Images", Owners=["self"], IncludeDeprecated=True, IncludeDisabled=True, **cfg
        ),
        "instances": lambda: [
            inst
            for r in _pages(
                ec2,
                "describe_instances",
                "Reservations",
                Filters=[{"Name": "instance-state-name", "Values": LIVE_STATES}],
                **cfg,
            )
            for inst in r.get("Instances", [])
        ],
        "addresses": lambda: ec2.describe_addresses().get("Addresses", []),
        "security_groups": lambda: _pages(ec2, "describe_security_groups", "SecurityGroups", **cfg),
        "network_interfaces": lambda: _pages(ec2, "describe_network_interfaces", "NetworkInterfaces", **cfg),
        "ebs_default_encryption": lambda: ec2.get_ebs_encryption_by_default().get("EbsEncryptionByDefault"),
        "log_groups": lambda: _pages(logs, "describe_log_groups", "logGroups", PaginationConfig={"PageSize": 50}),
    }


def prefix_lists(ec2: Any, groups: list[dict[str, Any]]) -> dict[str, Any]:
    """The CIDRs of every managed prefix list the groups' ingress rules name: one paginated
    GetManagedPrefixListEntries per distinct list; a list that cannot be read is its SourceError."""
    ids = sorted(
        {
            str(ref["PrefixListId"])
            for g in groups
            for perm in g.get("IpPermissions") or []
            for ref in perm.get("PrefixListIds") or []
            if ref.get("PrefixListId")
        }
    )
    read = {
        pl: _catch(
            partial(
                _pages,
                ec2,
                "get_managed_prefix_list_entries",
                "Entries",
                PrefixListId=pl,
                PaginationConfig={"PageSize": 100},
            )
        )
        for pl in ids
    }
    return {pl: [e["Cidr"] for e in entries] if isinstance(entries, list) else entries for pl, entries in read.items()}


DERIVED = (
    {"prefix_lists": "security_groups"}
    | dict.fromkeys(inventory_lambda.PER_FUNCTION, "lambda_functions")
    | inventory_services.DERIVED
)
"""Sources read from another source's listing, after it (and not at all when it failed)."""


def regional(
    clients: Clients,
    account: str,
    region: str,
    needs: Iterable[str],
    given: Mapping[str, Callable[[], Any]] | None = None,
    now: datetime | None = None,
) -> Inventory:
    """The listings of one (account, region) that the enabled checks need; ``given``: sources the run reads once
    for every unit (the organization's accounts)."""
    inv = Inventory(account=account, region=region, partition=partition_of(region))
    ec2 = clients.client("ec2", region)
    listers = _regional_listers(ec2, clients.client("logs", region))
    listers["prefix_lists"] = lambda: prefix_lists(ec2, inv.data["security_groups"])
    listers |= inventory_services.listers(clients, region, inv, now or datetime.now(UTC))
    listers |= dict(given or {})
    if any(name.startswith("lambda_") for name in needs):
        listers |= inventory_lambda.listers(clients.client("lambda", region), inv)
    for name in sorted(needs, key=lambda n: (n in DERIVED, n)):
        if name in DERIVED and DERIVED[name] not in inv.data:
            continue  # its checks are in ERROR for the failed listing it comes from
        _fetch(inv, name, listers[name])
    return inv


def account_wide(
    clients: Clients,
    account: str,
    home_region: str,
    needs: Iterable[str],
    bucket_fields: set[str],
    *,
    max_workers: int,
    sleep: Callable[[float], None] = time.sleep,
) -> Inventory:
    """The account-wide sources: S3 (account setting and buckets), IAM, CloudTrail."""
    needs = set(needs)
    inv = Inventory(account=account, region="global", partition=partition_of(home_region))
    s3control = clients.client("s3control", home_region)
    if "account_public_access_block" in needs or "public" in bucket_fields:
        _fetch(inv, "account_public_access_block", lambda: _account_bpa(s3control, account))
    if "buckets" in needs:
        fields = set(bucket_fields)
        account_block = inv.data.get("account_public_access_block")
        if cancels_all(account_block):
            fields.discard("public")
        _fetch(inv, "buckets", lambda: _buckets(clients, home_region, fields, max_workers, account_block))
    iam = clients.client("iam", home_region)
    if needs & {"credential_report", "root"}:
        _fetch(inv, "credential_report", lambda: credential_report(iam, sleep))
        if "root" in needs:
            _fetch(inv, "root", lambda: _root(iam, inv))
    if "password_policy" in needs:
        _fetch(inv, "password_policy", lambda: _password_policy(iam))
    if "authorization_details" in needs:
        _fetch(inv, "authorization_details", lambda: authorization_details(iam))
    if "trails" in needs:
        _fetch(inv, "trails", lambda: _trails(clients, home_region))
    return inv


def _account_bpa(s3control: Any, account: str) -> dict[str, Any] | None:
    try:
        config: dict[str, Any] = s3control.get_public_access_block(AccountId=account)["PublicAccessBlockConfiguration"]
    except ClientError as exc:
        if error_code(exc) == "NoSuchPublicAccessBlockConfiguration":
            return None
        raise
    return config


def _absent(call: Callable[[], Any], *codes: str, default: Any = None) -> Any:
    """The call's result, or ``default`` when AWS says the configuration does not exist."""
    try:
        return call()
    except ClientError as exc:
        if error_code(exc) in codes:
            return default
        raise


def _bucket_region(s3: Any, raw: dict[str, Any]) -> str:
    if raw.get("BucketRegion"):
        return str(raw["BucketRegion"])
    where = s3.get_bucket_location(Bucket=raw["Name"]).get("LocationConstraint")
    if not where:
        return "us-east-1"
    return "eu-west-1" if where == "EU" else str(where)


def _bucket_reads(
    s3: Any, name: str, account_block: dict[str, Any] | None, bucket: dict[str, Any]
) -> dict[str, Callable[[], Any]]:
    """The per-bucket reads; ``bucket`` holds the fields read so far (``public`` is read last, after ``policy``)."""

    def public() -> dict[str, Any]:
        """The bucket's Block Public Access, then only the grants it (with the account's) does not cancel."""
        block = _absent(
            lambda: s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"],
            "NoSuchPublicAccessBlockConfiguration",
        )
        on = effective(account_block, block)
        out: dict[str, Any] = {"block": block}
        if not on[CANCELS["policy"]]:
            if "policy" in bucket and bucket["policy"] is None:
                out["policy_public"] = False  # no bucket policy: GetBucketPolicyStatus would say NoSuchBucketPolicy
            else:
                status = _absent(lambda: s3.get_bucket_policy_status(Bucket=name)["PolicyStatus"], "NoSuchBucketPolicy")
                out["policy_public"] = bool((status or {}).get("IsPublic"))
        if not on[CANCELS["acl"]]:
            grants = s3.get_bucket_acl(Bucket=name).get("Grants", [])
            out["acl_public"] = any(g.get("Grantee", {}).get("URI") in ALL_USERS for g in grants)
        return out

    return {
        "tags": lambda: {
            t["Key"]: t["Value"]
            for t in _absent(lambda: s3.get_bucket_tagging(Bucket=name)["TagSet"], "NoSuchTagSet", default=[])
        },
        "policy": lambda: _absent(lambda: s3.get_bucket_policy(Bucket=name)["Policy"], "NoSuchBucketPolicy"),
        "versioning": lambda: s3.get_bucket_versioning(Bucket=name).get("Status"),
        "lifecycle": lambda: _absent(
            lambda: s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"], "NoSuchLifecycleConfiguration"
        ),
        "public": public,
    }


TAGGING_PAGE = 100
"""GetResources' largest page (ResourcesPerPage)."""


def bucket_tags(clients: Clients, region: str, names: set[str]) -> dict[str, dict[str, str]]:
    """The tags of the region's buckets ``names`` from one paginated Resource Groups Tagging API listing
    (GetResources, type ``s3``): it answers for every tagged bucket of the region at once, where GetBucketTagging
    takes a call per bucket. A bucket it does not return has no tags (the API lists tagged resources only)."""
    client = clients.client("resourcegroupstaggingapi", region)
    found: dict[str, dict[str, str]] = {}
    pages = client.get_paginator("get_resources").paginate(
        ResourceTypeFilters=["s3"], PaginationConfig={"PageSize": TAGGING_PAGE}
    )
    for page in pages:
        for item in page.get("ResourceTagMappingList", []):
            name = str(item["ResourceARN"]).rsplit(":", 1)[-1]
            if name in names:  # only this region's buckets, as AWS answers (moto answers with every region's)
                found[name] = {t["Key"]: t["Value"] for t in item.get("Tags", [])}
    return {name: found.get(name, {}) for name in names}


def _buckets(
    clients: Clients, home_region: str, fields: set[str], max_workers: int, account_block: dict[str, Any] | None
) -> list[dict[str, Any]]:
    home = clients.client("s3", home_region)
    listed = _pages(home, "list_buckets", "Buckets", PaginationConfig={"PageSize": PAGE})
    if not listed or not fields:
        return [{"Name": b["Name"], "Region": b.get("BucketRegion")} for b in listed]

    def tags_of(region: str, names: list[str]) -> dict[str, dict[str, str]] | SourceError:
        tags = _catch(lambda: bucket_tags(clients, region, set(names)))
        if isinstance(tags, SourceError):
            logger.warning("tagging api failed; tags read per bucket", region=region, error_code=tags.code)
        return tags  # type: ignore[no-any-return]

    def read(raw: dict[str, Any], region: str | SourceError) -> dict[str, Any]:
        bucket: dict[str, Any] = {"Name": raw["Name"], "CreationDate": raw.get("CreationDate")}
        if isinstance(region, SourceError):
            bucket["Region"] = None
            bucket.update(dict.fromkeys(fields, region))
            return bucket
        bucket["Region"] = region
        reads = _bucket_reads(clients.client("s3", region), raw["Name"], account_block, bucket)
        for f in sorted(fields, key=lambda f: (f == "public", f)):
            known = tags.get(region) if f == "tags" else None
            bucket[f] = known[raw["Name"]] if isinstance(known, dict) else _catch(reads[f])
        return bucket

    with ThreadPoolExecutor(max_workers=min(max_workers, len(listed)), thread_name_prefix="bucket") as pool:
        regions = list(pool.map(lambda raw: _catch(lambda: _bucket_region(home, raw)), listed))
        by_region: dict[str, list[str]] = {}
        for raw, region in zip(listed, regions, strict=True):
            if isinstance(region, str):
                by_region.setdefault(region, []).append(raw["Name"])
        tags: dict[str, dict[str, dict[str, str]] | SourceError] = {}
        if "tags" in fields:
            tags = dict(zip(by_region, pool.map(tags_of, by_region, by_region.values()), strict=True))
        return list(pool.map(read, listed, regions))


def credential_report(iam: Any, sleep: Callable[[float], None]) -> list[dict[str, str]]:
    """Generate (or reuse a recent) credential report and read it: a few calls however many users.

    GenerateCredentialReport only starts the report; GetCredentialReport is retried while it is in progress.
    """
    iam.generate_credential_report()
    for attempt in range(REPORT_POLLS):
        try:
            content = iam.get_credential_report()["Content"]
            break
        except ClientError as exc:
            if error_code(exc) not in ("ReportInProgress", "ReportNotPresent") or attempt == REPORT_POLLS - 1:
                raise
            sleep(min(2.0 * (attempt + 1), 10.0))
    text = content.decode() if isinstance(content, bytes) else str(content)
    reader = csv.DictReader(io.StringIO(text))
    missing = sorted(set(REPORT_COLUMNS) - set(reader.fieldnames or ()))
    if missing:
        raise ValueError(f"not a credential report: no column {', '.join(missing)}")
    rows = list(reader)
    if any(None in row or None in row.values() or not row.get("user") for row in rows):
        raise ValueError("not a credential report: a row does not match the header")
    return rows


REPORT_COLUMNS = (
    "user",
    "arn",
    "password_enabled",
    "password_last_used",
    "mfa_active",
    "access_key_1_active",
    "access_key_1_last_used_date",
    "access_key_2_active",
    "access_key_2_last_used_date",
)
"""The columns the checks read: a report without them cannot be read (its checks are ERROR, never PASS)."""

DETAIL_LISTS = ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")


def authorization_details(iam: Any) -> dict[str, list[Any]]:
    """Users, groups and roles with their inline and attached policies, and the customer managed policies with
    their versions: one paginated GetAccountAuthorizationDetails, however many principals."""
    out: dict[str, list[Any]] = {key: [] for key in DETAIL_LISTS}
    pages = iam.get_paginator("get_account_authorization_details").paginate(
        Filter=["User", "Group", "Role", "LocalManagedPolicy"], PaginationConfig={"PageSize": PAGE}
    )
    for page in pages:
        for key in DETAIL_LISTS:
            out[key].extend(page.get(key, []))
    return out


def root_from_report(row: dict[str, str]) -> dict[str, Any]:
    """Root MFA and keys from the report's root row; None where the row does not say."""
    keys = [flag(row.get(f"access_key_{n}_active")) for n in (1, 2)]
    has_keys = True if True in keys else (None if None in keys else False)
    return {"mfa": flag(row.get("mfa_active")), "keys": has_keys, "source": "credential report"}


def root_from_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """Root MFA and keys from GetAccountSummary's SummaryMap; None where it does not say."""
    return {
        "mfa": flag(summary.get("AccountMFAEnabled")),
        "keys": flag(summary.get("AccountAccessKeysPresent")),
        "source": "account summary",
    }


def _root(iam: Any, inv: Inventory) -> dict[str, Any]:
    """Root MFA and keys from the report's root row; from GetAccountSummary where the report has none."""
    rows = inv.data.get("credential_report") or []
    for row in rows:
        if row.get("user") == "<root_account>":
            return root_from_report(row)
    return root_from_summary(iam.get_account_summary()["SummaryMap"])


def _password_policy(iam: Any) -> dict[str, Any] | None:
    policy: dict[str, Any] | None = _absent(lambda: iam.get_account_password_policy()["PasswordPolicy"], "NoSuchEntity")
    return policy


def _trails(clients: Clients, home_region: str) -> list[dict[str, Any]]:
    trails = clients.client("cloudtrail", home_region).describe_trails(includeShadowTrails=True).get("trailList", [])
    out = []
    seen: set[str] = set()
    for trail in trails:
        arn = trail.get("TrailARN", trail.get("Name", ""))
        if arn in seen:
            continue
        seen.add(arn)
        status: Any = None
        if trail.get("IsMultiRegionTrail"):
            client = clients.client("cloudtrail", trail.get("HomeRegion") or home_region)
            status = _catch(partial(client.get_trail_status, Name=arn))
        out.append({"trail": trail, "status": status})
    return out


def organization_accounts(clients: Clients) -> frozenset[str] | SourceError:
    """The account ids of the organization (one paginated ListAccounts); empty when the account is in none."""

    def listed() -> frozenset[str]:
        org = clients.client("organizations", clients.default_region)
        try:
            return frozenset(
                a["Id"] for a in _pages(org, "list_accounts", "Accounts", PaginationConfig={"PageSize": 20})
            )
        except ClientError as exc:
            if error_code(exc) == "AWSOrganizationsNotInUseException":
                return frozenset()
            raise

    found: frozenset[str] | SourceError = _catch(listed)
    return found
