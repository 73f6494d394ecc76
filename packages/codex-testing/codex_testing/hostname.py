"""``[core] hostname_callable`` of the harness: each component reports a host name of its own.

Every component of a test deployment runs on one machine, so the real host name
cannot tell which one ran a task instance. The harness names each component in
:data:`HOSTNAME_VARIABLE` (``celery-worker-1``, ``scheduler``...), as the hosts of
a real deployment would be named; a task instance's ``hostname`` then says which
worker ran it. A module of its own: Airflow imports it by name in every component
and task process (through the package, whose other modules import nothing heavy).
"""

from __future__ import annotations

import os
import socket

HOSTNAME_VARIABLE = "CODEX_CLUSTER_HOSTNAME"
HOSTNAME_CALLABLE = f"{__name__}.component_hostname"


def component_hostname() -> str:
    """The component's name given by the harness, else the machine's fully qualified name."""
    return os.environ.get(HOSTNAME_VARIABLE) or socket.getfqdn()
