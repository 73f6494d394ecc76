"""Run one sandbox in its own process (so it does not share the client's interpreter or GIL).

``python bench/sandbox_server.py '{"users": 20000, ...}'`` prints one JSON line
with the sandbox's URLs, then serves until SIGTERM or SIGINT. Keys of the JSON
are :class:`SandboxConfig` fields (dates as ISO text); ``faults`` is a dict of
:class:`Faults` fields. The package's ``codex-sandbox`` command serves the same
way but cannot set ``cache_bytes`` (the full run needs several GiB so that the
sandbox serves from memory instead of regenerating) nor print its URLs as JSON;
this script starts the server through the package's :func:`running_sandbox`.
"""

from __future__ import annotations

import json
import signal
import sys
from datetime import date
from typing import Any

from codex_testing.sandbox import Faults, SandboxConfig, running_sandbox


def config_from(spec: dict[str, Any]) -> SandboxConfig:
    spec = dict(spec)
    if "today" in spec:
        spec["today"] = date.fromisoformat(spec["today"])
    faults = Faults()
    faults.replace_all(spec.pop("faults", {}))
    return SandboxConfig(faults=faults, **spec)


def main(argv: list[str]) -> int:
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)  # before the server's threads start: they inherit it
    with running_sandbox(config_from(json.loads(argv[1]) if len(argv) > 1 else {})) as sandbox:
        print(json.dumps(sandbox.server.info()), flush=True)
        signal.sigwait(stop_signals)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
