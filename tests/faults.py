"""Fault injection and call counting through botocore events, for any test suite.

Attach to a ``boto3.Session`` before its clients are created (``shared.aws.Clients(session)`` creates them
lazily), or to one client's ``meta.events``:

- :class:`CallLog` records every API call (``before-call``: once per call, retries not counted).
- :class:`Faults` answers a seeded-random share of HTTP attempts (``before-send``) with a throttling error or an
  InternalError, before the request reaches the service, so botocore's retry mode is what gets tested. Random
  errors model transient server faults; a rate limit is modelled by :class:`TokenBuckets`.
- :class:`TokenBuckets` is AWS's side of a rate limit: a token bucket per (credentials, region, operation) that
  answers ``RequestLimitExceeded`` while it is empty, refilling on a :class:`SimulatedClock` that the client's
  pacing (:class:`shared.pacing.Pacer`) and botocore's retry backoff (:func:`simulated_retries`) share.
- :class:`ErrorOn` answers chosen calls with a chosen error (e.g. ``InvalidSnapshot.NotFound`` on one delete).
- :class:`CrashAfter` lets ``k`` mutating calls through, then kills the "process": the next call and every call
  after it raise :class:`Crash`, which no ``except Exception`` in production code can swallow.

botocore calls every ``before-send`` handler even after one has answered, and an in-process ``mock_aws``
stubber registered later would still carry out the request. An injected answer therefore also points the
request at an unroutable host, which that stubber ignores: a faulted request never changes any state.
"""

from __future__ import annotations

import io
import random
import re
import threading
import types
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import botocore.endpoint
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.retries.standard import ExponentialBackoff

from shared.pacing import Pacer, Rate

UNROUTABLE = "https://fault-injected.invalid/"
PARAMS_KEY = "tests.faults.api_params"
PROTOCOLS = {"ec2": "ec2", "s3": "rest-xml", "sns": "query", "sts": "query", "iam": "query"}
READ_PREFIXES = ("Describe", "Get", "List", "Head", "Lookup", "Search", "Select", "Scan", "Query")


def is_mutating(operation: str) -> bool:
    """Whether an API operation changes state (by its name: Describe*, Get*, List*... only read)."""
    return not operation.startswith(READ_PREFIXES)


class Crash(BaseException):
    """The process died (a Lambda timeout or OOM kill): nothing catches it, no later call is made."""


class _Raw(io.BytesIO):
    def stream(self, **_: Any) -> Iterator[bytes]:
        chunk = self.read()
        while chunk:
            yield chunk
            chunk = self.read()


