"""Triggers of the Codex provider: they run in the triggerer while a deferred task waits.

:mod:`.codex` waits for a day to be ready (behind the sensors), with the
readiness rules in :mod:`.readiness`; :mod:`.resume` wakes a paused load.
"""
