"""Client-side pacing of mutating AWS calls: one token bucket per (account, region, operation) per process.

AWS limits API calls with token buckets of its own (EC2: per account, region and action; see the table in
``docs/architecture.md``). botocore retries a throttled call with backoff, but a run that sends hundreds of
deletions at once drains the bucket faster than it refills, the retries spend botocore's retry quota, and the
rest fail. Pacing sends mutating calls no faster than the bucket refills, so they are not throttled at all when
nothing else in the account uses the same action.

A task does not use this module directly: :class:`shared.aws.Clients` paces every client it makes, with the
rates of :data:`DEFAULT_RATES` and the run's ``rate_limits`` input (``{"ec2:DeleteSnapshot": {"per_second": 2,
"burst": 5}}``), which :func:`shared.runner.execute` applies. An executor only has to treat a call that stays
throttled after botocore's retries as deferred (:func:`is_throttling`), never as failed: the limit clears by
itself and the next run picks the item up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from botocore.retries.standard import RetryContext, ThrottledRetryableChecker
from pydantic import AfterValidator, BaseModel, ConfigDict, Field


class Rate(BaseModel):
    """A token bucket: ``burst`` calls at once, then ``per_second`` on average."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    per_second: float = Field(gt=0, le=100, description="tokens added per second (the sustained call rate)")
    burst: int = Field(default=1, ge=1, le=100, description="the bucket's capacity: calls allowed at once")


DEFAULT_RATES: Mapping[str, Rate] = {
    # EC2's own buckets are 100 tokens refilling at 5 per second for CreateSnapshot and DeleteSnapshot, and 50 at 5
    # per second for the other mutating actions (CopySnapshot). Pacing at the refill rate with a small burst leaves
    # most of the bucket to whatever else in the account and region uses the same action.
    "ec2:CreateSnapshot": Rate(per_second=5, burst=10),
    "ec2:DeleteSnapshot": Rate(per_second=5, burst=10),
    "ec2:CopySnapshot": Rate(per_second=5, burst=10),
    # Lambda has one bucket for all its control-plane calls together (every call but invocations, GetFunction and
    # GetPolicy): 15 per second per account and region, not raisable. Reads share it with deletions, so every
    # Lambda call the tasks repeat is paced, and calls that run side by side add up to at most 12 per second.
    "lambda:ListFunctions": Rate(per_second=10, burst=2),
    "lambda:ListAliases": Rate(per_second=4, burst=2),
    "lambda:ListProvisionedConcurrencyConfigs": Rate(per_second=4, burst=2),
    "lambda:ListTags": Rate(per_second=4, burst=2),
    "lambda:ListLayerVersions": Rate(per_second=10, burst=2),
    "lambda:GetLayerVersion": Rate(per_second=5, burst=2),
    "lambda:GetLayerVersionPolicy": Rate(per_second=5, burst=2),
    "lambda:DeleteFunction": Rate(per_second=10, burst=5),
    "lambda:DeleteLayerVersion": Rate(per_second=10, burst=5),
    # The resource audit reads these function by function, one kind after the other (GetPolicy has a bucket of
    # its own at AWS, 15 per second).
    "lambda:GetPolicy": Rate(per_second=10, burst=2),
    "lambda:ListFunctionUrlConfigs": Rate(per_second=10, burst=2),
    "lambda:ListFunctionEventInvokeConfigs": Rate(per_second=10, burst=2),
    "lambda:GetFunctionConcurrency": Rate(per_second=10, burst=2),
    # Security Hub throttles BatchImportFindings at 10 per second per account and region (burst 30): the resource
    # audit's export takes half, so other finding providers of the account keep theirs.
    "securityhub:BatchImportFindings": Rate(per_second=5, burst=5),
}
"""Rates of the mutating calls the tasks make (and of the reads that share a bucket with them), by
``service:Operation`` (the IAM action's spelling).

Calls not listed are not paced: S3's limits are per key prefix and in the thousands per second, SNS publishes
one message per run, and botocore's retries handle their rare throttling."""


def _known_operations(value: dict[str, Rate]) -> dict[str, Rate]:
    """Refuse a name that is not ``service:Operation`` of an API botocore knows (a typo would pace nothing)."""
    import botocore.session
    from botocore.exceptions import UnknownServiceError

    if not value:
        return value
    session = botocore.session.get_session()
    bad = []
    for name in value:
        service, _, operation = name.partition(":")
        try:
            known = operation in session.get_service_model(service).operation_names
        except UnknownServiceError:
            known = False
        if not known:
            bad.append(name)
    if bad:
        raise ValueError(f"not an AWS API operation: {', '.join(bad)} (use names like ec2:DeleteSnapshot)")
    return value


