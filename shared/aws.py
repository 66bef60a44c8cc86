"""AWS clients: lazily created, cached per (account, service, region), one botocore configuration.

The endpoint comes only from the standard ``AWS_ENDPOINT_URL`` variables that boto3 honours itself, and
credentials from the standard chain, so the same code runs against real AWS or any compatible endpoint.
Other accounts are reached with botocore's own refreshable assume-role credentials.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.credentials import (
    AssumeRoleCredentialFetcher,
    CredentialProvider,
    CredentialResolver,
    Credentials,
    RefreshableCredentials,
)
from botocore.exceptions import NoCredentialsError

from shared import PROJECT, __version__
from shared.observability import logger
from shared.pacing import Pacer, Rate, default_pacer
from shared.partitions import partition_of

T = TypeVar("T")

BOTO_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 8},
    connect_timeout=5,
    read_timeout=60,
    max_pool_connections=32,
    user_agent_extra=f"{PROJECT}/{__version__}",
)


_loader: botocore.loaders.Loader | None = None
_loader_lock = threading.Lock()


def new_session(credentials: Credentials | None = None, **kwargs: Any) -> boto3.Session:
    """A boto3 session that shares botocore's loaded API models with every other session of the process.

    Loading the models costs about half a second of CPU per session; a warm Lambda container pays it once.
    Credentials, region and endpoint stay per session: ``credentials`` (e.g. refreshable ones) replace the chain.
    """
    global _loader  # one process-wide cache of immutable API models
    with _loader_lock:
        if _loader is None:
            _loader = botocore.loaders.create_loader()
    core = botocore.session.get_session()
    core.register_component("data_loader", _loader)
    if credentials is not None:
        core.register_component("credential_provider", CredentialResolver([_Given(credentials)]))
    return boto3.Session(botocore_session=core, **kwargs)


class _Given(CredentialProvider):
    """The one credential provider of a session whose credentials are already made (and refresh themselves)."""

    METHOD = "assume-role"

    def __init__(self, credentials: Credentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> Credentials:
        return self._credentials


ASSUME_ROLE_SECONDS = 3600
"""Lifetime asked of STS; botocore refreshes the credentials 15 minutes before they expire."""


def role_session_name(run_id: str) -> str:
    """``devops-tasks-<run id>`` within STS's rules (2-64 of ``\\w+=,.@-``): CloudTrail shows which run acted."""
    safe = re.sub(r"[^A-Za-z0-9_+=,.@-]", "-", run_id)
    return f"{PROJECT}-{safe}"[:64]


class Clients:
    """boto3 clients for one account, created on first use and cached per (service, region).

    Thread-safe: executors share one instance across their worker threads. Every client is paced
    (:mod:`shared.pacing`): its mutating calls wait for the process-wide token bucket of their account, region
    and operation; :meth:`pace` sets the run's rates.
    """

    def __init__(
        self, session: boto3.Session | None = None, *, config: Config = BOTO_CONFIG, pacer: Pacer | None = None
    ) -> None:
        self._session = session
        self._config = config
        self._cache: dict[tuple[str, str | None], Any] = {}
        self._lock = threading.Lock()
        self._account_id: str | None = None
        self._assumed: dict[tuple[str, str | None], Clients] = {}
        self._session_name = PROJECT
        self._pacer = pacer
        self._rates: dict[str, Rate] = {}
        self._once: dict[str, Any] = {}
        self._once_lock = threading.Lock()
        self.role: tuple[str, str | None] | None = None
        """The role (ARN, external id) these clients assumed, or None for the process's own credentials."""

    def once(self, key: str, make: Callable[[], T]) -> T:
        """``make()`` the first time ``key`` is asked of these clients (a run's), the same value after: a listing
        made once per run however many times the run resolves its units. A failure is not kept."""
        with self._once_lock:
            if key not in self._once:
                self._once[key] = make()
            found: T = self._once[key]
            return found

    def name_sessions(self, run_id: str) -> None:
        """Name the sessions of roles assumed from now on after the run (see :func:`role_session_name`)."""
        self._session_name = role_session_name(run_id)

    @property
    def pacer(self) -> Pacer:
        if self._pacer is None:
            self._pacer = default_pacer()
        return self._pacer

    def pace(self, rates: dict[str, Rate]) -> None:
        """Rates by ``service:Operation`` overriding the pacer's defaults, for these clients and assumed ones."""
        self._rates.clear()
        self._rates.update(rates)

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
                self.pacer.attach(found, account=lambda: self.account_id(region), overrides=self._rates)
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
        """Clients of another account through STS AssumeRole (cached per role).

        The credentials are botocore's refreshable assume-role credentials: assumed here once (a role that cannot
        be assumed fails now, not at a later call), then assumed again by botocore before they expire, with the
        same session name (the run's, see :meth:`name_sessions`) and external id. STS is called in the default
        region, or in ``region`` when none is configured.
        """
        key = (role_arn, external_id)
        with self._lock:
            found = self._assumed.get(key)
        if found is not None:
            return found
        source = self.session.get_credentials()
        if source is None:
            raise NoCredentialsError()
        sts_region = self._sts_region(region)
        extra: dict[str, Any] = {"RoleSessionName": self._session_name, "DurationSeconds": ASSUME_ROLE_SECONDS}
        if external_id:
            extra["ExternalId"] = external_id
        fetcher = AssumeRoleCredentialFetcher(
            # STS through this account's own cached client (its configuration, its refreshing credentials)
            client_creator=lambda service, **_: self.client(service, sts_region),
            source_credentials=source,
            role_arn=role_arn,
            extra_args=extra,
        )
        credentials = RefreshableCredentials.create_from_metadata(
            metadata=fetcher.fetch_credentials(), refresh_using=fetcher.fetch_credentials, method="assume-role"
        )
        assumed = Clients(
            new_session(credentials=credentials, region_name=self.session.region_name),
            config=self._config,
            pacer=self.pacer,
        )
        assumed._rates = self._rates
        assumed._account_id = role_arn.split(":")[4] or None
        assumed._session_name = self._session_name
        assumed.role = (role_arn, external_id)
        with self._lock:
            self._assumed[key] = assumed
        return assumed


def role_arn_for(account_id: str, role: str, partition: str = "aws") -> str:
    """A role ARN from a role name (or pass an ARN through unchanged)."""
    if role.startswith("arn:"):
        return role
    return f"arn:{partition}:iam::{account_id}:role/{role}"


def enabled_regions(clients: Clients) -> list[str]:
    """Every region enabled for the account (opt-in regions that are not opted in are skipped), in the partition
    of the credentials' region: AWS answers DescribeRegions with its own partition's regions only, and a region of
    another partition (as moto lists cn- and us-gov- regions to any caller) cannot be reached with these
    credentials, so it is left out, with a warning naming it. A region botocore does not know is kept: the run
    reports it as a failed unit with the reason."""
    ec2 = clients.client("ec2", clients.default_region)
    resp = ec2.describe_regions(
        AllRegions=False,
        Filters=[{"Name": "opt-in-status", "Values": ["opt-in-not-required", "opted-in"]}],
    )
    partition = partition_of(clients.default_region)
    names = sorted(str(r["RegionName"]) for r in resp["Regions"])
    outside = [name for name in names if partition_of(name) not in (partition, None)]
    if outside:
        logger.warning("regions outside the credentials' partition left out", partition=partition, regions=outside)
    return [name for name in names if name not in outside]


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError, or the exception's class name."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return type(exc).__name__
