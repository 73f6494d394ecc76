"""Fixtures of the sandbox tests: one sandbox per module, reset around each test.

The clock is frozen (``now`` given explicitly), so the data does not depend on
the day the tests run. Paths come from the endpoint registry, as a client's would.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from codex_testing.sandbox import RunningSandbox, running_sandbox
from sandbox_helpers import SANDBOX_CONFIG, client


@pytest.fixture(scope="module")
def module_sandbox() -> Iterator[RunningSandbox]:
    with running_sandbox(**SANDBOX_CONFIG) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(module_sandbox: RunningSandbox) -> Iterator[RunningSandbox]:
    module_sandbox.reset()
    yield module_sandbox
    module_sandbox.reset()
    module_sandbox.server.signer.ttl_seconds = module_sandbox.config.signed_url_ttl_seconds


@pytest.fixture
def analytics(sandbox: RunningSandbox) -> Iterator[httpx.Client]:
    with client(sandbox, sandbox.analytics_key) as c:
        yield c


@pytest.fixture
def compliance(sandbox: RunningSandbox) -> Iterator[httpx.Client]:
    with client(sandbox, sandbox.compliance_key) as c:
        yield c
