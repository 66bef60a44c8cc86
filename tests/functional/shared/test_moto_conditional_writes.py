"""S3's conditional writes as the fan-out's run store relies on them: of concurrent writes of one key with
``If-None-Match: *``, exactly one succeeds (S3 guarantees it; moto checks and writes in two steps, so the tests'
moto is made atomic by cli/moto_s3.py, and this test keeps it so)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from moto.s3.models import S3Backend

from shared.runstore import RunStore
from tests.helpers import REGION


@pytest.mark.usefixtures("aws")
def test_of_concurrent_writes_of_one_key_that_require_it_absent_exactly_one_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="runs", CreateBucketConfiguration={"LocationConstraint": REGION})
    store = RunStore.of(s3, "runs", "reports", "task", "run-1")
    original = S3Backend.put_object
    start = threading.Barrier(6)

    def slow_put(self: S3Backend, *args: Any, **kwargs: Any) -> Any:
        time.sleep(0.05)  # widen the window between moto's check of the condition and its write
        return original(self, *args, **kwargs)

    monkeypatch.setattr(S3Backend, "put_object", slow_put)

    def write(n: int) -> bool:
        start.wait()
        return store.put_once(store.final_key, f'{{"writer": {n}}}')

    with ThreadPoolExecutor(max_workers=6) as pool:
        won = list(pool.map(write, range(6)))
    assert won.count(True) == 1
    assert store.get(store.final_key) == f'{{"writer": {won.index(True)}}}'