RateLimits = Annotated[dict[str, Rate], AfterValidator(_known_operations)]
"""The ``rate_limits`` input field: rates by ``service:Operation``, overriding :data:`DEFAULT_RATES`."""


class TokenBucket:
    """A thread-safe token bucket on an injectable monotonic clock.

    :meth:`reserve` takes a token and returns the clock time at which it may be used: now while tokens are left,
    else the moment the bucket will have refilled it (tokens taken in advance are owed, so callers are served in
    the order they asked and never more than ``burst + per_second * t`` calls go out in any ``t`` seconds).
    """

    def __init__(self, rate: Rate, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._rate = rate
        self._tokens = float(rate.burst)
        self._stamp = clock()

    @property
    def rate(self) -> Rate:
        return self._rate

    def _refill(self) -> float:
        now = self._clock()
        if now > self._stamp:
            self._tokens = min(float(self._rate.burst), self._tokens + (now - self._stamp) * self._rate.per_second)
            self._stamp = now
        return self._stamp

    def reserve(self) -> float:
        with self._lock:
            now = self._refill()
            self._tokens -= 1.0
            if self._tokens >= 0:
                return now
            return now + -self._tokens / self._rate.per_second

    def set_rate(self, rate: Rate) -> None:
        """Change the rate from now on; tokens already owed stay owed."""
        with self._lock:
            self._refill()
            self._rate = rate
            self._tokens = min(self._tokens, float(rate.burst))


class Pacer:
    """Token buckets per (account, region, ``service:Operation``), shared by every thread that uses it.

    ``clock`` and ``sleep`` default to ``time.monotonic`` and ``time.sleep``; tests and benchmarks pass simulated
    ones. One process-wide instance (:func:`default_pacer`) serves every :class:`shared.aws.Clients`, so every
    unit and thread of a run that reaches the same account and region shares one bucket per operation.
    """

    def __init__(
        self,
        defaults: Mapping[str, Rate] = DEFAULT_RATES,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.defaults = dict(defaults)
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[tuple[str, str, str], TokenBucket] = {}
        self._lock = threading.Lock()

    def rate_of(self, operation: str, overrides: Mapping[str, Rate] | None = None) -> Rate | None:
        """The rate for ``service:Operation``: the override, else the default, else None (not paced)."""
        if overrides and operation in overrides:
            return overrides[operation]
        return self.defaults.get(operation)

    def wait(self, account: str, region: str, operation: str, overrides: Mapping[str, Rate] | None = None) -> float:
        """Block until a call of ``operation`` may go out; return the seconds waited (0 when not paced)."""
        rate = self.rate_of(operation, overrides)
        if rate is None:
            return 0.0
        key = (account, region, operation)
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket(rate, self._clock)
        if bucket.rate != rate:
            bucket.set_rate(rate)
        at = bucket.reserve()
        start = self._clock()
        # The remaining wait is taken just before sleeping: the reservation may have been made a moment ago.
        if at > start:
            self._sleep(at - start)
        return max(0.0, at - start)

    def attach(
        self,
        client: Any,
        *,
        account: Callable[[], str],
        overrides: Mapping[str, Rate] | None = None,
    ) -> None:
        """Pace every HTTP attempt of ``client`` (retries included) before it is signed and sent.

        ``account`` is called on the first paced call (the account id is usually known by then, so no extra
        call); ``overrides`` is read on every call, so a mapping updated later applies to clients made earlier.
        """
        service = client.meta.service_model.service_name
        region = client.meta.region_name or ""
        event = f"request-created.{client.meta.service_model.service_id.hyphenize()}"

        def pace(operation_name: str = "", **_: Any) -> None:
            name = f"{service}:{operation_name}"
            if self.rate_of(name, overrides) is not None:
                self.wait(account(), region, name, overrides)

        client.meta.events.register_first(event, pace, unique_id=f"shared.pacing.{id(self)}")


_default: Pacer | None = None
_default_lock = threading.Lock()


def default_pacer() -> Pacer:
    """The process-wide pacer (real clock), created on first use."""
    global _default  # one set of buckets per process, like AWS's per account and region
    with _default_lock:
        if _default is None:
            _default = Pacer()
        return _default


_THROTTLED = ThrottledRetryableChecker()


def is_throttling(exc: BaseException) -> bool:
    """Whether a botocore error is throttling, as botocore's retry mode classifies it (or an HTTP 429)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    if response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 429:
        return True
    return bool(_THROTTLED.is_retryable(RetryContext(attempt_number=1, parsed_response=response)))
