"""One measured run, in its own process: ``python -m bench.worker '{"case": ..., ...}'``.

A fresh process per run keeps runs apart (no warm caches, no memory carried
over) and makes its peak RSS the run's own. The result is printed as the last
line (:mod:`bench.procstats`); the Airflow environment (home, DAGs folder,
connections) comes from the orchestrator.

``python -m bench.worker --serve`` (the quick mode) runs one request per line of
stdin, ``{"spec": {...}, "env": {...}}``, in this one process, and prints each
result line: importing Airflow and booting ``dag.test()`` (~10 s here) is then
paid once per quick run instead of once per case. Peak RSS is reset before
each run (``/proc/self/clear_refs``), so it still covers that run, from the
memory the process already held.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench import procstats

_DAGS: dict[str, Any] = {}


def _dags() -> dict[str, Any]:
    """The DAGs of the bench's DAGs folder, as ``dag.test()`` needs them."""
    from airflow.sdk import DAG

    found: dict[str, Any] = {}
    global _DAGS
    if _DAGS:
        return _DAGS
    for path in sorted(Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"bench_dags_{path.stem}", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        found.update({d.dag_id: d for d in vars(module).values() if isinstance(d, DAG)})
    _DAGS = found
    return found


def _dag_run(dag_id: str, conf: dict[str, Any]) -> dict[str, Any]:
    """``dag.test()`` once; wall time of the run, its state and its tasks' states and XComs."""
    dag = _dags()[dag_id]
    started = time.perf_counter()
    run = dag.test(run_conf=conf)
    seconds = time.perf_counter() - started
    tasks = {}
    for ti in run.get_task_instances():
        duration = (ti.end_date - ti.start_date).total_seconds() if ti.end_date and ti.start_date else None
        tasks[ti.task_id] = {"state": str(ti.state), "xcom": _xcom(ti), "seconds": duration}
    return {"seconds": seconds, "state": str(run.state), "tasks": tasks}


def _xcom(ti: Any) -> Any:
    try:
        value = ti.xcom_pull(task_ids=ti.task_id)
    except Exception:  # XCom is informative only
        return None
    if isinstance(value, dict) and "total_rows" in value:
        return {
            k: value.get(k)
            for k in ("total_rows", "pages", "files", "requests", "retries", "rate_limited", "duplicates_skipped")
        }
    return value if isinstance(value, dict) and len(json.dumps(value, default=str)) < 2000 else None


def _warm_up() -> None:
    """One empty DAG run: ``dag.test()`` boots its in-process Execution API on a process's first task."""
    run = _dags()["bench_warmup"].test()
    if str(run.state) != "success":
        raise RuntimeError(f"the warm-up DAG run ended {run.state}")


def provider(dag_id: str, conf: dict[str, Any]) -> dict[str, Any]:
    _warm_up()
    result = _dag_run(dag_id, conf)
    xcom = result["tasks"].get("load", {}).get("xcom") or {}
    result["loaded_rows"] = xcom.get("total_rows")
    result["ok"] = result["state"] == "success"
    return result


def httpop(conf: dict[str, Any]) -> dict[str, Any]:
    _warm_up()
    result = _dag_run("bench_httpop", conf)
    counts = result["tasks"].get("load", {}).get("xcom") or {}
    result["loaded_rows"] = sum(counts.values()) if isinstance(counts, dict) else None
    result["ok"] = result["state"] == "success"
    return result


def run_case(spec: dict[str, Any]) -> dict[str, Any]:
    spec = dict(spec)
    case = spec.pop("case")
    if case == "limit_analytics":
        from bench.cases import limit

        result = limit.analytics(**spec)
    elif case == "limit_compliance":
        from bench.cases import limit

        result = limit.compliance(**spec)
    elif case == "provider":
        result = provider(**spec)
    elif case == "httpop":
        result = httpop(**spec)
    elif case == "backfill":
        from bench.cases import backfill

        result = backfill.run(**spec)
    else:
        raise SystemExit(f"unknown case {case!r}")
    return result


def _reset_peak_rss() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")  # resets VmHWM to the current RSS (Linux)
    except OSError:
        pass


def serve() -> int:
    """Run the requests read from stdin one after the other; each one's environment is undone after it."""
    for line in sys.stdin:
        request = json.loads(line)
        saved = {name: os.environ.get(name) for name in request.get("env", {})}
        os.environ.update(request.get("env", {}))
        _reset_peak_rss()
        try:
            result = run_case(request["spec"])
        except Exception as failed:  # reported as a failed run; the next request still runs
            result = {"ok": False, "error": f"{type(failed).__name__}: {failed}"[:500]}
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        procstats.emit(result)
    return 0


def main(argv: list[str]) -> int:
    if argv[1:] == ["--serve"]:
        return serve()
    procstats.emit(run_case(json.loads(argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