def error_body(protocol: str, code: str, message: str) -> tuple[dict[str, str], bytes]:
    """Headers and body of an AWS error response in the service's protocol."""
    request_id = str(uuid.uuid4())
    if protocol == "ec2":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
            f"<RequestID>{request_id}</RequestID></Response>"
        )
        return {"Content-Type": "text/xml;charset=UTF-8"}, body.encode()
    if protocol == "query":
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}, body.encode()
    if protocol == "rest-xml":
        body = f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
        return {"Content-Type": "application/xml", "x-amz-request-id": request_id}, body.encode()
    body = '{"__type": "%s", "message": "%s"}' % (code, message)  # noqa: UP031 - JSON braces
    return {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": request_id}, body.encode()


def answer(request: AWSPreparedRequest, protocol: str, status: int, code: str, message: str) -> AWSResponse:
    """An error response for ``request``; the request itself is pointed away so nothing else carries it out."""
    headers, body = error_body(protocol, code, message)
    url = request.url
    request.url = UNROUTABLE
    return AWSResponse(url, status, headers, _Raw(body))  # type: ignore[arg-type]


def _operation(model: Any) -> tuple[str, str]:
    return model.service_model.service_name, model.name


def _keep_api_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    """``before-call`` sees the serialised request; the caller's own parameters are kept for it here."""
    context[PARAMS_KEY] = dict(params)


def _api_params(context: dict[str, Any] | None) -> dict[str, Any]:
    return dict((context or {}).get(PARAMS_KEY, {}))


def _events(target: Any) -> Any:
    events = getattr(target, "events", None) or target.meta.events
    events.register("before-parameter-build", _keep_api_params, unique_id="tests.faults.params")
    return events


class CallLog:
    """Every API call made through the attached sessions/clients, by (service, operation), thread-safe."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def attach(self, target: Any) -> CallLog:
        events = _events(target)
        events.register("before-call", self._record)
        return self

    def _record(self, model: Any, context: dict[str, Any] | None = None, **_: Any) -> None:
        service, op = _operation(model)
        with self._lock:
            self.calls.append((service, op, _api_params(context)))

    def operations(self, service: str | None = None) -> Counter[str]:
        return Counter(op for svc, op, _ in self.calls if service is None or svc == service)

    def mutating(self, service: str | None = "ec2") -> list[str]:
        return [op for svc, op, _ in self.calls if (service is None or svc == service) and is_mutating(op)]


class Faults:
    """Throttling on ``throttle`` and InternalError on ``internal`` of HTTP attempts (seeded), for ``services``.

    EC2 throttling is ``RequestLimitExceeded`` (HTTP 503) and its InternalError is HTTP 500, both with an EC2 XML
    error body; botocore's standard retry mode retries both.
    """

    def __init__(
        self,
        *,
        throttle: float = 0.20,
        internal: float = 0.01,
        seed: int = 0,
        services: frozenset[str] = frozenset({"ec2"}),
    ) -> None:
        self.throttle = throttle
        self.internal = internal
        self.services = services
        self.injected: Counter[str] = Counter()
        self.attempts = 0
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def attach(self, target: Any) -> Faults:
        events = _events(target)
        events.register_first("before-send", self._before_send)
        return self

    def _before_send(self, request: AWSPreparedRequest, event_name: str, **_: Any) -> AWSResponse | None:
        _, service, _op = event_name.split(".", 2)
        if service not in self.services:
            return None
        with self._lock:
            self.attempts += 1
            draw = self._random.random()
        protocol = PROTOCOLS.get(service, "json")
        if draw < self.internal:
            self.injected["InternalError"] += 1
            return answer(request, protocol, 500, "InternalError", "An internal error has occurred")
        if draw < self.internal + self.throttle:
            code, status = ("RequestLimitExceeded", 503) if protocol == "ec2" else ("Throttling", 400)
            self.injected[code] += 1
            return answer(request, protocol, status, code, "Request limit exceeded.")
        return None


class ErrorOn:
    """Answer every call for which ``when(operation, params)`` is true with ``code`` (``status``), once each."""

    def __init__(self, when: Callable[[str, dict[str, Any]], bool], code: str, *, status: int = 400) -> None:
        self.when = when
        self.code = code
        self.status = status
        self.hits: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def attach(self, target: Any) -> ErrorOn:
        events = _events(target)
        events.register_first("before-call", self._before_call)
        return self

    def _before_call(
        self, model: Any, context: dict[str, Any] | None = None, **_: Any
    ) -> tuple[Any, dict[str, Any]] | None:
        params = _api_params(context)
        if not self.when(model.name, params):
            return None
        with self._lock:
            self.hits.append((model.name, params))
        error = {"Code": self.code, "Message": f"injected {self.code}"}
        http = AWSResponse("", self.status, {}, _Raw(b""))  # type: ignore[arg-type]
        return http, {"Error": error, "ResponseMetadata": {"HTTPStatusCode": self.status}}


class CrashAfter:
    """Let ``k`` mutating calls through; then the process "dies": every later call raises :class:`Crash`."""

    def __init__(self, k: int, *, services: frozenset[str] = frozenset({"ec2"})) -> None:
        self.k = k
        self.services = services
        self.mutations = 0
        self.crashed = False
        self._lock = threading.Lock()

    def attach(self, target: Any) -> CrashAfter:
        events = _events(target)
        events.register_first("before-call", self._before_call)
        return self

    def _before_call(self, model: Any, **_: Any) -> None:
        service, op = _operation(model)
        with self._lock:
            if not self.crashed and service in self.services and is_mutating(op):
                if self.mutations == self.k:
                    self.crashed = True
                else:
                    self.mutations += 1
            if self.crashed:
                raise Crash(f"crashed after {self.k} mutating calls, at {service}:{op}")


@contextmanager
def instant_retries() -> Iterator[None]:
    """botocore retries exactly as configured, without sleeping between attempts (tests stay fast)."""
    original = ExponentialBackoff.delay_amount
    ExponentialBackoff.delay_amount = lambda self, context: 0  # type: ignore[assignment,method-assign]
    try:
        yield
    finally:
        ExponentialBackoff.delay_amount = original  # type: ignore[method-assign]


class SimulatedClock:
    """Simulated monotonic seconds: ``sleep(d)`` returns at once, ``d`` seconds later, and a call takes no time.

    Each thread has its own timeline, starting at the latest time any thread has reached (a worker pool starts
    after the work before it); ``sleep`` moves only the caller's. Threads sleeping side by side therefore overlap
    as in real time: eight threads backing off for a second each move time on by one second, not eight. Shared
    buckets never go back in time (a call from a thread behind a bucket's clock counts at the bucket's time).
    """

    def __init__(self, start: float = 0.0) -> None:
        self._latest = start
        self._threads = threading.local()
        self._lock = threading.Lock()

    def now(self) -> float:
        """The calling thread's time."""
        found: float | None = getattr(self._threads, "now", None)
        if found is None:
            with self._lock:
                found = self._threads.now = self._latest
        return found

    def sleep(self, seconds: float) -> None:
        woken = self.now() + max(0.0, seconds)
        self._threads.now = woken
        with self._lock:
            self._latest = max(self._latest, woken)

    @property
    def latest(self) -> float:
        """The latest time any thread has reached: how long the simulated work took."""
        with self._lock:
            return self._latest

    def pacer(self, defaults: dict[str, Rate] | None = None) -> Pacer:
        """A :class:`shared.pacing.Pacer` on this clock (the project's default rates unless ``defaults``)."""
        if defaults is None:
            return Pacer(clock=self.now, sleep=self.sleep)
        return Pacer(defaults, clock=self.now, sleep=self.sleep)


@contextmanager
def simulated_retries(clock: SimulatedClock) -> Iterator[None]:
    """botocore's retry backoff sleeps on ``clock`` (the delays are botocore's own, only the waiting is simulated)."""
    original = botocore.endpoint.time
    botocore.endpoint.time = types.SimpleNamespace(sleep=clock.sleep)  # type: ignore[assignment]
    try:
        yield
    finally:
        botocore.endpoint.time = original


_SCOPE = re.compile(r"Credential=([^/]+)/\d{8}/([^/]+)/")


class TokenBuckets:
    """AWS's request token buckets: ``buckets`` maps ``service:Operation`` to (capacity, refill per second).

    Each (access key, signing region, operation) has its own bucket, full at the start (AWS's are per account and
    region; one access key stands for one account here). An HTTP attempt takes a token, or, when none is left, is
    answered ``RequestLimitExceeded`` with HTTP 503 and EC2's XML error body, as EC2 answers, and changes nothing.

    Each attempt is judged at its own thread's time on the :class:`SimulatedClock`: it is let through only if the
    bucket holds a token then, counting every attempt let through before and after that moment (threads' timelines
    interleave, so attempts do not arrive in time order). ``passed`` and ``throttled`` count attempts by
    operation; ``arrivals`` holds (operation, time) of each.
    """

    def __init__(self, clock: SimulatedClock, buckets: dict[str, tuple[float, float]]) -> None:
        self.clock = clock
        self.buckets = buckets
        self.passed: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        self.arrivals: list[tuple[str, float]] = []
        self._taken: dict[tuple[str, str, str], list[float]] = {}
        self._lock = threading.Lock()

    def attach(self, target: Any) -> TokenBuckets:
        events = _events(target)
        events.register_first("before-send", self._before_send)
        return self

    @staticmethod
    def _fits(times: list[float], capacity: float, refill: float) -> bool:
        """Whether a bucket, full before the first of ``times`` (sorted), has a token for each of them."""
        tokens, last = capacity, times[0]
        for at in times:
            tokens = min(capacity, tokens + (at - last) * refill) - 1
            last = at
            if tokens < 0:
                return False
        return True

    def _before_send(self, request: AWSPreparedRequest, event_name: str, **_: Any) -> AWSResponse | None:
        _, service, op = event_name.split(".", 2)
        name = f"{service}:{op}"
        if name not in self.buckets:
            return None
        auth = request.headers.get("Authorization", b"")
        found = _SCOPE.search(auth.decode() if isinstance(auth, bytes) else auth)
        key = (found.group(1), found.group(2), name) if found else ("", "", name)
        capacity, refill = self.buckets[name]
        now = self.clock.now()
        with self._lock:
            self.arrivals.append((name, now))
            taken = self._taken.setdefault(key, [])
            candidate = sorted([*taken, now])
            if self._fits(candidate, capacity, refill):
                self._taken[key] = candidate
                self.passed[name] += 1
                return None
            self.throttled[name] += 1
        return answer(request, PROTOCOLS.get(service, "json"), 503, "RequestLimitExceeded", "Request limit exceeded.")
