"""Sensors that wait for a Codex day to be ready: :mod:`.codex`."""
