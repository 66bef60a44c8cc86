"""S3's conditional writes made atomic in moto, as S3 makes them (demo and tests).

S3 takes a conditional write (``If-None-Match: *``, ``If-Match``) atomically: of two concurrent writes of one key
that both require it to be absent, exactly one succeeds and the other gets 412 (or 409). moto 5.2 checks the
condition and then writes, in two steps and without a lock, so two concurrent writers can both "win". The
fan-out's run store relies on AWS's behaviour (a unit's lease, its result and the final report are each written
once), and its tests deliver the same message twice side by side: under moto they could see both deliveries take
the lease. :func:`atomic_conditional_writes` makes moto's S3 answer one object write or delete at a time, in
process and in server mode alike (both run moto's responses in this process). Nothing deployed imports this.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

_LOCK = threading.RLock()
_PATCHED = "_devops_tasks_atomic"


def atomic_conditional_writes() -> None:
    """Serialize moto's PutObject and DeleteObject answers (idempotent)."""
    from moto.s3.responses import S3Response

    for name in ("put_object", "delete_object"):
        original: Callable[..., Any] = getattr(S3Response, name)
        if getattr(original, _PATCHED, False):
            continue

        def serialized(self: Any, *args: Any, _original: Callable[..., Any] = original, **kwargs: Any) -> Any:
            with _LOCK:
                return _original(self, *args, **kwargs)

        wrapped = functools.wraps(original)(serialized)
        setattr(wrapped, _PATCHED, True)
        setattr(S3Response, name, wrapped)
