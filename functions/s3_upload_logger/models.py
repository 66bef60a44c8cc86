"""Settings of the S3 upload logger (environment variables set in serverless.yml)."""

from __future__ import annotations

from pydantic import Field, field_validator

from shared.inputs import TaskSettings


class UploadLoggerSettings(TaskSettings):
    """Which uploads to log. The bucket's notification configuration decides what is sent; this filters again."""

    buckets: list[str] = Field(
        default_factory=list, description="buckets whose uploads are logged; empty means any bucket that notifies"
    )
    prefixes: list[str] = Field(default_factory=list, description="key prefixes to log; empty means every key")

    @field_validator("buckets")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return [b.strip().lower() for b in value if b.strip()]
