"""The signing secret and the bot token: SSM Parameter Store SecureStrings read with Powertools Parameters.

Cached for five minutes in the execution environment (a rotated secret is picked up within that time), never put
in an environment variable, a log line, a report or a message.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parameters import SSMProvider

MAX_AGE_SECONDS = 300


class Secrets:
    def __init__(self, ssm: Any, *, signing_secret: str, bot_token: str) -> None:
        self._provider = SSMProvider(boto3_client=ssm)
        self._names = {"signing": signing_secret, "bot": bot_token}

    def _get(self, which: str) -> str:
        value = self._provider.get(self._names[which], decrypt=True, max_age=MAX_AGE_SECONDS)
        if not isinstance(value, str) or not value:
            raise ValueError(f"parameter {self._names[which]} is empty")
        return value

    def signing_secret(self) -> str:
        return self._get("signing")

    def bot_token(self) -> str:
        return self._get("bot")
