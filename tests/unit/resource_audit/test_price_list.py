"""The optional Price List refresh: GetProducts pages (Stubber, AWS's JSON shape), the cache in the reports
bucket with its date, and the fall back to the shipped table, said in the report, when a refresh fails."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from functions.resource_audit import price_list
from functions.resource_audit.checks import BY_ID
from functions.resource_audit.checks.base import CheckEnv, Inventory
from functions.resource_audit.models import ResourceAuditInput
from functions.resource_audit.prices import EBS_TYPES, SHIPPED

NOW = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)
BUCKET, KEY = "reports", "reports/resource-audit/prices.json"
NEW = {"gp3": 0.0792, "gp2": 0.099, "io1": 0.124, "io2": 0.124, "st1": 0.044, "sc1": 0.014, "standard": 0.049}
SNAPSHOT = 0.049


def _product(family: str, usagetype: str, usd: float, **attributes: str) -> str:
    """One PriceList entry as GetProducts returns it: a JSON document in a string."""
    sku = f"SKU{abs(hash((family, usagetype))) % 10**12:012d}"
    term, rate = f"{sku}.JRTCKXETXF", f"{sku}.JRTCKXETXF.6YS6EN2CT7"
    return json.dumps(
        {
            "product": {
                "productFamily": family,
                "attributes": {"servicecode": "AmazonEC2", "regionCode": "us-east-1", "location":
                               "US East (N. Virginia)", "locationType": "AWS Region", "usagetype": usagetype,
                               "servicename": "Amazon Elastic Compute Cloud", "operation": ""} | attributes,
                "sku": sku,
            },
            "serviceCode": "AmazonEC2",
            "terms": {"OnDemand": {term: {
                "priceDimensions": {rate: {"unit": "GB-Mo", "endRange": "Inf", "description": f"${usd} per GB-month",
                                           "appliesTo": [], "rateCode": rate, "beginRange": "0",
                                           "pricePerUnit": {"USD": f"{usd:.10f}"}}},
                "sku": sku, "effectiveDate": "2026-03-01T00:00:00Z", "offerTermCode": "JRTCKXETXF",
                "termAttributes": {}}}},
            "version": "20260301000000",
            "publicationDate": "2026-03-01T00:00:00Z",
        }
    )  # fmt: skip


def _volume(kind: str, usd: float) -> str:
    return _product("Storage", f"EBS:VolumeUsage.{kind}", usd, volumeApiName=kind, storageMedia="SSD-backed")


def _filters(**fields: str) -> list[dict[str, str]]:
    return [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in fields.items()]


STORAGE = _filters(regionCode="us-east-1", productFamily="Storage")
SNAPSHOTS = _filters(regionCode="us-east-1", productFamily="Storage Snapshot", usagetype="EBS:SnapshotUsage")


def _pricing(prices: dict[str, float] = NEW, snapshot: float = SNAPSHOT) -> tuple[Any, Stubber]:
    client = boto3.client("pricing", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(client)
    docs = [_volume(k, v) for k, v in prices.items()]
    docs.append(_product("Storage", "EBS:VolumeUsage.piops.io2.tier2", 0.1, volumeApiName="io2-tier"))
    base = {"ServiceCode": "AmazonEC2", "FormatVersion": "aws_v1", "MaxResults": 100}
    stub.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": docs[:4], "NextToken": "page-2"},
                      base | {"Filters": STORAGE})  # fmt: skip
    stub.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": docs[4:]},
                      base | {"Filters": STORAGE, "NextToken": "page-2"})  # fmt: skip
    stub.add_response("get_products", {"FormatVersion": "aws_v1",
                                       "PriceList": [_product("Storage Snapshot", "EBS:SnapshotUsage", snapshot)]},
                      base | {"Filters": SNAPSHOTS})  # fmt: skip
    stub.activate()
    return client, stub


def _s3(cache: dict[str, Any] | None, *, write: bool) -> tuple[Any, Stubber]:
    client = boto3.client("s3", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(client)
    if cache is None:
        stub.add_client_error("get_object", "NoSuchKey", http_status_code=404)
    else:
        stub.add_response("get_object", {"Body": io.BytesIO(json.dumps(cache).encode())})
    if write:
        stub.add_response("put_object", {}, {"Bucket": BUCKET, "Key": KEY, "Body": ANY, "ContentType": ANY})
    stub.activate()
    return client, stub


def test_prices_come_from_every_page_of_getproducts() -> None:
    pricing, stub = _pricing()
    storage, snapshot = price_list.fetch(pricing)
    assert storage == NEW
    assert snapshot == SNAPSHOT
    stub.assert_no_pending_responses()


def test_a_refresh_without_a_cache_fetches_writes_the_dated_cache_and_prices_savings_with_it() -> None:
    pricing, _ = _pricing()
    s3, s3_stub = _s3(None, write=True)
    table, problem = price_list.load(s3, pricing, BUCKET, KEY, NOW, 30)
    assert problem is None
    assert dict(table.ebs_gb_month) == NEW
    assert table.source.as_of == "2026-03-10"
    assert "Price List API" in table.source.source
    s3_stub.assert_no_pending_responses()
    volume = {"VolumeId": "vol-1", "State": "available", "Size": 100, "VolumeType": "gp3"}
    inv = Inventory(account="123456789012", region="eu-west-1", data={"volumes": [volume]})
    [outcome] = BY_ID["ebs-volume-unattached"].run(inv, CheckEnv(ResourceAuditInput(), NOW, table))
    assert outcome.saving == pytest.approx(7.92)


def test_a_fresh_cache_is_used_without_calling_the_price_list() -> None:
    cache = {"fetched_on": "2026-02-20", "region": "us-east-1", "ebs_gb_month": NEW, "snapshot_gb_month": SNAPSHOT}
    pricing = boto3.client("pricing", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    Stubber(pricing).activate()  # any call would fail the test
    s3, _ = _s3(cache, write=False)
    table, problem = price_list.load(s3, pricing, BUCKET, KEY, NOW, 30)
    assert (problem, table.source.as_of, table.snapshot_gb_month) == (None, "2026-02-20", SNAPSHOT)


def test_a_stale_cache_is_refreshed() -> None:
    stale = {"fetched_on": "2025-12-01", "region": "us-east-1", "ebs_gb_month": dict(SHIPPED.ebs_gb_month),
             "snapshot_gb_month": 0.05}  # fmt: skip
    pricing, stub = _pricing()
    s3, _ = _s3(stale, write=True)
    table, _ = price_list.load(s3, pricing, BUCKET, KEY, NOW, 30)
    assert table.source.as_of == "2026-03-10"
    stub.assert_no_pending_responses()


def test_a_denied_refresh_falls_back_to_the_shipped_table_and_says_why() -> None:
    pricing = boto3.client("pricing", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(pricing)
    stub.add_client_error("get_products", "AccessDeniedException", http_status_code=400)
    stub.activate()
    s3, _ = _s3(None, write=False)
    table, problem = price_list.load(s3, pricing, BUCKET, KEY, NOW, 30)
    assert table is SHIPPED
    assert problem is not None
    assert "AccessDeniedException" in problem
    assert SHIPPED.source.as_of in problem


def test_a_price_list_without_a_volume_type_is_not_half_used() -> None:
    pricing, _ = _pricing({k: v for k, v in NEW.items() if k != "io2"})
    s3, _ = _s3(None, write=False)
    table, problem = price_list.load(s3, pricing, BUCKET, KEY, NOW, 30)
    assert table is SHIPPED
    assert problem is not None
    assert "io2" in problem


def test_a_product_with_two_prices_is_not_guessed() -> None:
    doc = json.loads(_volume("gp3", 0.08))
    terms = doc["terms"]["OnDemand"]
    term = next(iter(terms.values()))
    rate = next(iter(term["priceDimensions"].values()))
    term["priceDimensions"]["other"] = rate | {"pricePerUnit": {"USD": "0.07"}}
    with pytest.raises(ValueError, match="2 on-demand USD prices"):
        price_list.on_demand_usd(doc)


def test_the_shipped_table_prices_every_volume_type_and_is_dated() -> None:
    assert set(SHIPPED.ebs_gb_month) == set(EBS_TYPES)
    assert SHIPPED.source.as_of == "2025-01"
