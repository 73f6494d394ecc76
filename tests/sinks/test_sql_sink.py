"""SqlSink against real SQLite, PostgreSQL (psycopg 3 and psycopg2) and MariaDB."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sql_backends import ALL_TYPES, make_backend, normalize

from airflow_provider_codex.sinks import SqlSink
from airflow_provider_codex.sinks.sql_dialects import copy_driver, dialect_named
from airflow_provider_codex.tables import (
    COMPLIANCE_EVENTS,
    USAGE_USER_CLIENT_DAILY,
    USAGE_USER_DAILY,
    USAGE_USER_MODEL_DAILY,
    USAGE_USER_TABLES,
    ColumnType,
    ContentPolicy,
    FlattenContext,
    TableSpec,
    flatten_compliance_events,
    flatten_usage_users,
)
from airflow_provider_codex.tables._rows import text_or_json

WS = "ws-1"
D1, D2, D3 = date(2025, 11, 1), date(2025, 11, 2), date(2025, 11, 3)
LOADED = datetime(2025, 11, 5, 6, 30, 15, 123456, tzinfo=UTC)


def thing(day: date, i: int, **extra) -> dict:
    return {
        "workspace_id": WS,
        "day": day,
        "id": f"id-{i}",
        "n": 2**40 + i,
        "x": i / 4,
        "flag": i % 2 == 0,
        "at": datetime(2025, 11, 1, 12, 0, i % 60, 250000, tzinfo=UTC),
        "doc": '{"k": [1, 2, "drei"]}',
        "note": "tab\there\nnew line \\ back ünïcødé ✓ 'quote' \"dq\"" if i == 0 else None,
        **extra,
    }


def usage_row(start: datetime, user: str, credits: float, **extra) -> dict:
    return {
        "object": "codex.usage",
        "start_time": int(start.timestamp()),
        "end_time": int((start + timedelta(days=1)).timestamp()),
        "user_id": user,
        "actor": {"type": "ACCOUNT_USER", "user_id": user, "email": f"{user}@example.com"},
        "totals": {"threads": 3, "turns": 20, "credits": credits, "cost_usd": None, "estimated_cost_usd": 0.5},
        "clients": [
            {
                "client_id": "CODEX_CLI",
                "threads": 2,
                "turns": 15,
                "credits": credits,
                "uncached_text_input_tokens": 1200,
                "cached_text_input_tokens": None,
                "text_output_tokens": 300,
                "text_total_tokens": 2300,
            },
            {"client_id": "CODEX_SOMETHING_NEW", "threads": 1},
        ],
        "models": [{"model": "gpt-5.2-codex", "speed": "standard", "credits": credits}],
        **extra,
    }


def stored(backend, value):
    """An extra column's value as read back: the generic dialect keeps every extra column as (JSON) text."""
    return text_or_json(value) if backend.dialect == "generic" else value


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def usage_load(days, credits=1.0, users=("u1", "u2"), **extra):
    rows = [usage_row(midnight(d), u, credits, **extra) for d in days for u in users]
    return list(flatten_usage_users(rows, FlattenContext(WS, LOADED)))


def test_all_types_round_trip_field_by_field(backend):
    records = [thing(D1, i) for i in range(7)]
    result = backend.sink().replace(ALL_TYPES, WS, [D1], records)
    assert result.inserted == {D1: 7} and result.deleted == {D1: 0}
    got = backend.read(ALL_TYPES)
    expected = [{k: normalize(v, ALL_TYPES.types[k]) for k, v in r.items()} for r in records]
    assert got == expected


