"""Seeding and reading a Lambda estate under in-process moto for the Lambda housekeeping tests."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime
from typing import Any

import boto3
import botocore.loaders
import botocore.session

from cli.moto_lambda import teach_moto
from shared.aws import Clients
from tests.faults import CallLog
from tests.helpers import REGION

ACCOUNT = "123456789012"
BUCKET = "devops-tasks-reports"
_LOADER = botocore.loaders.create_loader()


def session(region: str = REGION) -> boto3.Session:
    """A new session (its own events and clients) that shares botocore's loaded API models with the others."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _LOADER)
    return boto3.Session(botocore_session=core, region_name=region)


def lam(region: str = REGION, sess: boto3.Session | None = None) -> Any:
    teach_moto()
    return (sess or session()).client("lambda", region_name=region)


def reports_bucket() -> str:
    session().client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return BUCKET


def code(n: int, padding: int = 0) -> bytes:
    """A small zip whose content (and so whose CodeSha256) differs for every ``n``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("index.py", f"def handler(event, context):\n    return {n}\n" + "#" * padding)
    return buf.getvalue()


def role() -> str:
    iam = session().client("iam")
    try:
        return str(iam.get_role(RoleName="fn")["Role"]["Arn"])
    except iam.exceptions.NoSuchEntityException:
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
        return str(iam.create_role(RoleName="fn", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])


def function(
    client: Any,
    name: str,
    versions: int = 30,
    *,
    layers_at: dict[int, list[str]] | None = None,
    tags: dict[str, str] | None = None,
    padding: int = 0,
) -> str:
    """A function with ``versions`` published versions (1..versions), each from new code; its unqualified ARN.

    ``layers_at[n]``: the layers the function uses from version ``n`` on.
    """
    arn = client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role(),
        Handler="index.handler",
        Code={"ZipFile": code(0, padding)},
        Tags=tags or {},
    )["FunctionArn"]
    for n in range(1, versions + 1):
        if layers_at and n in layers_at:
            client.update_function_configuration(FunctionName=name, Layers=layers_at[n])
        client.update_function_code(FunctionName=name, ZipFile=code(n, padding))
        client.publish_version(FunctionName=name)
    return str(arn)


def layer(client: Any, name: str, versions: int) -> list[str]:
    """A layer with ``versions`` versions; their ARNs, oldest first."""
    return [
        str(client.publish_layer_version(LayerName=name, Content={"ZipFile": code(100 + n)})["LayerVersionArn"])
        for n in range(1, versions + 1)
    ]


def share_layer_version(client: Any, layer_name: str, version: int, principal: str = "*") -> None:
    client.add_layer_version_permission(
        LayerName=layer_name,
        VersionNumber=version,
        StatementId=f"share-{principal.replace('*', 'all')}",
        Action="lambda:GetLayerVersion",
        Principal=principal,
    )


def alias(client: Any, function_name: str, name: str, version: str, weights: dict[str, float] | None = None) -> None:
    params: dict[str, Any] = {"FunctionName": function_name, "Name": name, "FunctionVersion": version}
    if weights:
        params["RoutingConfig"] = {"AdditionalVersionWeights": weights}
    client.create_alias(**params)


def mapping(client: Any, target: str, queue: str = "events") -> str:
    """An SQS event source mapping invoking ``target`` (a name, ``name:qualifier`` or an ARN); its UUID."""
    sqs = session().client("sqs", region_name=client.meta.region_name)
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return str(client.create_event_source_mapping(EventSourceArn=arn, FunctionName=target)["UUID"])


def provisioned(client: Any, function_name: str, qualifier: str, n: int = 1) -> None:
    client.put_provisioned_concurrency_config(
        FunctionName=function_name, Qualifier=qualifier, ProvisionedConcurrentExecutions=n
    )


def versions(client: Any, function_name: str) -> list[int]:
    """The published version numbers that exist, ascending."""
    found = client.list_versions_by_function(FunctionName=function_name)["Versions"]
    return sorted(int(v["Version"]) for v in found if v["Version"].isdigit())


def layer_versions(client: Any, layer_name: str) -> list[int]:
    return sorted(int(v["Version"]) for v in client.list_layer_versions(LayerName=layer_name)["LayerVersions"])


def age(function_name: str, version: int, when: datetime, *, region: str = REGION) -> None:
    """Set a version's LastModified as Lambda reports it (moto stamps the real time when publishing)."""
    from moto.awslambda.models import lambda_backends

    group = lambda_backends[ACCOUNT][region]._lambdas._functions[function_name]
    found = next(v for v in group["versions"] if str(v.version) == str(version))
    found.last_modified = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def counted_clients(region: str = REGION) -> tuple[Clients, CallLog]:
    fresh = session(region)
    return Clients(fresh), CallLog().attach(fresh)


def report_from_s3(location: str) -> dict[str, Any]:
    bucket, key = location.removeprefix("s3://").split("/", 1)
    body = session().client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    data: dict[str, Any] = json.loads(body)
    return data


def actions(report: dict[str, Any], *, kind: str | None = None, unit: int = 0) -> list[dict[str, Any]]:
    found = report["units"][unit]["actions"]
    return [a for a in found if kind is None or a["detail"].get("kind") == kind]


def reasons(report: dict[str, Any], unit: int = 0) -> dict[str, str]:
    """``name:version`` -> reason, for every version and layer version decided in the unit."""
    return {
        f"{a['detail']['name']}:{a['detail']['version']}": a["reason"]
        for a in actions(report, unit=unit)
        if a["detail"].get("kind") in ("version", "layer-version")
    }


def now() -> datetime:
    return datetime.now(UTC)
