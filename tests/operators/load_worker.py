"""A process that runs operator loads in children it forks, for the SIGKILL tests.

Importing Airflow takes seconds, so this worker imports it once, then for each
command (a JSON line on stdin) forks a fresh child that runs the operator's
load logic (``CodexToSqlOperator.load``: hook, window, sink, as ``execute``
does) and exits. The worker prints ``{"pid": ...}`` when a child starts and
``{"pid": ..., "exit": ..., "signal": ...}`` when it ends, so a test can SIGKILL
the child mid-load and see that the kill, not an exception, ended it.

Command: ``{"env": {...}, "dataset", "sql_conn_id", "first", "last", "page_size", "log", "result"}``.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from datetime import date
from typing import Any

from airflow_provider_codex.datasets import get_dataset
from airflow_provider_codex.hooks.codex import CodexHook
from airflow_provider_codex.transfers.codex_to_sql import CodexToSqlOperator
from airflow_provider_codex.windows import Window


def load(command: dict[str, Any]) -> dict[str, Any]:
    os.environ.update(command["env"])
    operator = CodexToSqlOperator(
        task_id="killed_load",
        dataset=command["dataset"],
        sql_conn_id=command["sql_conn_id"],
        page_size=command.get("page_size"),
    )
    hook = CodexHook()
    try:
        window = Window.of_days(date.fromisoformat(command["first"]), date.fromisoformat(command["last"]))
        return operator.load(hook, get_dataset(command["dataset"]), window).as_dict()
    finally:
        hook.close()


def child(command: dict[str, Any]) -> None:
    with open(command["log"], "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    try:
        summary = load(command)
        with open(command["result"], "w") as fh:
            json.dump(summary, fh)
        code = 0
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main() -> None:
    print(json.dumps({"ready": os.getpid()}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        pid = os.fork()
        if pid == 0:
            child(command)
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        signal = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
        print(json.dumps({"pid": pid, "exit": code, "signal": signal}), flush=True)


if __name__ == "__main__":
    main()
