"""The Codex sensors under ``dag.test()``, against the sandbox over real HTTP, poking and deferred.

The sandbox's clock is frozen at 2026-03-05T00:00Z: the day 2026-03-04 has
analytics rows, but its last compliance events (CODEX_LOG 23:46, the sparse
CODEX_SECURITY_LOG 17:29) are not yet at its end; 2026-03-05 has no analytics
rows yet. Moving the clock while a sensor waits is data arriving.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout

from airflow_provider_codex.readiness import AnalyticsDayCheck
from airflow_provider_codex.sensors.codex import CodexAnalyticsDaySensor, CodexComplianceFreshnessSensor
from airflow_provider_codex.windows import Window

FRESHNESS = "CodexComplianceFreshnessSensor"
ANALYTICS = "CodexAnalyticsDaySensor"
#: A settle time no test outlives: an empty day keeps the sensor waiting.
NEVER = timedelta(days=365 * 50)

POKE = pytest.param({"deferrable": False}, id="poke")
RESCHEDULE = pytest.param({"deferrable": False, "mode": "reschedule"}, id="reschedule")
DEFERRED = pytest.param({"deferrable": True}, id="deferred")
WAYS = [POKE, DEFERRED]


def requests_to(sandbox, route):
    return sum(sandbox.stats()["requests"].get(route, {}).values())


# --- compliance freshness ------------------------------------------------------------------


@pytest.mark.parametrize("way", WAYS)
def test_freshness_succeeds_when_events_have_landed(sandbox, codex_conn, run_sensor, way):
    run = run_sensor(
        FRESHNESS,
        codex_conn_id=codex_conn(),
        grace=timedelta(0),
        poke_interval=0.5,
        timeout=30,
        logical_date=datetime(2026, 3, 4, tzinfo=UTC),  # the window is 2026-03-03
        **way,
    )
    assert run.state == "success", run
    assert not run.deferred  # a deferrable sensor checks once before deferring
    assert run.xcom["target"] == "2026-03-04T00:00:00Z"
    assert set(run.xcom["max_event_time"]) == {"CODEX_LOG", "CODEX_SECURITY_LOG"}
    assert requests_to(sandbox, "max_event_time") == 1


@pytest.mark.parametrize("way", WAYS)
def test_freshness_keeps_waiting_then_times_out(sandbox, codex_conn, run_sensor, way):
    # A timeout long enough for several checks even when deferring is slow on a loaded machine.
    run = run_sensor(FRESHNESS, codex_conn_id=codex_conn(), grace=timedelta(0), poke_interval=0.3, timeout=4, **way)
    assert run.state == "failed"
    assert run.exception == "AirflowSensorTimeout", run
    assert run.deferred == way["deferrable"]
    assert 4 <= run.seconds < 40
    assert requests_to(sandbox, "max_event_time") >= 3  # it kept checking until the timeout
    if way["deferrable"]:
        assert "CODEX_SECURITY_LOG" in run.message  # the trigger says what was still missing


@pytest.mark.parametrize("way", [POKE, RESCHEDULE, DEFERRED])
def test_freshness_succeeds_when_events_land_while_it_waits(sandbox, codex_conn, run_sensor, when_checked, way):
    when_checked("max_event_time", 2, lambda: sandbox.set_clock(datetime(2026, 3, 6, tzinfo=UTC)))
    run = run_sensor(FRESHNESS, codex_conn_id=codex_conn(), grace=timedelta(0), poke_interval=0.5, timeout=60, **way)
    assert run.state == "success", run
    assert run.deferred == way["deferrable"]
    assert all(t >= "2026-03-05" for t in run.xcom["max_event_time"].values())
    assert requests_to(sandbox, "max_event_time") >= 3


@pytest.mark.parametrize("way", WAYS)
def test_freshness_rides_out_server_errors(sandbox, codex_conn, run_sensor, when_checked, way):
    sandbox.faults.fail_5xx_every = 1  # every request fails, after the client's own retries too

    def recover():
        sandbox.faults.fail_5xx_every = 0

    when_checked("max_event_time", 4, recover)
    run = run_sensor(
        FRESHNESS,
        codex_conn_id=codex_conn(),
        grace=timedelta(0),
        poke_interval=0.2,
        timeout=60,
        logical_date=datetime(2026, 3, 4, tzinfo=UTC),
        **way,
    )
    assert run.state == "success", run
    assert run.deferred == way["deferrable"]


# --- analytics day ---------------------------------------------------------------------------


@pytest.mark.parametrize("way", WAYS)
def test_analytics_day_succeeds_when_rows_are_served(sandbox, codex_conn, run_sensor, way):
    run = run_sensor(ANALYTICS, codex_conn_id=codex_conn(), poke_interval=0.5, timeout=30, **way)
    assert run.state == "success", run
    assert not run.deferred
    assert run.xcom == {"endpoint": "usage_workspace", "day": "2026-03-04", "state": "rows"}
    assert requests_to(sandbox, "usage_workspace") == 1


@pytest.mark.parametrize("way", WAYS)
def test_analytics_day_keeps_waiting_then_times_out(sandbox, codex_conn, run_sensor, way):
    run = run_sensor(
        ANALYTICS,
        codex_conn_id=codex_conn(),
        settle_time=NEVER,
        poke_interval=0.3,
        timeout=4,  # long enough for several checks even when deferring is slow on a loaded machine
        logical_date=datetime(2026, 3, 6, tzinfo=UTC),  # 2026-03-05: no rows yet
        **way,
    )
    assert run.state == "failed"
    assert run.exception == "AirflowSensorTimeout", run
    assert run.deferred == way["deferrable"]
    assert 4 <= run.seconds < 40
    assert requests_to(sandbox, "usage_workspace") >= 3


@pytest.mark.parametrize("way", WAYS)
def test_analytics_day_succeeds_when_rows_arrive_while_it_waits(sandbox, codex_conn, run_sensor, when_checked, way):
    when_checked("code_reviews", 2, lambda: sandbox.set_clock(datetime(2026, 3, 5, 6, tzinfo=UTC)))
    run = run_sensor(
        ANALYTICS,
        codex_conn_id=codex_conn(),
        dataset="code_reviews",
        settle_time=NEVER,
        poke_interval=0.5,
        timeout=60,
        start="2026-03-05",
        end="2026-03-06",
        **way,
    )
    assert run.state == "success", run
    assert run.deferred == way["deferrable"]
    assert run.xcom == {"endpoint": "code_reviews", "day": "2026-03-05", "state": "rows"}


@pytest.mark.parametrize("way", WAYS)
def test_analytics_quiet_day_succeeds_once_settled(sandbox, codex_conn, run_sensor, way):
    # 2025-11-01 is before the sandbox's analytics history: no rows will ever come.
    run = run_sensor(
        ANALYTICS,
        codex_conn_id=codex_conn(),
        settle_time=timedelta(days=1),
        poke_interval=0.5,
        timeout=30,
        start="2025-11-01",
        end="2025-11-02",
        **way,
    )
    assert run.state == "success", run
    assert run.xcom == {"endpoint": "usage_workspace", "day": "2025-11-01", "state": "settled_empty"}


def test_window_follows_templated_start_and_end(sandbox, codex_conn, run_sensor):
    run = run_sensor(
        ANALYTICS,
        codex_conn_id=codex_conn(),
        start="{{ macros.ds_add(ds, -3) }}",
        end="{{ macros.ds_add(ds, -2) }}",
        poke_interval=0.5,
        timeout=30,
    )
    assert run.state == "success", run
    assert run.xcom["day"] == "2026-03-02"  # the last day of [ds-3, ds-2), ds = 2026-03-05


# --- errors that waiting cannot fix ----------------------------------------------------------


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize(
    ("sensor", "route", "extra", "hint"),
    [
        pytest.param(FRESHNESS, "max_event_time", {"compliance_api_key": "sk-revoked"}, "compliance_api_key", id="401"),
        pytest.param(ANALYTICS, "usage_workspace", {"analytics_api_key": "sk-revoked"}, "analytics_api_key", id="401"),
    ],
)
def test_a_rejected_key_fails_at_once(sandbox, codex_conn, run_sensor, sensor, route, extra, hint, way):
    run = run_sensor(sensor, codex_conn_id=codex_conn(**extra), poke_interval=0.5, timeout=60, retries=2, **way)
    assert run.state == "failed"
    assert run.exception == "AirflowFailException", run
    assert run.try_number == 1  # no retry
    assert not run.deferred
    assert requests_to(sandbox, route) == 1  # no second poke, no client retry
    assert run.seconds < 20  # far less than the 60 s timeout
    assert hint in run.message
    assert "sk-revoked" not in run.message


@pytest.mark.parametrize(
    ("sensor", "extra", "error", "hint"),
    [
        pytest.param(ANALYTICS, "swap", "CodexPermissionError", "codex.enterprise.analytics.read", id="403"),
        pytest.param(
            FRESHNESS,
            {"workspace_id": "99999999-2222-4333-8444-555555555555"},
            "CodexNotFoundError",
            "not found",
            id="404",
        ),
        pytest.param(ANALYTICS, {"workspace_id": None}, "CodexConfigError", "workspace_id", id="no-workspace"),
    ],
)
def test_permanent_errors_fail_at_once(sandbox, codex_conn, run_sensor, sensor, extra, error, hint):
    if extra == "swap":
        extra = {"analytics_api_key": sandbox.compliance_key}
    run = run_sensor(sensor, codex_conn_id=codex_conn(**extra), poke_interval=0.5, timeout=60, retries=2)
    assert run.state == "failed"
    assert run.exception == "AirflowFailException", run
    assert run.try_number == 1
    assert run.message.startswith(error)
    assert hint in run.message
    assert run.seconds < 20


def test_a_missing_connection_fails_at_once(sandbox, run_sensor):
    run = run_sensor(FRESHNESS, codex_conn_id="no_such_codex_conn", poke_interval=0.5, timeout=60, retries=2)
    assert (run.state, run.exception, run.try_number) == ("failed", "AirflowFailException", 1), run
    assert "no_such_codex_conn" in run.message


def test_a_window_that_is_not_whole_days_fails_at_once(sandbox, codex_conn, run_sensor):
    run = run_sensor(ANALYTICS, codex_conn_id=codex_conn(), start="2026-03-01", poke_interval=0.5, timeout=60)
    assert (run.state, run.exception) == ("failed", "AirflowFailException"), run
    assert "start and end" in run.message
    assert requests_to(sandbox, "usage_workspace") == 0


# --- construction and resumption, without a run ----------------------------------------------


def test_deferrable_defaults_to_the_operators_setting(monkeypatch):
    assert CodexAnalyticsDaySensor(task_id="a").deferrable is False
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "true")
    assert CodexAnalyticsDaySensor(task_id="b").deferrable is True
    assert CodexComplianceFreshnessSensor(task_id="c").deferrable is True
    assert CodexComplianceFreshnessSensor(task_id="d", deferrable=False).deferrable is False


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dataset": "compliance_events"},
        {"dataset": "nope"},
        {"settle_time": timedelta(hours=-1)},
    ],
)
def test_analytics_sensor_refuses_bad_arguments_when_the_dag_is_parsed(kwargs):
    with pytest.raises(ValueError):
        CodexAnalyticsDaySensor(task_id="bad", **kwargs)


@pytest.mark.parametrize("kwargs", [{"event_types": []}, {"grace": timedelta(hours=-1)}])
def test_freshness_sensor_refuses_bad_arguments_when_the_dag_is_parsed(kwargs):
    with pytest.raises(ValueError):
        CodexComplianceFreshnessSensor(task_id="bad", **kwargs)


def test_resuming_maps_each_trigger_event_to_the_task_outcome():
    sensor = CodexComplianceFreshnessSensor(task_id="wait")
    details = {"target": "2026-03-05T00:00:00Z"}
    assert sensor.execute_complete({}, {"status": "success", "message": "ok", "details": details}) == details
    with pytest.raises(AirflowSensorTimeout, match="not ready by"):
        sensor.execute_complete({}, {"status": "timeout", "message": "not ready by then"})
    with pytest.raises(AirflowFailException, match="CodexAuthError"):
        sensor.execute_complete({}, {"status": "error", "message": "CodexAuthError: rejected"})
    with pytest.raises(AirflowFailException):
        sensor.execute_complete({}, None)


def test_the_deferred_trigger_carries_the_same_check():
    sensor = CodexAnalyticsDaySensor(task_id="wait", dataset="code_reviews", settle_time=timedelta(hours=30))
    check = sensor.make_check(Window(datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 5, tzinfo=UTC)))
    assert check.day.isoformat() == "2026-03-04"
    trigger = sensor.make_trigger(check, "2026-03-05T01:00:00+00:00")
    rebuilt = trigger.make_check()
    assert isinstance(rebuilt, AnalyticsDayCheck)
    assert (rebuilt.endpoint, rebuilt.day, rebuilt.settle_time) == (check.endpoint, check.day, check.settle_time)
