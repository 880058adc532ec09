"""`callpop asterisk-config`: the snippets route every call the way the AGI driver expects."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from agi_scripts.server import split_script
from callpop.asterisk_config import FILES
from callpop.cli import cli
from ivr import variables as v

from .harness import DIALPLAN


def run(
    tmp_path: Path, *args: str, config: str | None = None, env: dict[str, str] | None = None
) -> Result:
    path = tmp_path / "callpop.yaml"
    path.write_text(config if config is not None else f"dialplan: {DIALPLAN}\n")
    return CliRunner().invoke(cli, ["--config", str(path), "asterisk-config", *args], env=env)


def sections(text: str) -> dict[str, list[str]]:
    """An Asterisk config file as section -> its non-comment lines."""
    out: dict[str, list[str]] = {}
    current = ""
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].rstrip() if not raw.startswith(" same") else raw.rstrip()
        if not line.strip():
            continue
        if line.startswith("["):
            current = line.strip("[]")
            out[current] = []
        else:
            out[current].append(line.strip())
    return out


def split_stream(output: str) -> dict[str, str]:
    parts = re.split(r"^; --- (\S+) ---\n", output, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    result = run(tmp_path)
    assert result.exit_code == 0, result.output
    return split_stream(result.output)


def test_one_stream_with_a_header_per_file(files: dict[str, str]) -> None:
    assert tuple(files) == FILES


def test_every_flow_has_an_entry_context_on_the_ivr_route(files: dict[str, str]) -> None:
    conf = sections(files["extensions.conf"])
    for flow in ("main", "tech"):
        lines = conf[f"callpop-{flow}"]
        agi = next(line for line in lines if ",AGI(agi://" in line)
        url = re.search(r"AGI\(agi://127\.0\.0\.1:4573/([^)]*)\)", agi)
        assert url is not None
        assert split_script(url.group(1)) == ("ivr", {"flow": flow})
        # design.md: empty outcome (callpop unreachable) -> operator, else the outcome.
        assert lines[-2:] == [
            'same => n,GotoIf($["${CALLPOP_OUTCOME}" = ""]?callpop-route,operator,1)',
            "same => n,Goto(callpop-route,${CALLPOP_OUTCOME},1)",
        ]
        # Nothing from an earlier pass on the channel: callpop sets only what has a value.
        cleared = [line for line in lines if re.fullmatch(r"same => n,Set\((CALLPOP_\w+)=\)", line)]
        assert cleared == [f"same => n,Set({name}=)" for name in v.ALL]
        assert lines.index(cleared[-1]) < lines.index(agi)


def test_the_route_has_an_extension_for_every_outcome_and_the_operator(
    files: dict[str, str],
) -> None:
    route = sections(files["extensions.conf"])["callpop-route"]
    extensions = {m.group(1) for line in route if (m := re.match(r"exten => (\w+),1,", line))}
    assert extensions == {*v.OUTCOMES, "operator", "survey"}


def test_queue_calls_run_the_connect_agi_with_the_callers_priority(files: dict[str, str]) -> None:
    route = sections(files["extensions.conf"])["callpop-route"]
    assert "same => n,Set(QUEUE_PRIO=${CALLPOP_PRIORITY})" in route
    assert "same => n,Queue(${CALLPOP_QUEUE},tc,,,,agi://127.0.0.1:4573/connected)" in route
    assert split_script("connected")[0] == "connected"


def extension(lines: list[str], name: str) -> list[str]:
    """The lines of one extension of a context, from its `exten =>` to the next."""
    start = next(i for i, line in enumerate(lines) if line.startswith(f"exten => {name},1,"))
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i].startswith("exten => ")), len(lines)
    )
    return lines[start:end]


def test_a_caller_whose_agent_hangs_up_goes_on_to_the_survey(files: dict[str, str]) -> None:
    # app_queue's option c: the bridge ended with the caller still there returns 0 with
    # QUEUESTATUS=CONTINUE (set only then); without c the caller's channel is hung up.
    route = sections(files["extensions.conf"])["callpop-route"]
    for name in ("queue", "operator"):
        lines = extension(route, name)
        queue = next(i for i, line in enumerate(lines) if ",Queue(" in line)
        assert re.search(r",Queue\([^,]+,tc,", lines[queue]), lines[queue]
        assert lines[queue + 1] == 'same => n,GotoIf($["${QUEUESTATUS}" = "CONTINUE"]?survey,1)'


def test_the_survey_runs_over_fastagi_only_when_the_ivr_chose_one(files: dict[str, str]) -> None:
    survey = extension(sections(files["extensions.conf"])["callpop-route"], "survey")
    assert survey[0] == 'exten => survey,1,GotoIf($["${CALLPOP_SURVEY}" = ""]?done)'
    agi = next(line for line in survey if ",AGI(" in line)
    assert agi == "same => n,AGI(agi://127.0.0.1:4573/survey)"
    text = files["extensions.conf"]
    assert ",-m,callpop.agi_script," in text and ",--survey)  ; classic AGI instead" in text
    assert ";same => n,Stasis(callpop,survey=${CALLPOP_SURVEY})  ; ARI instead" in text
    assert survey.index(agi) < survey.index("same => n(done),Hangup()") == len(survey) - 1


def test_every_queue_puts_its_variables_on_the_callers_channel(files: dict[str, str]) -> None:
    queues = sections(files["queues.conf"])
    assert {"operator", "vip", "billing", "tech", "sales", "accounts", "complaints"} <= set(queues)
    for name, lines in queues.items():
        for option in ("setinterfacevar", "setqueuevar", "setqueueentryvar"):
            assert f"{option} = yes" in lines, name
    assert "member => Local/8100@callpop-agents/n" in queues["tech"]


def test_ami_events_carry_the_call_id(files: dict[str, str]) -> None:
    manager = sections(files["manager.conf"])
    assert "channelvars = CALLPOP_CALL_ID" in manager["general"]
    assert "read = call,agent" in manager["callpop"]


def test_the_ami_user_is_sent_only_the_events_callpop_reads(files: dict[str, str]) -> None:
    manager = sections(files["manager.conf"])["callpop"]
    assert "eventfilter(action(include),name(AgentCalled)) =" in manager
    assert not any("Newchannel" in line or "action(exclude)" in line for line in manager)


def write_classes(files: dict[str, str]) -> set[str]:
    [write] = [line for line in sections(files["manager.conf"])["callpop"] if "write" in line]
    return set(write.removeprefix("write = ").split(","))


def test_the_ami_user_may_send_the_panels_call_controls(files: dict[str, str]) -> None:
    # Originate is class originate (click-to-dial), QueuePause class agent (status menu),
    # BlindTransfer / Atxfer / Redirect class call (transfers)
    assert {"originate", "agent", "call"} <= write_classes(files)


def test_the_ami_user_may_list_the_channels_its_resync_reads(files: dict[str, str]) -> None:
    # CoreShowChannels is class system or reporting: without one, "Permission denied"
    # (tests/fixtures/asterisk/ami/coreshowchannels-permission-denied.txt)
    assert "reporting" in write_classes(files)
    assert "system" not in write_classes(files)


def test_each_queue_is_a_blind_transfer_target_that_joins_it(files: dict[str, str]) -> None:
    queues = sections(files["extensions.conf"])["callpop-queues"]
    assert "exten => billing,1,Set(CALLPOP_QUEUE=billing)" in queues
    assert "same => n,Goto(callpop-route,queue,1)" in queues


def test_secrets_never_appear(tmp_path: Path) -> None:
    secret = tmp_path / "ami.secret"
    secret.write_text("s3cr3t-ami\n")
    config = f"dialplan: {DIALPLAN}\nami: {{username: pbx, secret_file: {secret}}}\n"
    result = run(tmp_path, config=config, env={"CALLPOP_ARI__PASSWORD": "s3cr3t-ari"})
    assert result.exit_code == 0, result.output
    assert "s3cr3t" not in result.output
    assert str(secret) in result.output  # says where the secret is instead
    assert "[pbx]" in split_stream(result.output)["manager.conf"]


def test_the_classic_agi_line_names_this_python_and_the_config(
    tmp_path: Path, files: dict[str, str]
) -> None:
    line = next(x for x in files["extensions.conf"].splitlines() if "callpop.agi_script" in x)
    assert f"AGI({sys.executable},-m,callpop.agi_script,{tmp_path / 'callpop.yaml'},main)" in line


def test_agi_host_comes_from_the_option_or_the_listening_address(tmp_path: Path) -> None:
    everywhere = run(tmp_path, config=f"dialplan: {DIALPLAN}\nfastagi: 0.0.0.0:4600\n")
    assert "agi://127.0.0.1:4600/ivr?flow=main" in everywhere.output
    chosen = run(
        tmp_path, "--agi-host", "10.0.0.5", config=f"dialplan: {DIALPLAN}\nfastagi: 0.0.0.0:4600\n"
    )
    assert "agi://10.0.0.5:4600/connected" in chosen.output


def test_output_folder_gets_one_file_per_snippet(tmp_path: Path, files: dict[str, str]) -> None:
    result = run(tmp_path, "-o", str(tmp_path / "asterisk"))
    assert result.exit_code == 0
    for name in FILES:
        assert (tmp_path / "asterisk" / name).read_text() == files[name]


def test_a_dialplan_that_does_not_load_is_exit_1_with_its_findings(tmp_path: Path) -> None:
    broken = tmp_path / "dialplan" / "flows"
    broken.mkdir(parents=True)
    (broken / "main.yaml").write_text("entry: x\nnodes:\n  x: {type: nonsense}\n")
    result = run(tmp_path, config="dialplan: ./dialplan\n")
    assert result.exit_code == 1
    assert "main.yaml:3:" in result.output and "does not load" in result.output
