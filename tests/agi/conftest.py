"""Fixtures for the AGI driver tests (helpers are in harness.py)."""

from __future__ import annotations

import pytest

from ivr.compile_flow import compile_flows
from ivr.compiled import CompiledFlows
from ivr.lint import check_dialplan

from .harness import DIALPLAN, MemoryServices


@pytest.fixture(scope="session")
def sample_flows() -> CompiledFlows:
    return compile_flows(check_dialplan(DIALPLAN).flows)


@pytest.fixture
def services() -> MemoryServices:
    return MemoryServices()
