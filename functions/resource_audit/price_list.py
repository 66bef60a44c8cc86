"""An optional refresh of the price table from the AWS Price List API (``refresh_prices``), cached in the reports
bucket with the date it was fetched.

GetProducts (pricing endpoint in us-east-1, paginated) answers with one JSON document per product; the on-demand
USD price of the EBS volume types (``productFamily`` Storage, by ``volumeApiName``) and of standard snapshot storage
(``usagetype`` EBS:SnapshotUsage) in us-east-1 replace the shipped ones. A cache younger than ``price_cache_days``
is used as is. A refresh that fails (AccessDenied, a product missing, a document that cannot be read) leaves the
shipped table in place, and the report says why.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.resource_audit.findings import PriceSource
from functions.resource_audit.prices import EBS_TYPES, SHIPPED, PriceTable
from shared.aws import error_code
from shared.observability import logger

PRICING_REGION = "us-east-1"
"""The Price List API's endpoint (it also answers in eu-central-1 and ap-south-1); prices are for us-east-1."""
LOCATION = "us-east-1"
CACHE_NAME = "prices.json"


def cache_key(prefix: str, task: str) -> str:
    head = f"{prefix}/{task}" if prefix else task
    return f"{head}/{CACHE_NAME}"


def _products(pricing: Any, **filters: str) -> list[dict[str, Any]]:
    pages = pricing.get_paginator("get_products").paginate(
        ServiceCode="AmazonEC2",
        FormatVersion="aws_v1",
        Filters=[{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in filters.items()],
        PaginationConfig={"PageSize": 100},
    )
    return [json.loads(item) for page in pages for item in page.get("PriceList", [])]


def on_demand_usd(product: dict[str, Any]) -> float:
    """The product's one on-demand USD price; ValueError when there is not exactly one."""
    found = [
        float(dim["pricePerUnit"]["USD"])
        for term in (product.get("terms", {}).get("OnDemand") or {}).values()
        for dim in (term.get("priceDimensions") or {}).values()
        if "USD" in (dim.get("pricePerUnit") or {})
    ]
    if len(found) != 1:
        sku = product.get("product", {}).get("sku")
        raise ValueError(f"product {sku}: {len(found)} on-demand USD prices, expected one")
    return found[0]


def fetch(pricing: Any) -> tuple[dict[str, float], float]:
    """EBS storage per volume type and snapshot storage, USD per GB-month in us-east-1, from GetProducts."""
    storage: dict[str, float] = {}
    for product in _products(pricing, regionCode=LOCATION, productFamily="Storage"):
        kind = product.get("product", {}).get("attributes", {}).get("volumeApiName")
        if kind in EBS_TYPES:
            storage[kind] = on_demand_usd(product)
    missing = [k for k in EBS_TYPES if k not in storage]
    if missing:
        raise ValueError(f"the Price List has no storage price for {', '.join(missing)}")
    snapshots = _products(pricing, regionCode=LOCATION, productFamily="Storage Snapshot", usagetype="EBS:SnapshotUsage")
    if len(snapshots) != 1:
        raise ValueError(f"the Price List has {len(snapshots)} standard snapshot storage products, expected one")
    return storage, on_demand_usd(snapshots[0])


def _source(fetched: date, where: str) -> PriceSource:
    return PriceSource(
        source=f"AWS Price List API (GetProducts, {where}): EBS volume and snapshot storage; the shipped table "
        f"({SHIPPED.source.as_of}) for gp3 IOPS and throughput and public IPv4 addresses",
        as_of=fetched.isoformat(),
        note=SHIPPED.source.note,
    )


def _table(body: dict[str, Any], where: str) -> PriceTable:
    storage = {k: float(body["ebs_gb_month"][k]) for k in EBS_TYPES}
    fetched = date.fromisoformat(body["fetched_on"])
    return SHIPPED.with_storage(storage, float(body["snapshot_gb_month"]), _source(fetched, where))


def _read_cache(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if error_code(exc) in ("NoSuchKey", "404"):
            return None
        raise
    found: dict[str, Any] = json.loads(body)
    return found


def load(
    s3: Any, pricing: Any, bucket: str | None, key: str, now: datetime, max_age_days: int
) -> tuple[PriceTable, str | None]:
    """The price table of this run and, when a refresh failed, why (the shipped table is used then)."""
    where = f"s3://{bucket}/{key}" if bucket else None
    try:
        cached = _read_cache(s3, bucket, key) if bucket else None
        if cached is not None and date.fromisoformat(cached["fetched_on"]) >= now.date() - timedelta(days=max_age_days):
            return _table(cached, f"cached at {where}"), None
    except (ClientError, BotoCoreError, ValueError, KeyError, TypeError) as exc:
        logger.warning("price cache not read; refreshing", location=where, error=type(exc).__name__)
    try:
        storage, snapshot = fetch(pricing)
    except (ClientError, BotoCoreError, ValueError, KeyError, TypeError) as exc:
        why = error_code(exc) if isinstance(exc, ClientError | BotoCoreError) else f"{type(exc).__name__}: {exc}"
        logger.warning("price refresh failed; using the shipped table", error=why)
        return SHIPPED, f"the Price List refresh failed ({why}); the shipped table of {SHIPPED.source.as_of} is used"
    body = {"fetched_on": now.date().isoformat(), "region": LOCATION, "ebs_gb_month": storage,
            "snapshot_gb_month": snapshot}  # fmt: skip
    if bucket:
        try:
            s3.put_object(
                Bucket=bucket, Key=key, Body=json.dumps(body, indent=1).encode(), ContentType="application/json"
            )
        except (ClientError, BotoCoreError) as exc:
            logger.warning("price cache not written", location=where, error_code=error_code(exc))
    return _table(body, "fetched this run"), None