def test_usage_tables_load_in_one_replace(backend):
    tagged = usage_load([D1, D2])
    results = backend.sink(batch_size=3).replace_tables(USAGE_USER_TABLES, WS, [D1, D2], tagged)
    assert results[USAGE_USER_DAILY.name].inserted == {D1: 2, D2: 2}
    assert results[USAGE_USER_CLIENT_DAILY.name].inserted == {D1: 4, D2: 4}
    for spec in USAGE_USER_TABLES:
        expected = [
            {c: normalize(r.get(c), spec.types[c]) for c in spec.column_names}
            for name, r in tagged
            if name == spec.name
        ]
        assert backend.read(spec) == sorted(expected, key=lambda r: tuple(r[k] for k in spec.key))
    [row] = [r for r in backend.read(USAGE_USER_DAILY) if r["day"] == D1 and r["user_id"] == "u1"]
    assert row["cost_usd"] is None and row["estimated_cost_usd"] == 0.5 and row["email"] == "u1@example.com"


def test_replace_twice_leaves_one_copy(backend):
    sink = backend.sink()
    first = sink.replace_tables(USAGE_USER_TABLES, WS, [D1, D2], usage_load([D1, D2]))
    second = sink.replace_tables(USAGE_USER_TABLES, WS, [D1, D2], usage_load([D1, D2]))
    assert second[USAGE_USER_DAILY.name].deleted == first[USAGE_USER_DAILY.name].inserted
    assert backend.count(USAGE_USER_DAILY) == 4
    assert backend.count(USAGE_USER_MODEL_DAILY) == 4


def test_overlapping_windows_leave_one_copy_with_the_newest_values(backend):
    sink = backend.sink()
    sink.replace_tables(USAGE_USER_TABLES, WS, [D1, D2], usage_load([D1, D2], credits=1.0))
    sink.replace_tables(USAGE_USER_TABLES, WS, [D2, D3], usage_load([D2, D3], credits=2.0))
    rows = backend.read(USAGE_USER_DAILY)
    assert [(r["day"], r["user_id"], r["credits"]) for r in rows] == [
        (D1, "u1", 1.0),
        (D1, "u2", 1.0),
        (D2, "u1", 2.0),
        (D2, "u2", 2.0),
        (D3, "u1", 2.0),
        (D3, "u2", 2.0),
    ]


def test_a_day_without_records_ends_up_empty_and_other_workspaces_stay(backend):
    sink = backend.sink()
    sink.replace(ALL_TYPES, WS, [D1, D2], [thing(D1, 1), thing(D2, 2)])
    other = [dict(thing(D1, 3), workspace_id="ws-2")]
    sink.replace(ALL_TYPES, "ws-2", [D1], other)
    result = sink.replace(ALL_TYPES, WS, [D1], [])
    assert result.deleted == {D1: 1} and result.inserted == {D1: 0}
    assert [(r["workspace_id"], r["day"]) for r in backend.read(ALL_TYPES, ("workspace_id", "day"))] == [
        (WS, D2),
        ("ws-2", D1),
    ]


def test_new_fields_add_columns(backend):
    sink = backend.sink()
    sink.replace_tables(USAGE_USER_TABLES, WS, [D1], usage_load([D1]))
    tagged = usage_load([D2], brandNewCounter=7, brandNewLabel="beta", laterNull=None)
    sink.replace_tables(USAGE_USER_TABLES, WS, [D2], tagged)
    extra = {"brand_new_counter": ColumnType.INTEGER, "brand_new_label": ColumnType.TEXT}
    rows = backend.read(USAGE_USER_DAILY, types=extra)
    assert [(r["day"], r["brand_new_counter"], r["brand_new_label"]) for r in rows] == [
        (D1, None, None),
        (D1, None, None),
        (D2, stored(backend, 7), "beta"),
        (D2, stored(backend, 7), "beta"),
    ]
    assert "later_null" not in rows[0]  # no column until a value shows up
    # a float arriving in a new column on a fresh table
    sink.replace(ALL_TYPES, WS, [D1], [thing(D1, 1, ratio=0.25), thing(D1, 2, ratio=1)])
    assert [r["ratio"] for r in backend.read(ALL_TYPES, types={"ratio": ColumnType.FLOAT})] == [0.25, 1.0]


