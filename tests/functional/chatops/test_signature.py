"""Every request's Slack signature is verified before anything else: a refused request gets 401, reads no bot
token, starts no lazy listener and makes no AWS call but the (cached) read of the signing secret."""

from __future__ import annotations

import time

from tests.chatops_support import command_body, sign, url_event
from tests.functional.chatops.conftest import PLANNER, Rig


def _body(rig: Rig, text: str = "list") -> str:
    return command_body(text, user=PLANNER, response_url=rig.slack.response_url())


def test_a_correctly_signed_command_is_answered_and_its_work_handed_to_a_lazy_listener(rig: Rig) -> None:
    response = rig.handle(url_event(_body(rig)))
    assert response["statusCode"] == 200
    assert len(rig.lam.queued) == 1, "the lazy listener is one asynchronous invocation of the function itself"


def test_a_bad_signature_gets_401_and_no_aws_call_but_the_signing_secret(rig: Rig) -> None:
    body = _body(rig)
    event = url_event(body, signature=sign("not-the-secret", body, int(time.time())))
    response = rig.handle(event)
    assert response["statusCode"] == 401
    assert rig.aws_calls() == [("ssm", "GetParameter")]
    assert rig.lam.invoked == []
    assert rig.slack.posts == []


def test_a_body_changed_after_signing_gets_401(rig: Rig) -> None:
    body = _body(rig, "list")
    event = url_event(body)
    tampered = url_event(
        _body(rig, "plan snapshot-rotation"),
        signature=event["headers"]["x-slack-signature"],
        timestamp=int(event["headers"]["x-slack-request-timestamp"]),
    )
    assert rig.handle(tampered)["statusCode"] == 401
    assert rig.lam.invoked == []


def test_a_stale_timestamp_gets_401_even_when_correctly_signed(rig: Rig) -> None:
    stale = int(time.time()) - 5 * 60 - 30
    response = rig.handle(url_event(_body(rig), timestamp=stale))
    assert response["statusCode"] == 401
    assert rig.aws_calls() == [("ssm", "GetParameter")]
    assert rig.lam.invoked == []


def test_the_signing_secret_is_read_once_and_cached_across_requests(rig: Rig) -> None:
    body = _body(rig)
    for _ in range(3):
        rig.handle(url_event(body, signature="v0=" + "0" * 64))
    assert rig.aws_calls() == [("ssm", "GetParameter")]


def test_a_missing_signature_header_gets_401(rig: Rig) -> None:
    event = url_event(_body(rig))
    del event["headers"]["x-slack-signature"]
    assert rig.handle(event)["statusCode"] == 401
    assert rig.lam.invoked == []
