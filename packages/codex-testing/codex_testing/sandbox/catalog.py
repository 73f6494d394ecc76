"""Synthetic ``codex_tasks`` and ``codex_environments`` records.

Their fields are not public (the contract says: keep each record whole as
JSON), so these are invented but plausible, with the one field the paging needs:
an ``id``. Records are sorted by ``id``; ``after=<last_id>`` continues after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from ._synth import User, rng, stable_hex, text
from .clock import day_start

_REPOS = ("acme/payments", "acme/web", "acme/infra", "acme/data-pipelines", "acme/mobile", "acme/docs")
_STATUSES = ("completed", "completed", "completed", "failed", "cancelled", "running")


def environments(seed: int, users: Sequence[User], today: date, count: int = 18) -> list[dict[str, Any]]:
    """Cloud environments Codex runs tasks in."""
    r = rng(seed, "environments")
    base = int(day_start(today).timestamp())
    records = []
    for index in range(count):
        repo = r.choice(_REPOS)
        records.append(
            {
                "id": "env_" + stable_hex(24, seed, "environment", index),
                "object": "codex.environment",
                "name": f"{repo.split('/')[1]}-{r.choice(('default', 'ci', 'gpu', 'py311', 'node20'))}",
                "repository": repo,
                "created_at": base - r.randint(1, 300) * 86_400,
                "created_by": r.choice(users).user_id,
                "setup_script": r.choice(("pip install -e .[dev]", "npm ci", "make deps", None)),
                "internet_access": r.choice(("off", "limited", "full")),
            }
        )
    return sorted(records, key=lambda e: str(e["id"]))


def tasks(
    seed: int, users: Sequence[User], today: date, envs: Sequence[dict[str, Any]], count: int = 48
) -> list[dict[str, Any]]:
    """Codex cloud tasks, each run in one of ``envs``."""
    r = rng(seed, "tasks")
    base = int(day_start(today).timestamp())
    records = []
    for index in range(count):
        env = r.choice(envs)
        status = r.choice(_STATUSES)
        created = base - r.randint(0, 45 * 86_400)
        records.append(
            {
                "id": "task_" + stable_hex(24, seed, "task", index),
                "object": "codex.task",
                "created_at": created,
                "completed_at": created + r.randint(60, 3600) if status != "running" else None,
                "status": status,
                "user_id": r.choice(users).user_id,
                "environment_id": env["id"],
                "repository": env["repository"],
                "branch": f"codex/{stable_hex(6, seed, 'branch', index)}",
                "title": text(r, 3, 9).capitalize(),
                "pull_request_url": f"https://github.com/{env['repository']}/pull/{r.randint(1, 5000)}"
                if status == "completed" and r.random() < 0.6
                else None,
            }
        )
    return sorted(records, key=lambda t: str(t["id"]))
