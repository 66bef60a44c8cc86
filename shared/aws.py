"""AWS clients: lazily created, cached per (account, service, region), one botocore configuration.

The endpoint comes only from the standard ``AWS_ENDPOINT_URL`` variables that boto3 honours itself, and
credentials from the standard chain, so the same code runs against real AWS or any compatible endpoint.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config

from shared import PROJECT, __version__

BOTO_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 8},
    connect_timeout=5,
    read_timeout=60,
    max_pool_connections=32,
    user_agent_extra=f"{PROJECT}/{__version__}",
)


_loader: botocore.loaders.Loader | None = None
_loader_lock = threading.Lock()


def new_session(**kwargs: Any) -> boto3.Session:
    """A boto3 session that shares botocore's loaded API models with every other session of the process.

    Loading the models costs about half a second of CPU per session; a warm Lambda container pays it once.
    Credentials, region and endpoint stay per session.
    """
    global _loader  # one process-wide cache of immutable API models
    with _loader_lock:
        if _loader is None:
            _loader = botocore.loaders.create_loader()
    core = botocore.session.get_session()
    core.register_component("data_loader", _loader)
    return boto3.Session(botocore_session=core, **kwargs)


class Clients:
    """boto3 clients for one account, created on first use and cached per (service, region).

    Thread-safe: executors share one instance across their worker threads.
    """

    def __init__(self, session: boto3.Session | None = None, *, config: Config = BOTO_CONFIG) -> None:
        self._session = session
        self._config = config
        self._cache: dict[tuple[str, str | None], Any] = {}
        self._lock = threading.Lock()
        self._account_id: str | None = None
        self._assumed: dict[tuple[str, str | None], Clients] = {}

    @property
    def session(self) -> boto3.Session:
        if self._session is None:
            self._session = new_session()
        return self._session

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region)
        with self._lock:
            found = self._cache.get(key)
            if found is None:
                found = self.session.client(service, region_name=region, config=self._config)  # type: ignore[call-overload]
                self._cache[key] = found
            return found

    @property
    def default_region(self) -> str:
        region = self.session.region_name
        if not region:
            raise ValueError(
                "no AWS region configured: set AWS_DEFAULT_REGION (or a region in the profile), or pass regions"
            )
        return region

    def _sts_region(self, fallback: str | None) -> str:
        return self.session.region_name or fallback or self.default_region

    def account_id(self, region: str | None = None) -> str:
        """The account of these credentials (one STS call, cached; ``region`` if no default region is configured)."""
        if self._account_id is None:
            ident = self.client("sts", self._sts_region(region)).get_caller_identity()
            self._account_id = str(ident["Account"])
        return self._account_id

    def assume(self, role_arn: str, *, external_id: str | None = None, region: str | None = None) -> Clients:
        """Clients of another account through STS AssumeRole (cached per role; refreshed by botocore).

        STS is called in the default region, or in ``region`` when none is configured.
        """
        key = (role_arn, external_id)
        with self._lock:
            found = self._assumed.get(key)
        if found is not None:
            return found
        params: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": PROJECT}
        if external_id:
            params["ExternalId"] = external_id
        creds = self.client("sts", self._sts_region(region)).assume_role(**params)["Credentials"]
        session = new_session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            region_name=self.session.region_name,
        )
        assumed = Clients(session, config=self._config)
        assumed._account_id = role_arn.split(":")[4] or None
        with self._lock:
            self._assumed[key] = assumed
        return assumed


def role_arn_for(account_id: str, role: str, partition: str = "aws") -> str:
    """A role ARN from a role name (or pass an ARN through unchanged)."""
    if role.startswith("arn:"):
        return role
    return f"arn:{partition}:iam::{account_id}:role/{role}"


def enabled_regions(clients: Clients) -> list[str]:
    """Every region enabled for the account (opt-in regions that are not opted in are skipped)."""
    ec2 = clients.client("ec2", clients.default_region)
    resp = ec2.describe_regions(
        AllRegions=False,
        Filters=[{"Name": "opt-in-status", "Values": ["opt-in-not-required", "opted-in"]}],
    )
    return sorted(r["RegionName"] for r in resp["Regions"])


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError, or the exception's class name."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return type(exc).__name__
