"""Whether a copy is the same object as its source: size, then the strongest comparable checksum. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ALGORITHMS = ("CRC64NVME", "SHA256", "SHA1", "CRC32C", "CRC32")
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
    """Size first; then a full-object checksum both sides have; then the ETag where it means the same on both sides.

    ETags are compared only when neither side is KMS-encrypted and both have the same number of parts (single-part
    ETags are MD5 digests; multipart ETags match only when copied with the same part boundaries).
    """
    if src.size != dst.size:
        return Verdict("different", f"size {dst.size} != {src.size}")
    for algo in ALGORITHMS:
        a, b = src.full_object(algo), dst.full_object(algo)
        if a is not None and b is not None:
            status: Literal["same", "different"] = "same" if a == b else "different"
            return Verdict(status, f"{algo.lower()} {'matches' if a == b else f'{b} != {a}'}", f"{algo.lower()}:{a}")
    if src.sse not in KMS and dst.sse not in KMS and src.parts == dst.parts:
        a, b = src.etag.strip('"'), dst.etag.strip('"')
        name = "md5" if src.parts is None else "etag"
        return Verdict(
            "same" if a == b else "different", f"{name} {'matches' if a == b else f'{b} != {a}'}", f"{name}:{a}"
        )
    return Verdict("unknown", "no checksum or ETag comparable on both sides")


def preserved_args(src: Head) -> dict[str, Any]:
    """Metadata, content type and cache headers to set explicitly on a multipart copy (which does not carry them)."""
    return {"MetadataDirective": "REPLACE", "Metadata": dict(src.metadata), **src.headers}
