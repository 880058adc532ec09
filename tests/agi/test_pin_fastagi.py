"""A PIN check over FastAGI, against the simulated Asterisk on a real TCP socket: the
caller types an account then a PIN, the CRM (the harness's services) checks it, and
the digits show up in nothing callpop sends, logs, publishes or stores."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from callpop.pbx_sim.fastagi import CallRecord, call_fastagi
from callpop.pbx_sim.script import CallerScript
from ivr import variables as v
from ivr.compile_flow import compile_flows
from ivr.events import PinStatus
from ivr.flow import Flow

from .harness import KNOWN_ACCOUNT, KNOWN_PIN, MemoryServices, fastagi

FLOW = Flow.model_validate(
    {
        "entry": "account",
        "nodes": {
            "account": {
                "type": "input",
                "variable": "account",
                "min_digits": 10,
                "max_digits": 10,
                "sensitive": True,
                "prompts": ["enter-account"],
                "next": "find",
            },
            "find": {
                "type": "lookup",
                "by": "account",
                "variable": "account",
                "found": "check_pin",
                "not_found": "unverified",
            },
            "check_pin": {
                "type": "pin",
                "prompts": ["enter-pin"],
                "verified": "verified",
                "failed": "unverified",
            },
            "verified": {"type": "transfer", "queue": "payments"},
            "unverified": {"type": "transfer", "queue": "billing"},
        },
    }
)


async def call(keys: str, services: MemoryServices) -> CallRecord:
    flows = compile_flows({"main": FLOW})
    async with fastagi(flows, services) as server:
        script = CallerScript.parse(keys, uniqueid="1795389902.7", linkedid="1795389902.6")
        return await asyncio.wait_for(
            call_fastagi("127.0.0.1", server.port, script, path="ivr?flow=main"), 60
        )


async def test_the_right_pin_verifies_the_caller(services: MemoryServices) -> None:
    record = await call(f"{KNOWN_ACCOUNT} {KNOWN_PIN}#", services)
    assert record.read(v.QUEUE) == "payments"
    assert record.read(v.VERIFIED) == "1"
    assert record.read(v.CUSTOMER_ID) == "C-2"
    assert services.pin_checks == [("C-2", PinStatus.VERIFIED)]
    journey = services.journey()
    assert (journey.identity, journey.verified) == ("pin", True)
    assert journey.steps[-2].keys == ["****"]


async def test_three_wrong_pins_send_the_caller_on_unverified(services: MemoryServices) -> None:
    record = await call(f"{KNOWN_ACCOUNT} 1111# 2222# 3333#", services)
    assert record.read(v.QUEUE) == "billing"
    assert record.read(v.VERIFIED) == "0"
    assert [status for _, status in services.pin_checks] == [PinStatus.WRONG] * 3
    assert services.journey().steps[-2].result == "max-attempts"


async def test_the_pin_is_in_nothing_callpop_sends_logs_publishes_or_stores(
    services: MemoryServices, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    record = await call(f"{KNOWN_ACCOUNT} {KNOWN_PIN}#", services)
    assert record.read(v.VERIFIED) == "1"
    # Asterisk hears the caller's keys (its GET DATA answer carries them); callpop's
    # side of the wire (no VERBOSE, no SET VARIABLE) never repeats them.
    assert KNOWN_PIN.encode() not in record.sent_by_server()
    assert all(KNOWN_PIN not in line for line in record.verbose)
    assert KNOWN_PIN not in caplog.text
    assert KNOWN_PIN not in json.dumps([e.data for e in services.events], default=str)
    assert KNOWN_PIN not in json.dumps(services.journey().to_dict())
