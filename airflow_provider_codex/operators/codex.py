"""Deprecated: the load operators moved to :mod:`airflow_provider_codex.transfers`.

Importing a name from here still works, with a ``DeprecationWarning`` naming
its new home. ``CodexToStorageOperator(archive=True)`` from here still builds
the verbatim archive, now :class:`~.transfers.codex_log_files_to_storage.CodexLogFilesToStorageOperator`.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from airflow_provider_codex.transfers.codex_log_files_to_storage import CodexLogFilesToStorageOperator
from airflow_provider_codex.transfers.codex_to_storage import CodexToStorageOperator as _StorageOperator

#: Each old name and the module it lives in now.
MOVED = {
    "CodexLoadOperator": "airflow_provider_codex.transfers.base",
    "table_asset": "airflow_provider_codex.transfers.base",
    "DEFER_GRACE": "airflow_provider_codex.transfers.base",
    "ContentPolicyArg": "airflow_provider_codex.transfers.base",
    "CodexToSqlOperator": "airflow_provider_codex.transfers.codex_to_sql",
    "CodexToStorageOperator": "airflow_provider_codex.transfers.codex_to_storage",
}


class _DeprecatedCodexToStorageOperator(_StorageOperator):
    """The old ``CodexToStorageOperator``: ``archive=True`` makes the log-file archive operator instead."""

    def __new__(cls, *args: Any, archive: bool = False, **kwargs: Any) -> Any:
        if archive:
            warnings.warn(
                "CodexToStorageOperator(archive=True) is deprecated: use CodexLogFilesToStorageOperator "
                "from airflow_provider_codex.transfers.codex_log_files_to_storage",
                DeprecationWarning,
                stacklevel=2,
            )
            kwargs.pop("file_format", None)
            return CodexLogFilesToStorageOperator(*args, **kwargs)
        return super().__new__(cls)

    def __init__(self, *, archive: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)


def __getattr__(name: str) -> Any:
    if name not in MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"airflow_provider_codex.operators.codex.{name} is deprecated: import it from {MOVED[name]}",
        DeprecationWarning,
        stacklevel=2,
    )
    if name == "CodexToStorageOperator":
        return _DeprecatedCodexToStorageOperator
    return getattr(importlib.import_module(MOVED[name]), name)
