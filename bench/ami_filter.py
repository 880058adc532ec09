"""What manager.conf's `eventfilter` lines for callpop's user save the instance that holds an
Asterisk's AMI lease (callpop/ami_filter.py, docs/asterisk.md).

    python -m bench.ami_filter [--seconds 2]

The two recordings of tests/fixtures/asterisk/ami/ saw the same two queue calls at once
from a real Asterisk 22, as a user with `read = call,agent` and no filter and as one with
the filters. Each is replayed here as the lease holder reads it: bytes through the AMI
decoder, every message through what the listener feeds (the triggers, the members' pauses,
the queue state). Prints the messages, bytes and CPU time per call of each, and their
ratio. The CPU figure is this process's (`time.process_time`), the best of the runs.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from callpop.ami.codec import Decoder, Message
from callpop.ami.pauses import MemberPauses
from callpop.ami.queue_state import QueueStates
from callpop.ami.triggers import Triggers
from callpop.pbx_sim.ami import read_transcript

__all__ = ["measure"]

AMI_DIR = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "asterisk" / "ami"
RECORDINGS = {
    "unfiltered": AMI_DIR / "queue-calls-read-call-agent.txt",
    "filtered": AMI_DIR / "queue-calls-eventfilter.txt",
}
CALLS = 2  # in each recording
NOW = 1_800_000_000.0


def _replay(wire: bytes) -> int:
    decoder = Decoder()
    decoder.receive_data(wire)
    triggers, pauses, queues = Triggers(), MemberPauses(), QueueStates()
    count = 0
    for item in decoder:
        if isinstance(item, Message):
            count += 1
            triggers.feed(item, now=NOW)
            pauses.feed(item, now=NOW)
            queues.feed(item, NOW)
    return count


def measure(seconds: float) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for name, path in RECORDINGS.items():
        wire = read_transcript(path)
        messages = _replay(wire)
        best = float("inf")
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            started = time.process_time()
            for _ in range(20):
                _replay(wire)
            best = min(best, (time.process_time() - started) / 20)
        out[name] = {
            "messages_per_call": messages / CALLS,
            "bytes_per_call": len(wire) / CALLS,
            "cpu_us_per_call": best / CALLS * 1e6,
        }
    out["ratio"] = {
        k: out["unfiltered"][k] / out["filtered"][k] for k in out["filtered"] if out["filtered"][k]
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    print(json.dumps(measure(parser.parse_args().seconds), indent=2))


if __name__ == "__main__":
    main()
