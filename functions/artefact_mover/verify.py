"""Whether a copy is the same object as its source: size, then the strongest comparable checksum. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ALGORITHMS = ("CRC64NVME", "SHA256", "SHA1", "CRC32C", "CRC32")
FULL_OBJECT_CRCS = ("CRC64NVME", "CRC32C", "CRC32")
"""The algorithms S3 can combine from part checksums into the checksum of the whole object (type FULL_OBJECT)."""
KMS = frozenset({"aws:kms", "aws:kms:dsse"})
PRESERVED = ("CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage", "ContentType", "Expires")


@dataclass(frozen=True)
class Head:
    """What a HEAD (ChecksumMode=ENABLED) says of an object."""

    key: str
    size: int
    etag: str
    version_id: str | None = None
    checksums: dict[str, str] = field(default_factory=dict)
    checksum_type: str | None = None
    sse: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    headers: dict[str, Any] = field(default_factory=dict)
    tag_count: int = 0

    @property
    def parts(self) -> int | None:
        """Number of parts of a multipart object (from its ETag), None for a single-part one."""
        _, dash, count = self.etag.strip('"').partition("-")
        return int(count) if dash and count.isdigit() else None

    def full_object(self, algorithm: str) -> str | None:
        """The checksum of the whole content for ``algorithm``, or None if absent or per-part (composite)."""
        value = self.checksums.get(algorithm)
        if value is None or "-" in value or self.checksum_type == "COMPOSITE":
            return None
        if self.checksum_type == "FULL_OBJECT" or self.parts is None:
            return value
        return None

    def composite(self, algorithm: str) -> str | None:
        """The checksum of the part checksums (type COMPOSITE) of a multipart object, without its ``-N`` suffix."""
        value = self.checksums.get(algorithm)
        if value is None or self.parts is None or self.checksum_type == "FULL_OBJECT":
            return None
        return value.split("-", 1)[0]

    def full_object_crc(self) -> tuple[str, str] | None:
        """``(algorithm, value)`` of a full-object CRC that a multipart copy can be asked to reproduce, if any."""
        for algorithm in FULL_OBJECT_CRCS:
            value = self.full_object(algorithm)
            if value is not None:
                return algorithm, value
        return None

    def composite_algorithm(self) -> str | None:
        """The algorithm of a multipart object's composite checksum (a copy with its part boundaries keeps it)."""
        return next((a for a in ALGORITHMS if self.composite(a) is not None), None)


def head_of(key: str, resp: dict[str, Any]) -> Head:
    version = resp.get("VersionId")
    return Head(
        key=key,
        size=int(resp["ContentLength"]),
        etag=str(resp["ETag"]),
        version_id=None if version in (None, "null") else str(version),
        checksums={a: str(resp[f"Checksum{a}"]) for a in ALGORITHMS if resp.get(f"Checksum{a}")},
        checksum_type=resp.get("ChecksumType"),
        sse=resp.get("ServerSideEncryption"),
        metadata=dict(resp.get("Metadata") or {}),
        headers={h: resp[h] for h in PRESERVED if resp.get(h) is not None},
        tag_count=int(resp.get("TagCount") or 0),
    )


@dataclass(frozen=True)
class Verdict:
    """``same``/``different``, or ``unknown`` when nothing is comparable; ``checksum`` is ``algo:value``."""

    status: Literal["same", "different", "unknown"]
    how: str
    checksum: str | None = None

    @property
    def same(self) -> bool:
        return self.status == "same"


def compare(src: Head, dst: Head) -> Verdict:
    """Size first; then a full-object checksum both sides have; then what depends on the part layout, trusted only
    when it matches.

    A full-object checksum (or a single-part MD5 ETag, where neither side is KMS-encrypted) decides either way. A
    composite checksum or a multipart ETag is the digest of the part digests: equal values with the same number of
    parts prove the same content, but different values may only mean other part boundaries, so they prove nothing
    (``unknown``: the caller may read both objects).
    """
    if src.size != dst.size:
        return Verdict("different", f"size {dst.size} != {src.size}")
    for algo in ALGORITHMS:
        a, b = src.full_object(algo), dst.full_object(algo)
        if a is not None and b is not None:
            status: Literal["same", "different"] = "same" if a == b else "different"
            return Verdict(status, f"{algo.lower()} {'matches' if a == b else f'{b} != {a}'}", f"{algo.lower()}:{a}")
    plain = src.sse not in KMS and dst.sse not in KMS
    ours, theirs = src.etag.strip('"'), dst.etag.strip('"')
    if plain and src.parts == dst.parts and ours == theirs:
        name = "md5" if src.parts is None else "etag"
        return Verdict("same", f"{name} matches", f"{name}:{ours}")
    if plain and src.parts is None and dst.parts is None:
        return Verdict("different", f"md5 {theirs} != {ours}", f"md5:{ours}")
    if src.parts is not None and src.parts == dst.parts:
        for algo in ALGORITHMS:
            x, y = src.composite(algo), dst.composite(algo)
            if x is not None and x == y:
                return Verdict(
                    "same", f"{algo.lower()} of {src.parts} parts matches", f"{algo.lower()}-{src.parts}:{x}"
                )
        if plain:
            return Verdict("unknown", f"etag {theirs} != {ours}: other part boundaries, or other content")
    return Verdict("unknown", "no checksum or ETag comparable on both sides")


def preserved_args(src: Head) -> dict[str, Any]:
    """Metadata, content type and cache headers to set on a multipart copy (CreateMultipartUpload does not copy
    them from a source)."""
    return {"Metadata": dict(src.metadata), **src.headers}
