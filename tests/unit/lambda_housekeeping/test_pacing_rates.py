"""Lambda housekeeping's calls are paced within Lambda's one control-plane bucket (15 per second per account and
region, for every call but invocations, GetFunction and GetPolicy)."""

from __future__ import annotations

from functions.lambda_housekeeping.task import PERMISSIONS
from shared.pacing import DEFAULT_RATES

LAMBDA_RATE = 15.0
SIDE_BY_SIDE = [
    # the calls one unit makes at the same time, phase by phase (task.work)
    ["lambda:ListFunctions"],
    ["lambda:ListAliases", "lambda:ListProvisionedConcurrencyConfigs", "lambda:ListTags"],
    ["lambda:ListLayerVersions"],
    ["lambda:GetLayerVersionPolicy", "lambda:GetLayerVersion"],
    ["lambda:DeleteFunction"],
    ["lambda:DeleteLayerVersion"],
]
ONCE_A_REGION = {"lambda:ListEventSourceMappings", "lambda:ListLayers", "lambda:GetAccountSettings"}


def test_every_lambda_call_made_per_function_page_or_version_is_paced() -> None:
    repeated = {a for a in PERMISSIONS if a.startswith("lambda:")} - ONCE_A_REGION
    assert repeated == {name for phase in SIDE_BY_SIDE for name in phase}
    assert repeated <= set(DEFAULT_RATES)


def test_calls_that_run_side_by_side_stay_below_lambdas_rate_with_room_for_others() -> None:
    for phase in SIDE_BY_SIDE:
        total = sum(DEFAULT_RATES[name].per_second for name in phase)
        assert total <= 0.8 * LAMBDA_RATE, (phase, total)
        assert sum(DEFAULT_RATES[name].burst for name in phase) <= LAMBDA_RATE
