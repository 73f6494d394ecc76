"""Value types on real SQLite, PostgreSQL (psycopg 3 and psycopg2) and MariaDB: all behave alike.

- a value that does not fit its column (``threads: "abc"``, ``2.5`` or ``2**70``
  in an INTEGER, an object where a number belongs) is one contract error,
  raised before anything is replaced, wherever it goes;
- an extra column (a field the API added) widens across loads, integer, float,
  then text, instead of failing the load or truncating the value;
- ids that differ only by trailing spaces are two ids.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import pytest
from sql_backends import ALL_TYPES, make_backend, normalize

from airflow_provider_codex.api.errors import CodexContractError
from airflow_provider_codex.tables import (
    COMPLIANCE_EVENTS,
    USAGE_USER_DAILY,
    USAGE_USER_TABLES,
    ColumnType,
    ContentPolicy,
    FlattenContext,
    flatten_compliance_events,
    flatten_usage_users,
)
from airflow_provider_codex.tables.schema import ColumnValueError

WS = "ws-1"
D1, D2, D3, D4 = (date(2025, 11, 1) + timedelta(days=i) for i in range(4))
LOADED = datetime(2025, 11, 5, 6, 30, tzinfo=UTC)


def row(day: date, i: int, **values) -> dict:
    base = {
        "workspace_id": WS,
        "day": day,
        "id": f"id-{i}",
        "n": i,
        "x": i / 2,
        "flag": True,
        "at": datetime(2025, 11, 1, 12, tzinfo=UTC),
        "doc": "{}",
        "note": "ok",
    }
    return {**base, **values}


#: (column, value) pairs that do not fit, and how the error message shows the value.
MISFITS = [
    ("n", "abc", "'abc'"),
    ("n", 2.5, "2.5"),
    ("n", 0.5, "0.5"),
    ("n", float(2**70), "1.1805916207174113e+21"),  # what orjson makes of 2**70
    ("n", 2**63, "9223372036854775808"),
    ("n", -(2**63) - 1, "-9223372036854775809"),
    ("n", True, "True"),
    ("n", {"a": 1}, "a JSON object (1 keys)"),
    ("x", "1.5", "'1.5'"),
    ("x", math.inf, "inf"),
    ("x", math.nan, "nan"),
    ("x", False, "False"),
    ("x", 2**64, "18446744073709551616"),
    ("x", [1, 2], "a JSON array (2 items)"),
    ("flag", 1, "1"),
    ("flag", "true", "'true'"),
    ("at", "2025-11-01T12:00:00Z", "'2025-11-01T12:00:00Z'"),
    ("at", 1761998400, "1761998400"),
    ("doc", {"k": 1}, "a JSON object (1 keys)"),
    ("note", 5, "5"),
    ("note", {"secret": "x" * 100}, "a JSON object (1 keys)"),
    ("id", 7, "7"),
]


def test_a_value_that_does_not_fit_its_column_is_one_contract_error_everywhere(backend):
    """On 13677ea SQLite and MariaDB stored (or rounded) these, PostgreSQL failed with its own error."""
    sink = backend.sink(batch_size=2, buffer_rows=3)
    before_records = [row(D1, i) for i in range(5)] + [row(D2, 9)]
    sink.replace(ALL_TYPES, WS, [D1, D2], before_records)
    before = backend.read(ALL_TYPES)
    for column, value, shown in MISFITS:
        # the bad value comes after some batches were flushed (PostgreSQL streams them)
        records = [row(D1, i, n=100 + i) for i in range(7)] + [row(D2, 20, **{column: value})]
        with pytest.raises(ColumnValueError) as refused:
            sink.replace(ALL_TYPES, WS, [D1, D2], records)
        message = str(refused.value)
        key = "id=7" if column == "id" else "id='id-20'"
        assert f"all_types.{column}: {shown} does not fit the column's type" in message, message
        assert f"workspace_id='ws-1', day=datetime.date(2025, 11, 2), {key}" in message, message
        assert "x" * 41 not in message
        assert isinstance(refused.value, CodexContractError)
        assert backend.read(ALL_TYPES) == before, f"{column}={value!r} replaced something"


def test_values_that_fit_are_stored_as_they_are(backend):
    """The edges of each type: 64-bit integers, ints in a float column, the earliest and latest instants."""
    records = [
        row(D1, 0, n=2**63 - 1, x=2**63 - 1, at=datetime(1000, 1, 1, tzinfo=UTC)),
        row(D1, 1, n=-(2**63), x=-1e308, at=datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
        row(D1, 2, n=0, x=0, flag=False, doc="[]", note=""),
        row(D1, 3, n=None, x=None, flag=None, at=None, doc=None, note=None),
    ]
    backend.sink().replace(ALL_TYPES, WS, [D1], records)
    expected = [{k: normalize(v, ALL_TYPES.types[k]) for k, v in r.items()} for r in records]
    assert backend.read(ALL_TYPES) == expected


def test_wrong_types_in_known_api_fields_are_refused_before_anything_is_replaced(backend):
    """``threads: "abc"``, an object where a number belongs, a timestamp of 1e20: contract errors, not tracebacks."""
    sink = backend.sink()

    def usage(day: date, **totals) -> dict:
        start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
        return {"start_time": start, "user_id": "u1", "totals": {"threads": 3, "credits": 1.5, **totals}}

    ctx = FlattenContext(WS, LOADED)
    sink.replace_tables(USAGE_USER_TABLES, WS, [D1], flatten_usage_users([usage(D1)], ctx))
    before = backend.read(USAGE_USER_DAILY)
    cases = [
        ({"threads": "abc"}, "codex_usage_user_daily.threads: 'abc'"),
        ({"threads": 2.5}, "codex_usage_user_daily.threads: 2.5"),
        ({"turns": {"n": 1}}, r"codex_usage_user_daily.turns: a JSON object \(1 keys\)"),
        ({"credits": "lots"}, "codex_usage_user_daily.credits: 'lots'"),
    ]
    for totals, message in cases:
        with pytest.raises(ColumnValueError, match=message):
            sink.replace_tables(USAGE_USER_TABLES, WS, [D1], flatten_usage_users([usage(D1, **totals)], ctx))
        assert backend.read(USAGE_USER_DAILY) == before
    bad_start = {**usage(D1), "start_time": 1e20}
    with pytest.raises(ColumnValueError, match=r"start_time: 1e\+20, expected a Unix time"):
        sink.replace_tables(USAGE_USER_TABLES, WS, [D1], flatten_usage_users([bad_start], ctx))
    assert backend.read(USAGE_USER_DAILY) == before


def test_a_compliance_error_names_the_event_and_never_quotes_content(backend):
    secret = "SECRET prompt: the database password is hunter2"
    ctx = FlattenContext(WS, LOADED, content_policy=ContentPolicy(prompt_text="keep", salt="s"))

    def event(i: int, **fields) -> dict:
        return {"event_id": f"evt_{i}", "timestamp": "2025-11-01T10:00:00Z", "prompt_text": secret, **fields}

    sink = backend.sink()
    sink.replace_tables([COMPLIANCE_EVENTS], WS, [D1], flatten_compliance_events([event(1)], ctx))
    before = backend.read(COMPLIANCE_EVENTS)
    cases = [
        ({"event_details": {"token_usage": {"input_tokens": {"text": secret}}}}, "input_tokens: a JSON object"),
        ({"event_details": {"model": [secret]}}, "model: a JSON array"),
        ({"timestamp": 1e20}, r"event_id='evt_2': timestamp: 1e\+20, expected a Unix time"),
        ({"timestamp": "2025-13-45T99:00:00Z"}, "event_id='evt_2': timestamp: '2025-13-45T99:00:00Z'"),
        ({"timestamp": {"at": secret}}, "timestamp: a JSON object"),
    ]
    for fields, message in cases:
        records = [event(1), event(2, **fields)]
        with pytest.raises(ColumnValueError, match=message) as refused:
            sink.replace_tables([COMPLIANCE_EVENTS], WS, [D1], flatten_compliance_events(records, ctx))
        assert "hunter2" not in str(refused.value)
        assert backend.read(COMPLIANCE_EVENTS) == before


#: The declared types of extra columns, as each catalog spells them (read here without the sink's code).
DECLARED = {
    "integer": ColumnType.INTEGER,
    "bigint": ColumnType.INTEGER,
    "real": ColumnType.FLOAT,
    "double": ColumnType.FLOAT,
    "double precision": ColumnType.FLOAT,
    "text": ColumnType.TEXT,
    "longtext": ColumnType.TEXT,
    "boolean": ColumnType.BOOLEAN,
    "tinyint": ColumnType.BOOLEAN,
}


def declared_type(backend, table: str, column: str) -> ColumnType:
    """The column's type as the database declares it (SQLite's declared type even under the generic dialect)."""
    name = backend.prefix + table
    if backend.name.startswith("sqlite"):
        sql = f"SELECT type FROM pragma_table_info('{name}') WHERE name = '{column}'"
    else:
        schema = "DATABASE()" if backend.name == "mysql" else "current_schema()"
        sql = (
            "SELECT data_type FROM information_schema.columns "
            f"WHERE table_schema = {schema} AND table_name = '{name}' AND column_name = '{column}'"
        )
    [(declared,)] = backend.query(sql)[1]
    return DECLARED[declared.lower()]


def test_an_extra_column_widens_across_loads_and_never_truncates(backend):
    """Integer, then float, then text, one load each; on 13677ea PostgreSQL failed, MariaDB stored 0.5 as 0 or 1."""
    sink = backend.sink()
    generic = backend.dialect == "generic"

    def load(day: date, **extra) -> None:
        sink.replace(ALL_TYPES, WS, [day], [row(day, 0, **extra)])

    def score() -> list:
        return [r["score"] for r in backend.read(ALL_TYPES, order_by=("day",), types={"score": ColumnType.TEXT})]

    load(D1, score=1, beta=True, ratio=0.1 + 0.2)
    assert declared_type(backend, "all_types", "score") is (ColumnType.TEXT if generic else ColumnType.INTEGER)
    load(D2, score=0.5, beta=True, ratio=0.5)
    if generic:  # every extra column is text there: nothing to widen
        assert score() == ["1", "0.5"]
    else:
        assert declared_type(backend, "all_types", "score") is ColumnType.FLOAT
        assert score() == [1.0, 0.5]
    load(D3, score="x", beta="maybe", ratio="n/a")
    for column in ("score", "beta", "ratio"):
        assert declared_type(backend, "all_types", column) is ColumnType.TEXT
    rows = backend.read(ALL_TYPES, order_by=("day",), types=dict.fromkeys(("score", "beta", "ratio"), ColumnType.TEXT))
    assert [float(r["score"]) for r in rows[:2]] == [1.0, 0.5] and rows[2]["score"] == "x"
    assert [r["beta"] for r in rows] == ["true", "true", "maybe"]
    assert float(rows[0]["ratio"]) == 0.1 + 0.2  # all 17 digits survived the conversion
    assert [r["ratio"] for r in rows[1:]] == ["0.5", "n/a"]
    load(D4, score=2, beta=False, ratio=0.25)  # narrower values into a text column: their JSON text
    rows = backend.read(ALL_TYPES, order_by=("day",), types=dict.fromkeys(("score", "beta", "ratio"), ColumnType.TEXT))
    assert (rows[3]["score"], rows[3]["beta"], rows[3]["ratio"]) == ("2", "false", "0.25")
    if backend.name.startswith("sqlite"):  # the values themselves are text, not only the declared type
        name = backend.prefix + "all_types"
        assert backend.query(f'SELECT DISTINCT typeof(score) FROM "{name}"')[1] == [("text",)]


def test_a_column_widens_mid_load_from_what_the_table_already_has(backend):
    """The table's type is where a load's type starts: an INTEGER column and a load of floats then text."""
    sink = backend.sink(buffer_rows=1, batch_size=1)
    sink.replace(ALL_TYPES, WS, [D1], [row(D1, 0, score=7)])
    records = [row(D2, 1, score=2), row(D2, 2, score=0.25), row(D2, 3), row(D2, 4, score="x")]
    sink.replace(ALL_TYPES, WS, [D2], records)
    rows = backend.read(ALL_TYPES, order_by=("day", "id"), types={"score": ColumnType.TEXT})
    assert [r["score"] if r["score"] in (None, "x") else float(r["score"]) for r in rows] == [7, 2, 0.25, None, "x"]
    assert declared_type(backend, "all_types", "score") is ColumnType.TEXT


def test_extra_values_no_number_column_holds_are_text_and_a_float_that_is_not_finite_is_refused(backend):
    sink = backend.sink()
    sink.replace(ALL_TYPES, WS, [D1], [row(D1, 0, big=2**64, obj={"a": [1, "b"]}), row(D1, 1, big=5)])
    types = {"big": ColumnType.TEXT, "obj": ColumnType.JSON}
    rows = backend.read(ALL_TYPES, types=types)
    assert [(r["big"], r["obj"]) for r in rows] == [("18446744073709551616", {"a": [1, "b"]}), ("5", None)]
    for value in (math.nan, math.inf):
        with pytest.raises(ColumnValueError, match=f"all_types.ratio: {value} does not fit the column's type float"):
            sink.replace(ALL_TYPES, WS, [D1], [row(D1, 0, ratio=value)])
    assert backend.read(ALL_TYPES, types=types) == rows


def test_ids_differing_only_by_trailing_spaces_are_two_ids(backend):
    """MariaDB's utf8mb4_bin pads: on 13677ea "x" and "x " were a duplicate key there."""
    records = [row(D1, 0, id="x", n=1), row(D1, 0, id="x ", n=2), row(D1, 0, id="x  ", n=3)]
    backend.sink().replace(ALL_TYPES, WS, [D1], records)
    assert sorted((r["id"], r["n"]) for r in backend.read(ALL_TYPES)) == [("x", 1), ("x ", 2), ("x  ", 3)]


@pytest.mark.parametrize("name", ["mysql"])
def test_a_mariadb_table_created_with_the_padding_collation_is_converted_once(name, tmp_path, monkeypatch):
    """A table an earlier version made keeps working, now telling "x" from "x " too."""
    db = make_backend(name, tmp_path, monkeypatch)
    try:
        sink = db.sink()
        sink.ensure_table(ALL_TYPES)
        table = db.prefix + "all_types"
        db.query_no_result(f"ALTER TABLE `{table}` CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        sink.replace(ALL_TYPES, WS, [D1], [row(D1, 0, id="x"), row(D1, 1, id="x ")])
        assert sorted(r["id"] for r in db.read(ALL_TYPES)) == ["x", "x "]
        sql = f"SELECT table_collation FROM information_schema.tables WHERE table_name = '{table}'"
        assert db.query(sql)[1] == [("utf8mb4_nopad_bin",)]
    finally:
        db.drop_all()
