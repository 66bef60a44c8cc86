"""The Slack app: Bolt for Python behind a Lambda Function URL, with lazy listeners.

Every request first passes Bolt's signature check (v0 HMAC of the body with the signing secret, timestamp within
5 minutes); a request that fails it gets 401 from Bolt before any listener runs. A listener's ``ack`` answers
within Slack's 3 seconds and refuses what it can without AWS (unknown command, who may plan or approve, four eyes,
an expired approval): a refused request starts no lazy listener, so it makes no AWS call. The lazy listener, a
second asynchronous invocation of this function, does the work and answers through ``response_url``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from slack_bolt import App, BoltContext, BoltRequest
from slack_bolt.adapter.aws_lambda import SlackRequestHandler
from slack_bolt.adapter.aws_lambda.lazy_listener_runner import LambdaLazyListenerRunner
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient

from functions.chatops import access, commands, plans, views
from functions.chatops.models import ChatopsSettings
from functions.chatops.store import AlreadyDecided, DecisionRecord, PlanRecord, Store
from functions.chatops.tasks import TaskError, Tasks
from shared.observability import logger

REFUSED = "chatops_refused"
"""Set on a request's context by an ``ack`` that answered it whole: no lazy listener is started for it."""


class AnsweredRunner(LambdaLazyListenerRunner):
    """Bolt's Lambda lazy runner (it invokes this function again, asynchronously, for the lazy listener), except
    for requests their ``ack`` already answered or refused: those end there, with no AWS call."""

    def start(self, function: Callable[..., None], request: BoltRequest) -> None:
        if request.context.get(REFUSED):
            return
        super().start(function, request)


def console_url(bucket: str, key: str, region: str) -> str:
    """The S3 console's page of a report: it opens only for someone signed in with access to the bucket."""
    return (
        f"https://console.aws.amazon.com/s3/object/{quote(bucket)}?region={quote(region)}&prefix={quote(key, safe='')}"
    )


def link_of(location: str | None, region: str) -> str | None:
    if not location or not location.startswith("s3://"):
        return None
    bucket, _, key = location.removeprefix("s3://").partition("/")
    return console_url(bucket, key, region)


