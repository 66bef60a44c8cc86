"""Input parsing: the three event shapes, environment defaults, and errors that name the field."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import Field, model_validator

from shared.errors import InputError
from shared.inputs import TaskSettings, parse_input, payload_of
from tests.helpers import load_event


class Example(TaskSettings):
    threshold: int = Field(default=3, ge=0)
    names: list[str] = Field(default_factory=list)


def test_a_raw_scheduled_event_carries_its_detail_as_payload() -> None:
    event = load_event("eventbridge_scheduled.json")
    assert payload_of(event) == {}
    assert payload_of(event | {"detail": {"threshold": 5}}) == {"threshold": 5}


def test_a_schedule_constant_input_and_a_manual_payload_are_the_payload_itself() -> None:
    assert payload_of({"threshold": 9, "dry_run": True}) == {"threshold": 9, "dry_run": True}
    assert payload_of(None) == {}


def test_a_malformed_eventbridge_event_is_refused_with_the_reason() -> None:
    event = load_event("eventbridge_scheduled.json")
    del event["time"]
    with pytest.raises(InputError, match="invalid EventBridge event"):
        payload_of(event)


@pytest.mark.parametrize("event", [[1, 2], "text", 42])
def test_an_event_that_is_not_an_object_is_refused(event: object) -> None:
    with pytest.raises(InputError, match="must be a JSON object"):
        parse_input(event, Example, env={})


def test_environment_defaults_are_overridden_by_the_event_and_the_overrides() -> None:
    env = {"DEVOPS_TASKS_THRESHOLD": "7", "DEVOPS_TASKS_DRY_RUN": "true", "DEVOPS_TASKS_NAMES": "a, b"}
    parsed = parse_input({"threshold": 8}, Example, env=env)
    assert (parsed.threshold, parsed.dry_run, parsed.names) == (8, True, ["a", "b"])
    assert parse_input({"threshold": 8}, Example, env=env, overrides={"threshold": 1}).threshold == 1
    assert parse_input({}, Example, env={"DEVOPS_TASKS_REGIONS": '["eu-west-1"]'}).regions == ["eu-west-1"]


def test_every_invalid_field_is_named_in_one_error() -> None:
    with pytest.raises(InputError) as err:
        parse_input({"threshold": -1, "regions": ["mars-1"], "colour": "red"}, Example, env={})
    text = str(err.value)
    assert "threshold" in text
    assert "regions" in text
    assert "mars-1" in text
    assert "colour" in text
    assert "Extra inputs are not permitted" in text
    assert len(err.value.problems) == 3


def test_regions_all_is_accepted_and_duplicates_are_dropped() -> None:
    assert parse_input({"regions": ["all"]}, Example, env={}).regions == ["all"]
    assert parse_input({"regions": ["eu-west-1", "eu-west-1", "us-east-1"]}, Example, env={}).regions == [
        "eu-west-1",
        "us-east-1",
    ]


def test_accounts_need_twelve_digit_ids() -> None:
    with pytest.raises(InputError, match=r"accounts\.0\.account_id"):
        parse_input({"accounts": [{"account_id": "12", "role": "r"}]}, Example, env={})


@given(st.dictionaries(st.sampled_from(["threshold", "dry_run", "max_workers"]), st.integers(-5, 100)))
def test_parsing_validates_exactly_the_valid_payloads_and_names_the_rest(payload: dict[str, int]) -> None:
    bad = {
        name
        for name, ok in (
            ("threshold", payload.get("threshold", 0) >= 0),
            ("dry_run", payload.get("dry_run", 0) in (0, 1)),
            ("max_workers", 1 <= payload.get("max_workers", 8) <= 64),
        )
        if not ok
    }
    if not bad:
        assert parse_input(payload, Example, env={}).model_dump(include=set(payload)) == {
            k: bool(v) if k == "dry_run" else v for k, v in payload.items()
        }
        return
    with pytest.raises(InputError) as err:
        parse_input(payload, Example, env={})
    assert {p.split(":")[0] for p in err.value.problems} == bad


def test_an_external_id_aws_would_refuse_is_refused_here_first() -> None:
    with pytest.raises(InputError, match=r"accounts\.0\.external_id"):
        parse_input({"accounts": [{"account_id": "123456789012", "role": "r", "external_id": "x"}]}, Example, env={})


def test_env_defaults_of_string_fields_stay_strings_even_when_they_look_like_json() -> None:
    env = {
        "DEVOPS_TASKS_REPORT_BUCKET": "20240101",
        "DEVOPS_TASKS_REPORT_PREFIX": "true",
        "DEVOPS_TASKS_DRY_RUN": "false",
        "DEVOPS_TASKS_MAX_WORKERS": "4",
    }
    settings = parse_input({}, TaskSettings, env=env)
    assert settings.report_bucket == "20240101"
    assert settings.report_prefix == "true"
    assert settings.dry_run is False
    assert settings.max_workers == 4


@pytest.mark.parametrize("region", ["xx-fake-9", "eu-fake-1", "us-east-99", "aws-global", "cn-north-7"])
def test_a_region_name_botocore_does_not_know_is_refused_though_it_looks_like_one(region: str) -> None:
    with pytest.raises(InputError, match=rf"regions\.0: .*{region}.*not a region"):
        parse_input({"regions": [region]}, Example, env={})


@pytest.mark.parametrize("regions", [["cn-north-1", "cn-northwest-1"], ["us-gov-west-1"], ["eu-west-1", "ap-south-2"]])
def test_regions_of_any_partition_are_accepted(regions: list[str]) -> None:
    assert parse_input({"regions": regions}, Example, env={}).regions == regions


def test_one_run_stays_in_one_partition() -> None:
    with pytest.raises(InputError, match=r"regions: .*eu-west-1 \(aws\).*cn-north-1 \(aws-cn\)"):
        parse_input({"regions": ["eu-west-1", "cn-north-1"]}, Example, env={})


def test_all_is_alone_in_the_region_list() -> None:
    with pytest.raises(InputError, match="regions"):
        parse_input({"regions": ["all", "eu-west-1"]}, Example, env={})


ACCOUNT = "123456789012"


@pytest.mark.parametrize(
    "role",
    [
        "arn:aws:iam::*:role/*",
        "arn:aws:iam::123456789012:role/*",
        "member\n",
        "arn:aws:iam::123456789012:role/member\n",
        'mem"ber',
        "mem ber",
        "memb\u00e9r",
        "x" * 65,
        "arn:aws:iam::123456789012:user/member",
        "arn:aws:sts::123456789012:role/member",
        "arn:aws-mars:iam::123456789012:role/member",
        "arn:aws:iam::123456789012:role/",
        "arn:aws:iam::123456789012:role//member",
        "",
    ],
)
def test_a_role_that_is_not_an_iam_role_name_or_role_arn_is_refused(role: str) -> None:
    with pytest.raises(InputError, match=r"accounts\.0\.role"):
        parse_input({"accounts": [{"account_id": ACCOUNT, "role": role}]}, Example, env={})


@pytest.mark.parametrize(
    ("role", "regions"),
    [
        ("member", []),
        ("devops+tasks=a,b.c@d-e_f", []),
        ("x" * 64, []),
        ("arn:aws:iam::123456789012:role/member", []),
        ("arn:aws:iam::123456789012:role/teams/ops/member", []),
        ("arn:aws-cn:iam::123456789012:role/member", ["cn-north-1"]),
        ("arn:aws-us-gov:iam::123456789012:role/member", ["us-gov-west-1"]),
    ],
)
def test_iam_role_names_and_role_arns_of_any_partition_are_accepted(role: str, regions: list[str]) -> None:
    settings = parse_input({"accounts": [{"account_id": ACCOUNT, "role": role}], "regions": regions}, Example, env={})
    assert settings.accounts[0].role == role


def test_an_account_id_that_differs_from_its_role_arn_account_is_refused() -> None:
    with pytest.raises(InputError, match=r"accounts\.0: .*222222222222.*111111111111"):
        parse_input(
            {"accounts": [{"account_id": "111111111111", "role": "arn:aws:iam::222222222222:role/member"}]},
            Example,
            env={},
        )


def test_a_role_arn_of_another_partition_than_the_regions_is_refused() -> None:
    with pytest.raises(InputError, match=r"accounts.*aws-cn.*eu-west-1"):
        parse_input(
            {
                "accounts": [{"account_id": ACCOUNT, "role": f"arn:aws-cn:iam::{ACCOUNT}:role/m"}],
                "regions": ["eu-west-1"],
            },
            Example,
            env={},
        )


class Bounded(TaskSettings):
    low: int = 0
    high: int = 10

    @model_validator(mode="after")
    def _ordered(self) -> Bounded:
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must not be above high ({self.high})")
        return self


def test_a_rule_of_the_whole_input_reads_as_its_own_sentence() -> None:
    with pytest.raises(InputError) as caught:
        parse_input({"low": 5, "high": 1}, Bounded, env={})
    assert caught.value.problems == ["low (5) must not be above high (1)"]
    assert str(caught.value) == "invalid input: low (5) must not be above high (1)"


def test_a_rule_of_a_nested_model_names_its_field_without_pydantic_prefixes() -> None:
    with pytest.raises(InputError) as caught:
        parse_input({"accounts": [{"account_id": "123", "role": "r"}], "threshold": -1}, Example, env={})
    assert all("Value error" not in p and "(root)" not in p for p in caught.value.problems)
    assert any(p.startswith("accounts.0.account_id: ") for p in caught.value.problems)
