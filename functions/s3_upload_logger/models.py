"""Settings of the S3 upload logger (environment variables set in serverless.yml)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator

from shared.inputs import TaskSettings


class UploadLoggerSettings(TaskSettings):
    """Which uploads to log. The bucket's notification configuration decides what is sent; this filters again."""

    buckets: list[Annotated[str, Field(max_length=63)]] = Field(
        default_factory=list,
        max_length=100,
        description="buckets whose uploads are logged; empty means any bucket that notifies",
    )
    prefixes: list[Annotated[str, Field(max_length=1024)]] = Field(
        default_factory=list, max_length=100, description="key prefixes to log; empty means every key"
    )

    @field_validator("buckets")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return [b.strip().lower() for b in value if b.strip()]
