"""Which errors a retry cannot fix, written once for operators, sensors and triggers.

A Codex error carries its own ``retryable`` flag (429, 5xx, transport and
integrity errors are retryable; a rejected key, a missing scope, a wrong
workspace, a rejected request, a bad connection, a body or value the contract
does not allow, a window past retention are not). Outside the API, a window
that is not whole UTC days and a missing connection do not fix themselves
either. Permanent errors fail a task at once instead of burning its retries.
"""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowNotFoundException

from airflow_provider_codex.api.errors import CodexError
from airflow_provider_codex.windows import WindowError

#: Errors from outside the API that no retry or wait fixes.
_PERMANENT_OTHER: tuple[type[Exception], ...] = (WindowError, AirflowNotFoundException)


def is_permanent(error: BaseException) -> bool:
    """Whether ``error`` should fail the task at once rather than be retried or waited out."""
    if isinstance(error, CodexError):
        return not error.retryable
    return isinstance(error, _PERMANENT_OTHER)


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` only means "ask again later" (429, 5xx, network, after the client's retries)."""
    return isinstance(error, CodexError) and error.retryable
