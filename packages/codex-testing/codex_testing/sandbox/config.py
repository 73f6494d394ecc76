"""The sandbox's configuration: what data it serves and how it behaves.

Everything the sandbox answers is a pure function of this config (and of the
clock, see :mod:`.clock`), so two sandboxes with the same config serve
byte-identical data whatever order requests arrive in. The defaults are fixed,
documented test values: nobody has to look up a key or a workspace id.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from airflow_provider_codex.api.endpoints import COMPLIANCE_RETENTION_DAYS

from .faults import Faults

#: The default bearer key of the Analytics API (scope ``codex.enterprise.analytics.read``).
DEFAULT_ANALYTICS_KEY = "sk-sandbox-analytics"
#: The default bearer key of the Compliance API (scope ``read``).
DEFAULT_COMPLIANCE_KEY = "sk-sandbox-compliance"
#: The default workspace id (a UUID, as the real service uses).
DEFAULT_WORKSPACE_ID = "11111111-2222-4333-8444-555555555555"
#: The default organization id (``org-`` prefix, as the real service uses).
DEFAULT_ORGANIZATION_ID = "org-sandbox000000000000000"


def utc_today() -> date:
    """The real current UTC date."""
    return datetime.now(UTC).date()


@dataclass(frozen=True)
class SandboxConfig:
    """What one sandbox serves. Immutable; the live faults and clock are on the server."""

    #: Seeds all synthetic data.
    seed: int = 1
    workspace_id: str = DEFAULT_WORKSPACE_ID
    organization_id: str = DEFAULT_ORGANIZATION_ID
    analytics_key: str = DEFAULT_ANALYTICS_KEY
    compliance_key: str = DEFAULT_COMPLIANCE_KEY
    #: Users in the workspace; a deterministic subset is active each day.
    users: int = 50
    #: ``CODEX_LOG`` events on an average weekday (``CODEX_SECURITY_LOG`` gets 2% of that).
    events_per_day: int = 2000
    #: The sandbox's "today" (UTC). Sets the default clock, see :mod:`.clock`.
    today: date = field(default_factory=utc_today)
    #: A fixed "now" (tz-aware). ``None``: see :class:`.clock.SandboxClock`.
    now: datetime | None = None
    #: Analytics rows exist for this many days ending ``today``.
    analytics_history_days: int = 400
    #: Log files whose ``end_time`` is older than this many days before "now" are gone.
    retention_days: int = COMPLIANCE_RETENTION_DAYS
    #: Log files never exceed this many bytes.
    max_log_file_bytes: int = 15_000_000
    #: How long a signed download URL stays valid (real seconds).
    signed_url_ttl_seconds: float = 60.0
    #: Interface and ports of the API server and of the download ("signed URL") server; 0 = any free.
    host: str = "127.0.0.1"
    port: int = 0
    download_port: int = 0
    #: Bytes of generated data kept in memory (rows, events, files); older entries are regenerated.
    cache_bytes: int = 1024 * 1024 * 1024
    #: The faults at start (and after ``POST /_sandbox/reset``). The server works on a copy.
    faults: Faults = field(default_factory=Faults, compare=False)

    def __post_init__(self) -> None:
        uuid.UUID(self.workspace_id)  # raises ValueError when it is not a UUID
        if not self.organization_id.startswith("org-"):
            raise ValueError(f"organization_id must start with 'org-', got {self.organization_id!r}")
        if self.analytics_key == self.compliance_key:
            raise ValueError("analytics_key and compliance_key must differ")
        for name in ("users", "analytics_history_days", "retention_days", "max_log_file_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.events_per_day < 0:
            raise ValueError("events_per_day must be >= 0")
        if self.now is not None and self.now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        if self.max_log_file_bytes < 64 * 1024:
            raise ValueError("max_log_file_bytes must be at least 64 KiB")
