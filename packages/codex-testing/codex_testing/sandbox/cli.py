"""``codex-sandbox``: run the sandbox from a shell until Ctrl-C or SIGTERM.

Prints the service URL, the ids and the keys to give a client (or an Airflow
connection). The default keys are fixed test strings, ``sk-sandbox-analytics``
and ``sk-sandbox-compliance``. Faults: ``--fault fail_429_first_n=2`` (repeatable;
see :class:`~.faults.Faults`), or later through ``POST /_sandbox/faults``, which
replaces every fault (a field left out of its JSON object returns to its default;
it does not merge). The servers run on uvicorn in background threads.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import date, datetime
from types import FrameType

from .config import (
    DEFAULT_ANALYTICS_KEY,
    DEFAULT_COMPLIANCE_KEY,
    DEFAULT_ORGANIZATION_ID,
    DEFAULT_WORKSPACE_ID,
    SandboxConfig,
    utc_today,
)
from .faults import Faults
from .server import SandboxServer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codex-sandbox",
        description=__doc__.splitlines()[0] if __doc__ else None,
        epilog="While it runs: GET /_sandbox/info, /_sandbox/stats; GET|POST /_sandbox/faults (a POST "
        "replaces every fault, those left out return to their defaults: it does not merge), /_sandbox/clock; "
        "POST /_sandbox/reset.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8321, help="API port (0: any free port)")
    parser.add_argument("--download-port", type=int, default=0, help="signed-URL host port (0: any free port)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--events-per-day", type=int, default=2000)
    parser.add_argument(
        "--today",
        type=date.fromisoformat,
        default=None,
        help="the sandbox's today (UTC), default: the real date (live clock)",
    )
    parser.add_argument(
        "--now",
        type=datetime.fromisoformat,
        default=None,
        help="a fixed 'now' with a time zone, e.g. 2026-11-25T06:00:00Z",
    )
    parser.add_argument("--history-days", type=int, default=400, help="days of analytics history")
    parser.add_argument("--max-log-file-bytes", type=int, default=15_000_000)
    parser.add_argument("--workspace-id", default=DEFAULT_WORKSPACE_ID)
    parser.add_argument("--organization-id", default=DEFAULT_ORGANIZATION_ID)
    parser.add_argument("--analytics-key", default=DEFAULT_ANALYTICS_KEY)
    parser.add_argument("--compliance-key", default=DEFAULT_COMPLIANCE_KEY)
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help=f"inject a fault at start (repeatable); names: {', '.join(Faults.field_names())}",
    )
    return parser


def _faults(specs: Sequence[str]) -> Faults:
    values = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not sep:
            raise ValueError(f"--fault wants NAME=VALUE, got {spec!r}")
        values[name.strip()] = value.strip()
    faults = Faults()
    faults.replace_all(values)
    return faults


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        config = SandboxConfig(
            seed=args.seed,
            users=args.users,
            events_per_day=args.events_per_day,
            today=args.today or utc_today(),
            now=args.now,
            analytics_history_days=args.history_days,
            max_log_file_bytes=args.max_log_file_bytes,
            workspace_id=args.workspace_id,
            organization_id=args.organization_id,
            analytics_key=args.analytics_key,
            compliance_key=args.compliance_key,
            host=args.host,
            port=args.port,
            download_port=args.download_port,
            faults=_faults(args.fault),
        )
    except ValueError as bad:
        parser.error(str(bad))
    server = SandboxServer(config)
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    server.start()
    info = server.info()
    print(f"Codex sandbox serving {info['base_url']}  (control API: {info['control_url']})")
    print(f"  workspace_id    {config.workspace_id}")
    print(f"  organization_id {config.organization_id}")
    print(f"  analytics key   {config.analytics_key}")
    print(f"  compliance key  {config.compliance_key}")
    print(f"  now             {info['now']}{' (live)' if info['clock_live'] else ' (frozen)'}")
    print("Ctrl-C to stop.", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
