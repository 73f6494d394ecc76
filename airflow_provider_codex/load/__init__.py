"""Extract and load: api → tables → sinks, free of Airflow.

- :func:`load_dataset`: one dataset's window into a :class:`~.sinks.TableSink`
  (:mod:`.loader`, with one extractor per source in :mod:`.extract`);
- :func:`archive_log_files`: a window's compliance log files, verbatim
  (:mod:`.archive`);
- :class:`LoadSummary` and :class:`Checkpoint`: what a load did, where a paused one resumes.
"""

from __future__ import annotations

from airflow_provider_codex.load.archive import archive_log_files
from airflow_provider_codex.load.extract import EXTRACTORS, ExtractOptions, Extractor
from airflow_provider_codex.load.loader import drop_stage, load_dataset, may_stage, stage_id_for
from airflow_provider_codex.load.summary import Checkpoint, LoadSummary

__all__ = [
    "EXTRACTORS",
    "Checkpoint",
    "ExtractOptions",
    "Extractor",
    "LoadSummary",
    "archive_log_files",
    "drop_stage",
    "load_dataset",
    "may_stage",
    "stage_id_for",
]
