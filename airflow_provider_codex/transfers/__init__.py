"""Transfers: a run's window of Codex data into another system (SQL, object storage, a verbatim archive)."""