def test_a_field_that_shows_up_mid_load_gets_a_column_null_for_the_rows_before(backend):
    # Rows are staged as tuples in the spec's column order, a few per spooled batch here: rows staged
    # before the new field's first value lack its column, a row carrying it keeps it beside the tuple;
    # a record lacking a column takes the general path (the others are read in one C call).
    records = [
        thing(D1, 0),
        thing(D1, 1, laterNull=None),  # an extra field, but no value: no column (yet)
        {k: v for k, v in thing(D1, 2).items() if k != "note"},  # a column missing: null
        thing(D1, 3, arrives=5, laterNull=None),
        thing(D1, 4),
        thing(D1, 5, arrives=6),
        thing(D1, 6, label="x"),
    ]
    backend.sink(buffer_rows=2).replace(ALL_TYPES, WS, [D1], records)
    rows = backend.read(ALL_TYPES, types={"arrives": ColumnType.INTEGER, "label": ColumnType.TEXT})
    assert [(r["id"], r["arrives"], r["label"]) for r in rows] == [
        ("id-0", None, None),
        ("id-1", None, None),
        ("id-2", None, None),
        ("id-3", stored(backend, 5), None),
        ("id-4", None, None),
        ("id-5", stored(backend, 6), None),
        ("id-6", None, "x"),
    ]
    assert "later_null" not in rows[0] and "laterNull" not in rows[0]
    expected = [{k: normalize(v, ALL_TYPES.types[k]) for k, v in thing(D1, i).items()} for i in range(7)]
    assert [{k: r[k] for k in ALL_TYPES.column_names} for r in rows] == expected


def test_a_field_whose_values_change_type_mid_load_ends_up_text_holding_them_all(backend):
    # Spooling dialects learn the merged type before the write; streaming ones (PostgreSQL) add
    # the column with the first type seen and widen it in the same transaction: int, float, text.
    records = [thing(D1, 0, score=1), thing(D1, 1, score=2), thing(D1, 2, score=2.5), thing(D1, 3, score="x")]
    backend.sink(buffer_rows=1).replace(ALL_TYPES, WS, [D1], records)
    rows = backend.read(ALL_TYPES, types={"score": ColumnType.TEXT})
    assert [r["score"] for r in rows] == ["1", "2", "2.5", "x"]


def test_values_shared_by_consecutive_rows_and_values_that_differ_both_arrive(backend):
    # The sink adapts a value once for a run of rows holding that very object (the load's day and
    # loaded_at); equal values in distinct objects, and alternating ones, go through too.
    shared = datetime(2025, 11, 1, 8, 0, 0, 1, tzinfo=UTC)
    other = datetime(2025, 11, 1, 9, 30, tzinfo=timezone(timedelta(hours=2)))  # 07:30 UTC
    stamps = [shared, shared, other, shared, datetime(2025, 11, 1, 8, 0, 0, 1, tzinfo=UTC), None, other]
    records = [{**thing(D1, i), "at": at, "note": "nul\x00inside" if i == 3 else "same"} for i, at in enumerate(stamps)]
    backend.sink(batch_size=3).replace(ALL_TYPES, WS, [D1], records)
    rows = backend.read(ALL_TYPES)
    assert [r["at"] for r in rows] == [normalize(at, ColumnType.TIMESTAMP) for at in stamps]
    nul = "nul\ufffdinside" if backend.name.startswith("postgres") else "nul\x00inside"
    assert [r["note"] for r in rows] == ["same", "same", "same", nul, "same", "same", "same"]


class NoSqlHook:
    """A hook that fails the test if the sink tries to talk to the database."""

    placeholder = "?"
    dialect_name = "sqlite"

    def get_conn(self):
        raise AssertionError("SQL ran before the bad name was refused")


