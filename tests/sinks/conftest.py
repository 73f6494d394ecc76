"""Fixtures: one real database per parameter (see sql_backends.py)."""

from __future__ import annotations

import pytest
from sql_backends import BACKENDS, LOCKING_BACKENDS, make_backend


@pytest.fixture(params=BACKENDS)
def backend(request, tmp_path, monkeypatch):
    db = make_backend(request.param, tmp_path, monkeypatch)
    yield db
    db.drop_all()


@pytest.fixture(params=LOCKING_BACKENDS)
def locking_backend(request, tmp_path, monkeypatch):
    db = make_backend(request.param, tmp_path, monkeypatch)
    yield db
    db.drop_all()
