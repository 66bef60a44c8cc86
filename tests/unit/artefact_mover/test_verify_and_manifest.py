"""Copy verification (which checksum or ETag can be compared), multipart part ranges, and the release manifest's
merge on re-runs."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.artefact_mover.copies import part_ranges
from functions.artefact_mover.manifest import Moved, manifest_document
from functions.artefact_mover.verify import Head, compare, head_of, preserved_args

MiB = 1024 * 1024


def h(size: int = 10, etag: str = '"abc"', sse: str | None = None, ctype: str | None = None, **sums: str) -> Head:
    return Head(key="k", size=size, etag=etag, checksums=dict(sums), checksum_type=ctype, sse=sse)


def test_size_decides_first() -> None:
    verdict = compare(h(10, CRC32="x"), h(11, CRC32="x"))
    assert (verdict.status, verdict.how) == ("different", "size 11 != 10")


def test_a_full_object_checksum_wins_over_the_etag() -> None:
    assert compare(h(CRC32="x", etag='"a"'), h(CRC32="x", etag='"b"')).checksum == "crc32:x"
    assert compare(h(CRC64NVME="n", CRC32="x"), h(CRC64NVME="m", CRC32="x")).status == "different"


def test_composite_checksums_are_not_compared_across_part_layouts() -> None:
    src = h(etag='"abc-3"', CRC32="composite")
    dst = h(etag='"def-2"', CRC32="other")
    assert compare(src, dst).status == "unknown"
    assert compare(
        h(etag='"a-3"', ctype="FULL_OBJECT", CRC32="v"), h(etag='"b-2"', ctype="FULL_OBJECT", CRC32="v")
    ).same


def test_etags_compare_only_without_kms_and_with_the_same_parts() -> None:
    assert compare(h(etag='"m"'), h(etag='"m"')).checksum == "md5:m"
    assert compare(h(etag='"m-2"'), h(etag='"m-2"')).checksum == "etag:m-2"
    assert compare(h(etag='"m"'), h(etag='"n"')).status == "different"
    assert compare(h(etag='"m"', sse="aws:kms"), h(etag='"m"', sse="aws:kms")).status == "unknown"
    assert compare(h(etag='"m"'), h(etag='"m-1"')).status == "unknown"


def test_a_part_layout_never_makes_a_copy_different() -> None:
    """Multipart ETags and composite checksums that differ may only mean other part boundaries."""
    assert compare(h(etag='"m-3"'), h(etag='"n-3"')).status == "unknown"
    src, dst = h(etag='"m-3"', ctype="COMPOSITE", CRC32="c-3"), h(etag='"n-3"', ctype="COMPOSITE", CRC32="d-3")
    assert compare(src, dst).status == "unknown"


def test_equal_composite_checksums_prove_the_same_content_even_under_kms() -> None:
    src = h(etag='"m-3"', sse="aws:kms", ctype="COMPOSITE", CRC32="c-3")
    dst = h(etag='"n-3"', sse="aws:kms", ctype="COMPOSITE", CRC32="c-3")
    verdict = compare(src, dst)
    assert (verdict.status, verdict.checksum) == ("same", "crc32-3:c")
    assert compare(src, h(etag='"n-2"', sse="aws:kms", ctype="COMPOSITE", CRC32="c-2")).status == "unknown"


def test_the_full_object_crc_a_multipart_copy_can_reproduce() -> None:
    assert h(etag='"m-3"', ctype="FULL_OBJECT", CRC32="v", SHA256="s").full_object_crc() == ("CRC32", "v")
    assert h(etag='"m"', CRC64NVME="n", CRC32="v").full_object_crc() == ("CRC64NVME", "n")
    assert h(etag='"m"', SHA256="s").full_object_crc() is None
    assert h(etag='"m-3"', ctype="COMPOSITE", CRC32="v-3").full_object_crc() is None
    assert h(etag='"m-3"', ctype="COMPOSITE", CRC32="v-3").composite_algorithm() == "CRC32"


@settings(deadline=None, max_examples=60)  # up to 10,000 ranges an example
@given(
    size=st.integers(min_value=1, max_value=5 * 1024**4),  # S3's largest object
    part=st.integers(min_value=5 * MiB, max_value=5 * 1024 * MiB),
)
def test_even_parts_cover_the_object_within_s3_limits(size: int, part: int) -> None:
    ranges = part_ranges(size, part)
    assert ranges[0][0] == 0
    assert ranges[-1][1] == size - 1
    assert all(b[0] == a[1] + 1 for a, b in pairwise(ranges))
    assert len(ranges) <= 10_000
    assert all(last - first + 1 <= 5 * 1024 * MiB for first, last in ranges)
    assert all(last - first + 1 >= 5 * MiB for first, last in ranges[:-1])


@given(st.lists(st.integers(min_value=5 * MiB, max_value=64 * MiB), min_size=1, max_size=40))
def test_the_source_boundaries_are_kept_exactly(sizes: list[int]) -> None:
    ranges = part_ranges(sum(sizes), 8 * MiB, sizes)
    assert [last - first + 1 for first, last in ranges] == sizes
    with pytest.raises(ValueError, match="do not add up"):
        part_ranges(sum(sizes) + 1, 8 * MiB, sizes)


def test_head_of_reads_what_s3_returns() -> None:
    head = head_of(
        "k",
        {
            "ContentLength": 5,
            "ETag": '"e-2"',
            "VersionId": "null",
            "ChecksumSHA256": "s",
            "ChecksumType": "COMPOSITE",
            "Metadata": {"a": "1"},
            "ContentType": "text/plain",
            "CacheControl": "no-cache",
            "TagCount": 2,
        },
    )
    assert (head.parts, head.version_id, head.tag_count, head.full_object("SHA256")) == (2, None, 2, None)
    assert preserved_args(head) == {
        "Metadata": {"a": "1"},
        "ContentType": "text/plain",
        "CacheControl": "no-cache",
    }


def test_a_rerun_merges_into_the_previous_manifest() -> None:
    now = datetime(2025, 1, 2, tzinfo=UTC)
    previous = {"objects": [{"key": "a", "size": 1, "checksum": "md5:1", "source": "s3://b/p/a"}, {"junk": 1}]}
    doc = manifest_document(
        operation="move",
        source="s3://b/p/",
        destination="s3://r/q/",
        dest_prefix="q/",
        moved=[Moved("p/b", "v1", '"e"', "q/b", 2, "crc32:x")],
        source_bucket="b",
        previous=previous,
        run_id="r1",
        now=now,
    )
    assert doc["objects"] == [
        {"key": "a", "size": 1, "checksum": "md5:1", "source": "s3://b/p/a"},
        {"key": "b", "size": 2, "checksum": "crc32:x", "source": "s3://b/p/b", "source_version_id": "v1"},
    ]
    assert (doc["updated_at"], doc["operation"]) == ("2025-01-02T00:00:00+00:00", "move")