class ChatOps:
    """The commands and buttons, over injected clients and a clock (tests choose "now")."""

    def __init__(
        self,
        settings: ChatopsSettings,
        *,
        signing_secret: str,
        bot_token: Callable[[], str],
        tasks: Tasks,
        store: Store,
        lambda_client: Any,
        region: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.config = settings.config
        self.tasks = tasks
        self.store = store
        self.region = region
        self.clock = clock
        self._bot_token = bot_token

        def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
            # asked after the signature check: a refused request never reads the bot token
            return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=self._bot_token())

        self.app = App(
            signing_secret=signing_secret,
            authorize=authorize,
            process_before_response=True,
            client=WebClient(base_url=settings.slack_api_url),
            logger=None,
        )
        self.handler = SlackRequestHandler(self.app)
        self.app.listener_runner.lazy_listener_runner = AnsweredRunner(self.handler.logger, lambda_client)
        self.app.command(self.config.command)(ack=self._ack_command, lazy=[self._run_command])
        self.app.action("approve")(ack=self._ack_approve, lazy=[self._run_approve])
        self.app.action("cancel")(ack=self._ack_cancel, lazy=[self._run_cancel])

    def handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        response: dict[str, Any] = self.handler.handle(event, context)  # type: ignore[no-untyped-call]
        if response.get("statusCode") == 401:
            logger.warning("request refused: bad or stale Slack signature")
        return response

    # ---- who is who ---------------------------------------------------------------------------------------

    @staticmethod
    def _groups(client: WebClient) -> Callable[[str], frozenset[str]]:
        cache: dict[str, frozenset[str]] = {}

        def members(group: str) -> frozenset[str]:
            if group not in cache:
                cache[group] = frozenset(client.usergroups_users_list(usergroup=group).get("users", []))
            return cache[group]

        return members

    def _refuse(self, context: BoltContext, ack: Callable[..., None], text: str, **fields: Any) -> None:
        context[REFUSED] = True
        logger.info("chat request refused", reason=text, **fields)
        ack(text=text, response_type="ephemeral")

    # ---- the slash command --------------------------------------------------------------------------------

    def _ack_command(
        self, ack: Callable[..., None], command: dict[str, Any], context: BoltContext, client: WebClient
    ) -> None:
        user, channel = command["user_id"], command.get("channel_id")
        try:
            parsed = commands.parse(command.get("text", ""), self.tasks.names)
        except commands.CommandError as exc:
            self._refuse(context, ack, str(exc), user=user, command=command.get("text", ""))
            return
        if parsed.verb == "help":
            context[REFUSED] = True  # answered whole, nothing to do later
            ack(text=f"{self.config.command} " + commands.USAGE, response_type="ephemeral")
            return
        if parsed.verb == "plan":
            assert parsed.task is not None
            decision = access.may_plan(self.config, parsed.task, user, channel, self._groups(client))
            if not decision.allowed:
                self._refuse(context, ack, decision.reason, user=user, task=parsed.task, verb="plan")
                return
        logger.info("chat command", user=user, channel=channel, command=command.get("text", ""))
        ack(text=f"Working on `{command.get('text', '').strip() or 'help'}`…", response_type="ephemeral")

    def _run_command(self, command: dict[str, Any], respond: Callable[..., Any]) -> None:
        parsed = commands.parse(command.get("text", ""), self.tasks.names)
        now = self.clock()
        try:
            if parsed.verb == "plan":
                self._plan(parsed, command["user_id"], command.get("channel_id"), respond)
            elif parsed.verb == "list":
                respond(**views.message(views.list_blocks(self.tasks, now)))
            elif parsed.verb == "status":
                respond(**views.message(views.status_blocks(self.tasks, now, self.region)))
            elif parsed.verb == "report":
                respond(**views.message(views.audit_blocks(self.tasks, now, self.region)))
        except (TaskError, KeyError, ValueError) as exc:
            why = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            logger.warning("chat command failed", command=command.get("text", ""), error=why)
            respond(text=f":x: {why}", response_type="ephemeral")

    def _plan(self, parsed: commands.Command, user: str, channel: str | None, respond: Callable[..., Any]) -> None:
        assert parsed.task is not None
        task = parsed.task
        given = self.tasks.policy_input(task, parsed.policy) if parsed.policy else {}
        if parsed.regions:
            given["regions"] = list(parsed.regions)
        report = self.tasks.invoke(task, given | {"dry_run": True})
        now = self.clock()
        record = PlanRecord(
            plan_id=uuid.uuid4().hex,
            task=task,
            policy=parsed.policy,
            input=given,
            digest=plans.digest(report),
            requested_by=user,
            channel=channel,
            created_at=now,
            expires_at=now + timedelta(minutes=self.config.approval_minutes),
            report_location=report.get("location"),
        )
        self.store.save_plan(record)
        logger.info(
            "chat plan",
            user=user,
            task=task,
            policy=parsed.policy,
            plan_id=record.plan_id,
            digest=record.digest,
            actions=len(plans.planned(report)),
        )
        value = json.dumps({"p": record.plan_id, "t": task, "r": user, "e": int(record.expires_at.timestamp())})
        blocks = plans.plan_blocks(
            task=task,
            policy=parsed.policy,
            report=report,
            plan_id=record.plan_id,
            plan_digest=record.digest,
            requested_by=user,
            expires_at=record.expires_at,
            link=link_of(record.report_location, self.region),
            button_value=value,
        )
        respond(response_type="in_channel", **views.message(blocks))

    # ---- the buttons --------------------------------------------------------------------------------------

    @staticmethod
    def _value(body: dict[str, Any]) -> dict[str, Any]:
        value = json.loads(body["actions"][0]["value"])
        if not isinstance(value, dict) or not {"p", "t", "r", "e"} <= set(value):
            raise ValueError("not a plan button")
        return value

    def _ack_approve(
        self, ack: Callable[..., None], body: dict[str, Any], context: BoltContext, client: WebClient
    ) -> None:
        user, channel = body["user"]["id"], (body.get("channel") or {}).get("id")
        try:
            value = self._value(body)
        except (ValueError, KeyError, IndexError):
            self._refuse(context, ack, "this button is not one of a plan", user=user)
            return
        if self.clock().timestamp() > value["e"]:
            self._refuse(context, ack, f"plan `{value['p']}` expired: plan again", user=user, plan_id=value["p"])
            return
        decision = access.may_approve(
            self.config, value["t"], user, channel, self._groups(client), requested_by=value["r"]
        )
        if not decision.allowed:
            self._refuse(context, ack, decision.reason, user=user, task=value["t"], plan_id=value["p"])
            return
        ack()

    def _run_approve(self, body: dict[str, Any], respond: Callable[..., Any], client: WebClient) -> None:
        user, channel = body["user"]["id"], (body.get("channel") or {}).get("id")
        value = self._value(body)
        plan = self.store.plan(value["p"])
        now = self.clock()
        if plan is None or plan.task != value["t"] or plan.requested_by != value["r"]:
            respond(text=f":x: plan `{value['p']}` is not known", response_type="ephemeral", replace_original=False)
            return
        if now > plan.expires_at:
            respond(
                text=f":x: plan `{plan.plan_id}` expired at {plan.expires_at:%H:%M} UTC: plan again",
                response_type="ephemeral",
                replace_original=False,
            )
            return
        decision = access.may_approve(
            self.config, plan.task, user, channel, self._groups(client), requested_by=plan.requested_by
        )
        if not decision.allowed:
            respond(text=f":x: {decision.reason}", response_type="ephemeral", replace_original=False)
            return
        try:
            self.store.decide(
                DecisionRecord(plan_id=plan.plan_id, decision="approved", by=user, at=now, channel=channel)
            )
        except AlreadyDecided:
            logger.info("chat approval refused: already decided", user=user, plan_id=plan.plan_id)
            respond(
                text=f":x: plan `{plan.plan_id}` was already approved or cancelled: plan again",
                response_type="ephemeral",
                replace_original=False,
            )
            return
        logger.info(
            "chat approval",
            user=user,
            task=plan.task,
            plan_id=plan.plan_id,
            digest=plan.digest,
            requested_by=plan.requested_by,
        )
        respond(
            replace_original=True,
            response_type="in_channel",
            **views.message(
                [
                    plans._section(
                        f":hourglass: *{plan.task}* plan `{plan.plan_id}` approved by "
                        f"<@{user}>: checking the plan again, then running it"
                    )
                ]
            ),
        )
        self._execute(plan, user, now, respond)

    def _execute(self, plan: PlanRecord, user: str, now: datetime, respond: Callable[..., Any]) -> None:
        try:
            again = self.tasks.invoke(plan.task, plan.input | {"dry_run": True})
        except TaskError as exc:
            respond(
                response_type="in_channel",
                replace_original=False,
                text=f":x: *{plan.task}* plan `{plan.plan_id}` could not be checked again: {exc}",
            )
            return
        if plans.digest(again) != plan.digest:
            logger.warning(
                "chat approval refused: plan changed", plan_id=plan.plan_id, shown=plan.digest, now=plans.digest(again)
            )
            respond(
                response_type="in_channel",
                replace_original=False,
                text=f":x: *{plan.task}* plan `{plan.plan_id}` was not run: the plan is no longer the one shown "
                f"({len(plans.planned(again))} actions now). Plan again and approve the new plan.",
            )
            return
        approval = {
            "plan_id": plan.plan_id,
            "digest": plan.digest,
            "requested_by": plan.requested_by,
            "approved_by": user,
            "approved_at": now.isoformat(),
            "channel": plan.channel,
        }
        report: dict[str, Any] | None = None
        error: str | None = None
        try:
            report = self.tasks.invoke(plan.task, plan.input | {"dry_run": False} | self._audit(approval))
        except TaskError as exc:
            error = str(exc)
        outside = 0
        if report is not None:
            outside = len(set(plans.attempted(report)) - set(plans.planned(again)))
        logger.info(
            "chat run finished",
            plan_id=plan.plan_id,
            task=plan.task,
            approved_by=user,
            status=(report or {}).get("status", "failed"),
            error=error,
            outside_plan=outside,
        )
        blocks = plans.result_blocks(
            task=plan.task,
            report=report,
            error=error,
            approved_by=user,
            plan_id=plan.plan_id,
            link=link_of((report or {}).get("location"), self.region),
            outside_plan=outside,
        )
        respond(response_type="in_channel", replace_original=False, **views.message(blocks))

    def _audit(self, approval: dict[str, Any]) -> dict[str, Any]:
        """What the run's input carries of the approval, so that the run's own report records it."""
        return {"approval": approval}

    def _ack_cancel(
        self, ack: Callable[..., None], body: dict[str, Any], context: BoltContext, client: WebClient
    ) -> None:
        user, channel = body["user"]["id"], (body.get("channel") or {}).get("id")
        try:
            value = self._value(body)
        except (ValueError, KeyError, IndexError):
            self._refuse(context, ack, "this button is not one of a plan", user=user)
            return
        if user != value["r"]:
            decision = access.may_approve(
                self.config, value["t"], user, channel, self._groups(client), requested_by=value["r"]
            )
            if not decision.allowed:
                self._refuse(context, ack, "only the person who planned or an approver may cancel", user=user)
                return
        ack()

    def _run_cancel(self, body: dict[str, Any], respond: Callable[..., Any]) -> None:
        user, channel = body["user"]["id"], (body.get("channel") or {}).get("id")
        value = self._value(body)
        try:
            self.store.decide(
                DecisionRecord(plan_id=value["p"], decision="cancelled", by=user, at=self.clock(), channel=channel)
            )
        except AlreadyDecided:
            respond(
                text=f":x: plan `{value['p']}` was already approved or cancelled",
                response_type="ephemeral",
                replace_original=False,
            )
            return
        logger.info("chat cancel", user=user, plan_id=value["p"], task=value["t"])
        respond(
            replace_original=True,
            response_type="in_channel",
            text=f":no_entry_sign: {value['t']} plan `{value['p']}` cancelled by <@{user}>",
        )