def test_bad_identifiers_are_refused_before_any_sql(backend):
    for kwargs in ({"table_prefix": "x; drop"}, {"schema": "public.evil"}, {"schema": 'a"b'}):
        with pytest.raises(ValueError, match="invalid"):
            SqlSink(NoSqlHook(), **kwargs)
    sink = SqlSink(NoSqlHook())
    with pytest.raises(ValueError, match="invalid column name"):
        sink.replace(ALL_TYPES, WS, [D1], [thing(D1, 1, **{"bad column": 1})])
    with pytest.raises(ValueError, match="invalid table name"):
        SqlSink(NoSqlHook(), table_prefix="x" * 40).replace(USAGE_USER_CLIENT_DAILY, WS, [D1], [])
    # and on a real database nothing was created
    with pytest.raises(ValueError, match="invalid column name"):
        backend.sink().replace(ALL_TYPES, WS, [D1], [thing(D1, 1, **{"x`; drop": 1})])
    assert backend.tables() == set()


def test_records_outside_the_replace_are_refused(backend):
    sink = backend.sink()
    with pytest.raises(ValueError, match="outside the days"):
        sink.replace(ALL_TYPES, WS, [D1], [thing(D2, 1)])
    with pytest.raises(ValueError, match="another workspace"):
        sink.replace(ALL_TYPES, WS, [D1], [dict(thing(D1, 1), workspace_id="ws-2")])
    with pytest.raises(ValueError, match="does not replace"):
        sink.replace_tables([ALL_TYPES], WS, [D1], [("other_table", thing(D1, 1))])
    with pytest.raises(TypeError, match="date"):
        sink.replace(ALL_TYPES, WS, [midnight(D1)], [])
    assert backend.tables() == set()


def test_failure_in_the_record_stream_keeps_the_previous_data(backend):
    sink = backend.sink(batch_size=2)
    sink.replace(ALL_TYPES, WS, [D1, D2], [thing(D1, i) for i in range(5)] + [thing(D2, 9)])
    before = backend.read(ALL_TYPES)

    def broken():
        yield thing(D1, 100)
        yield thing(D1, 101)
        raise RuntimeError("API died mid-window")

    with pytest.raises(RuntimeError, match="mid-window"):
        sink.replace(ALL_TYPES, WS, [D1, D2], broken())
    assert backend.read(ALL_TYPES) == before


def test_failure_inside_the_transaction_rolls_back(backend):
    sink = backend.sink(batch_size=2)
    sink.replace(ALL_TYPES, WS, [D1, D2], [thing(D1, 1), thing(D2, 2)])
    before = backend.read(ALL_TYPES)
    # D1 is deleted and rewritten, then D2's duplicate key fails the insert
    records = [thing(D1, 5), thing(D1, 6), thing(D2, 7), thing(D2, 8), thing(D2, 7)]
    with pytest.raises(Exception) as failure:
        sink.replace(ALL_TYPES, WS, [D1, D2], records)
    assert not isinstance(failure.value, AssertionError)
    assert backend.read(ALL_TYPES) == before


def test_compliance_events_are_deduplicated(backend):
    def event(i: int, ts: str = "2025-11-01T10:00:00Z") -> dict:
        return {
            "event_id": f"evt_{i}",
            "type": "CODEX_LOG",
            "timestamp": ts,
            "event_type": "PROMPT_SENT",
            "prompt_text": "secret\tcode\n",
            "event_details": {"token_usage": {"input_tokens": i}},
        }

    ctx = FlattenContext(WS, LOADED, content_policy=ContentPolicy(prompt_text="keep", salt="s"))
    records = [event(1), event(2), event(1), event(3, "2025-11-02T00:00:00Z"), event(2)]
    sink = backend.sink()
    result = sink.replace_tables([COMPLIANCE_EVENTS], WS, [D1, D2], flatten_compliance_events(records, ctx))
    assert result[COMPLIANCE_EVENTS.name].duplicates_skipped == 2
    assert result[COMPLIANCE_EVENTS.name].inserted == {D1: 2, D2: 1}
    rows = backend.read(COMPLIANCE_EVENTS)
    assert [(r["event_id"], r["day"], r["input_tokens"]) for r in rows] == [
        ("evt_1", D1, 1),
        ("evt_2", D1, 2),
        ("evt_3", D2, 3),
    ]
    assert rows[0]["prompt_text"] == "secret\tcode\n"
    assert rows[0]["record_json"]["event_id"] == "evt_1"
    assert rows[0]["timestamp"] == datetime(2025, 11, 1, 10, tzinfo=UTC)
    # a rerun of one day with more events replaces it
    more = [event(1), event(4), event(5)]
    sink.replace_tables([COMPLIANCE_EVENTS], WS, [D1], flatten_compliance_events(more, ctx))
    assert [r["event_id"] for r in backend.read(COMPLIANCE_EVENTS)] == ["evt_1", "evt_3", "evt_4", "evt_5"]


