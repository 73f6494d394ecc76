"""``Shape.fill`` compiled per shape: the reference's steps as straight-line code.

The reference (``Shape.fill_reference``, :mod:`airflow_provider_codex.tables._rows`)
loops over the shape's fields; rows come by the hundred thousand, so here the
loops are unrolled once per shape into a function whose every column name and
field name is a constant. Same steps, same order, same calls for what is
rare (unknown fields, a nested value that is not an object).

The source is built from the shape's own names only (validated column
identifiers and the contract's field names, each written with ``repr``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from airflow_provider_codex.tables.schema import Record

#: ``fill(record, obj) -> record``.
Fill = Callable[[Record, Mapping[str, Any]], Record]
#: A column of a shape: ``(column, field name in the object, is a key part)``.
Slot = tuple[str, str, bool]


class FillHelpers(NamedTuple):
    """What the compiled code calls, from the reference's module (so that both call the very same code)."""

    key_text: Callable[[Any], str]
    json_text: Callable[[Any], str]
    json_extra: Callable[[Record, str, Any], None]
    #: ``extras(record, obj, known, prefix)``: the shape's routing of unknown fields.
    extras: Callable[[Record, Mapping[str, Any], frozenset[str], str], None]


def compile_fill(
    table: str,
    top: Sequence[Slot],
    nested: Sequence[tuple[str, Sequence[Slot]]],
    known_top: frozenset[str],
    known_nested: Mapping[str, frozenset[str]],
    helpers: FillHelpers,
    extra_json: str,
) -> Fill:
    """The fill of a shape: ``top`` fields, then each ``nested`` object's, then unknown fields and ``extra_json``."""
    lines = ["def fill(record, obj):", "    get = obj.get"]

    def assign(indent: str, getter: str, column: str, name: str, is_key: bool) -> None:
        value = f"{getter}({name!r})"
        lines.append(f"{indent}record[{column!r}] = {f'key_text({value})' if is_key else value}")

    for column, name, is_key in top:
        assign("    ", "get", column, name, is_key)
    scope: dict[str, Any] = {**helpers._asdict(), "known_top": known_top, "EXTRA_JSON": extra_json}
    for index, (container, slots) in enumerate(nested):
        scope[f"known_{index}"] = known_nested[container]
        lines += [f"    sub = get({container!r})", "    if isinstance(sub, dict):", "        sub_get = sub.get"]
        for column, name, is_key in slots:
            assign("        ", "sub_get", column, name, is_key)
        missing = [f"        record[{c!r}] = {(helpers.key_text(None) if k else None)!r}" for c, _, k in slots]
        lines += [
            f"        if not known_{index}.issuperset(sub):",
            f"            extras(record, sub, known_{index}, {container!r})",
            "    else:",
            *missing,
            "        if sub is not None:",
            f"            json_extra(record, {container!r}, sub)",
        ]
    lines += [
        "    if not known_top.issuperset(obj):",
        "        extras(record, obj, known_top, '')",
        "    extra = record.get(EXTRA_JSON)",
        "    record[EXTRA_JSON] = json_text(extra) if isinstance(extra, dict) else extra",
        "    return record",
    ]
    exec(compile("\n".join(lines), f"<fill {table}>", "exec"), scope)  # noqa: S102 - our own names
    fill: Fill = scope["fill"]
    return fill
