"""A timer trigger that hands a paused load's state back to it when the wait is over.

A deferrable load that hits a long ``Retry-After`` defers on this trigger. The
load's state (window, counts so far, the cursor of the next page, the stage
holding the pages read before) travels in the trigger's kwargs and comes back
in its event, so the resumed task needs nothing from memory or XCom, and
resumes whichever worker it lands on.
(``dag.test()`` passes only the event to the resumed method, so the state
rides in the event as well as in ``next_kwargs``.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class CodexResumeTrigger(BaseTrigger):
    """Fire once at ``moment`` (ISO 8601, UTC) with ``{"status": "resume", "state": state}``.

    Free of side effects: run twice, it fires twice with the same event.
    """

    def __init__(self, moment: str, state: dict[str, Any]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.moment = moment
        self.state = state

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{type(self).__module__}.{type(self).__qualname__}", {"moment": self.moment, "state": self.state}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        wait = (datetime.fromisoformat(self.moment) - datetime.now(UTC)).total_seconds()
        if wait > 0:
            self.log.info("Waiting %.0fs for the API's rate limit to pass", wait)
            await asyncio.sleep(wait)
        yield TriggerEvent({"status": "resume", "state": self.state})
