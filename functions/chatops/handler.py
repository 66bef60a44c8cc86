"""Lambda entry point of ChatOps: Slack's requests through the Function URL, and the alerts topic's messages."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from slack_sdk import WebClient

from functions.chatops import notify
from functions.chatops.app import ChatOps
from functions.chatops.models import ChatopsSettings
from functions.chatops.secrets import Secrets
from functions.chatops.store import Store
from functions.chatops.tasks import Tasks
from shared.aws import Clients
from shared.observability import logger


@cache
def _parts() -> tuple[ChatopsSettings, Clients, Secrets]:
    settings = ChatopsSettings.from_env(os.environ)
    clients = Clients()
    secrets = Secrets(
        clients.client("ssm"),
        signing_secret=settings.signing_secret_parameter,
        bot_token=settings.bot_token_parameter,
    )
    return settings, clients, secrets


def build(settings: ChatopsSettings, clients: Clients, secrets: Secrets, **kwargs: Any) -> ChatOps:
    """The app for one invocation: the signing secret as cached now (a rotated one is read within minutes)."""
    region = clients.default_region
    return ChatOps(
        settings,
        signing_secret=secrets.signing_secret(),
        bot_token=secrets.bot_token,
        tasks=Tasks(
            lam=clients.client("lambda"),
            scheduler=clients.client("scheduler"),
            s3=clients.client("s3"),
            functions=settings.functions,
            schedule_group=settings.schedule_group,
            report_bucket=settings.report_bucket,
        ),
        store=Store(clients.client("s3"), settings.report_bucket),
        lambda_client=clients.client("lambda"),
        region=region,
        **kwargs,
    )


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings, clients, secrets = _parts()
    if notify.sns_messages(event) is not None:
        if settings.config.notify_channel is None:
            logger.info("alert not posted: no notify_channel configured")
            return {"posted": 0}
        client = WebClient(token=secrets.bot_token(), base_url=settings.slack_api_url)
        return {"posted": notify.post(client, settings.config.notify_channel, event)}
    return build(settings, clients, secrets).handle(event, context)