def test_ensure_table_is_idempotent_and_upgrades(backend):
    sink = backend.sink()
    small = TableSpec("grow", ALL_TYPES.columns[:3], ("workspace_id", "day", "id"))
    sink.ensure_table(small)
    sink.ensure_table(small)
    sink.ensure_table(TableSpec("grow", ALL_TYPES.columns, ("workspace_id", "day", "id")))
    names, _ = backend.query(f"SELECT * FROM {backend.quote(backend.prefix + 'grow')}")
    assert names == list(ALL_TYPES.column_names)


def test_sqlite_clusters_the_tables_keyed_by_their_partition(tmp_path, monkeypatch):
    db = make_backend("sqlite", tmp_path, monkeypatch)
    sink = db.sink()
    sink.replace_tables(USAGE_USER_TABLES, WS, [D1], usage_load([D1]))
    sink.replace_tables([COMPLIANCE_EVENTS], WS, [D1], [])
    _, rows = db.query("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
    ddl = {name.removeprefix(db.prefix): sql for name, sql in rows}
    for spec in USAGE_USER_TABLES:  # key (workspace_id, day, ...): one B-tree, a day's rows together
        assert ddl[spec.name].endswith("WITHOUT ROWID"), ddl[spec.name]
    assert "WITHOUT ROWID" not in ddl[COMPLIANCE_EVENTS.name]  # keyed by event id, rows of kilobytes
    sink.replace_tables(USAGE_USER_TABLES, WS, [D1], usage_load([D1], credits=2.0))  # replaces in place
    assert {r["credits"] for r in db.read(USAGE_USER_DAILY)} == {2.0}


def test_concurrent_overlapping_replaces_leave_one_copy(locking_backend):
    db = locking_backend
    db.sink().ensure_table(ALL_TYPES)
    errors: list[BaseException] = []

    def load(days: list[date], tag: int) -> None:
        try:
            records = [thing(d, i, note=f"run {tag}") for d in days for i in range(300)]
            db.sink(batch_size=50).replace(ALL_TYPES, WS, days, records)
        except BaseException as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=load, args=([D1, D2] if t % 2 else [D2, D3], t)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = db.read(ALL_TYPES)
    assert len(rows) == 900
    for day in (D1, D2, D3):  # each day is whole from one run
        assert len({r["note"] for r in rows if r["day"] == day}) == 1


@pytest.mark.parametrize("name", ["postgres", "postgres_psycopg2"])
def test_postgres_streams_holding_only_its_days_while_the_api_is_paged(name, tmp_path, monkeypatch):
    db = make_backend(name, tmp_path, monkeypatch)
    try:
        sink = db.sink(buffer_rows=2)
        sink.replace(ALL_TYPES, WS, [D1, D2], [thing(D1, 1), thing(D2, 1)])
        streaming, release = threading.Event(), threading.Event()

        def paged_slowly():
            yield from (thing(D1, 10), thing(D1, 11), thing(D1, 12))  # past buffer_rows: rows are being written
            streaming.set()
            release.wait(30)
            yield thing(D1, 13)

        errors: list[BaseException] = []
        slow = threading.Thread(target=lambda: _catch(errors, sink.replace, ALL_TYPES, WS, [D1], paged_slowly()))
        slow.start()
        try:
            assert streaming.wait(30)
            assert {r["id"] for r in db.read(ALL_TYPES) if r["day"] == D1} == {"id-1"}  # readers: the old rows
            db.sink().replace(ALL_TYPES, WS, [D2], [thing(D2, 20)])  # another day of the table: no wait
            with pytest.raises(Exception, match="lock timeout"):  # the same day waits, here 0.3 s
                db.sink(lock_timeout=0.3).replace(ALL_TYPES, WS, [D1], [thing(D1, 30)])
        finally:
            release.set()
            slow.join()
        assert errors == []
        ids = {(r["day"], r["id"]) for r in db.read(ALL_TYPES)}
        assert ids == {(D1, "id-10"), (D1, "id-11"), (D1, "id-12"), (D1, "id-13"), (D2, "id-20")}
    finally:
        db.drop_all()


def _catch(errors: list[BaseException], fn, *args) -> None:
    try:
        fn(*args)
    except BaseException as e:  # surfaced by the test
        errors.append(e)


def test_from_conn_id_and_dialect_detection(monkeypatch):
    sink = SqlSink.from_conn_id("codex_test_pg", table_prefix="x_")
    assert sink.dialect.name == "postgresql"
    assert SqlSink.from_conn_id("codex_test_mysql").dialect.name == "mysql"
    monkeypatch.setenv("AIRFLOW_CONN_CODEX_TEST_HTTP", "http://example.com")
    with pytest.raises(TypeError, match="not a SQL"):
        SqlSink.from_conn_id("codex_test_http")
    assert dialect_named("mariadb").name == "mysql"
    assert dialect_named("snowflake").name == "generic"


def test_column_type_overrides():
    sink = SqlSink(NoSqlHook(), dialect="generic", column_types={ColumnType.TEXT: "NVARCHAR(MAX)"})
    [create] = sink.dialect.create_table(None, "t", [("a", ColumnType.TEXT), ("b", ColumnType.TEXT)], ("a",), None)[:1]
    assert '"b" NVARCHAR(MAX)' in create and '"a" VARCHAR(255) NOT NULL' in create


@pytest.mark.parametrize(("name", "driver"), [("postgres", "psycopg"), ("postgres_psycopg2", "psycopg2")])
def test_postgres_loads_through_copy(name, driver, tmp_path, monkeypatch):
    db = make_backend(name, tmp_path, monkeypatch)
    conn = db.hook.get_conn()
    try:
        assert copy_driver(conn.cursor()) == driver
    finally:
        conn.close()
    with closing(sqlite3.connect(":memory:")) as lite:
        assert copy_driver(lite.cursor()) is None


@pytest.mark.parametrize("name", ["postgres", "mysql"])
def test_tables_in_an_explicit_schema(name, tmp_path, monkeypatch):
    db = make_backend(name, tmp_path, monkeypatch)
    schema = db.prefix.rstrip("_")
    db.query_no_result(f"CREATE {'SCHEMA' if name == 'postgres' else 'DATABASE'} {schema}")
    try:
        sink = SqlSink(db.hook, schema=schema)
        sink.replace(ALL_TYPES, WS, [D1], [thing(D1, 1), thing(D1, 2)])
        sink.replace(ALL_TYPES, WS, [D1], [thing(D1, 1, extra_field="x")])
        _, rows = db.query(f"SELECT id, extra_field FROM {db.quote(schema)}.{db.quote('all_types')}")
        assert rows == [("id-1", "x")]
        assert "all_types" not in {t.removeprefix(db.prefix) for t in db.tables()}
    finally:
        db.query_no_result(f"DROP SCHEMA {schema} CASCADE" if name == "postgres" else f"DROP DATABASE {schema}")
