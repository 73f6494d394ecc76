"""The provider's fast paths, apart from the logic they speed up, behind one switch.

Each module here does what a plain reference implementation beside the logic
does, only faster; the reference is what to read to know what happens:

=============================  ==========================================  ===========================================
fast path                      reference (where the logic lives)           how it is faster
=============================  ==========================================  ===========================================
:mod:`.fill`                   ``Shape.fill_reference`` (tables/_rows.py)  straight-line code compiled per shape
:mod:`.checks`                 ``schema.first_misfit``                     a batch's column in a few C-speed passes
:mod:`.rows`                   ``_staging.row_reference``                  a record's row in one ``itemgetter`` call
:mod:`.adapters`               ``sql_dialects.adapt_rows``                 column by column, one call per run of the
                                                                           very same object (``day``, ``loaded_at``);
                                                                           for binary COPY only a batch holding a NUL
``tables.columnar``            the row flatteners (``Shape.fill``)         a chunk of rows read column by column into
                                                                           ``ColumnBatch`` objects, staged a column at a
                                                                           time (for a sink that ``takes_columns``)
``compliance.redact_dumped``   ``compliance.redact_walking``               content fields found in the JSON text (one
                                                                           regex pass), which is ``record_json`` too
``PostgresDialect``            text ``COPY`` with adapters                 binary ``COPY`` (psycopg 3), into columns
``.write_binary``                                                          typed as the dialect creates them
=============================  ==========================================  ===========================================

The columnar flatteners and the compliance redaction live beside the code
they mirror (the tables room), since they read its shapes; the binary COPY in
the dialect. Each is chosen through :data:`ENABLED` all the same.

:data:`ENABLED` picks one side for the whole process: read once, from the
environment variable ``CODEX_FAST_PATHS`` (``0`` runs every reference path;
anything else, or unset, the fast ones). The places that choose read it when
they build what runs per record (a ``Shape``, a stager, a bulk write), never
per record. ``tests/test_fast_paths.py`` runs both sides through it and
compares what they give. Figures: ``bench/RESULTS.md``.

One package for both layers, not a ``_fast`` module in each: one switch, one
list of what runs fast, and one direction of imports. Nothing here imports the
tables or the sinks (only :mod:`..tables.schema`, a leaf); they import this,
so there is no cycle, and the reference code never depends on the fast code's
internals, only on the function it selects.
"""

from __future__ import annotations

import os

#: Whether the fast paths run (``CODEX_FAST_PATHS=0``: the reference paths do).
ENABLED: bool = os.environ.get("CODEX_FAST_PATHS", "1").strip() != "0"
