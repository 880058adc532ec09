"""The classic AGI script's flow cache: the checked flows of a version of the files, read
back by the next call; never stale, never trusted when it is not what callpop wrote."""

from __future__ import annotations

import hashlib
import os
import pickle
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from callpop.flow_cache import FORMAT, cache_folder, cached_flows, source_digest, sources
from ivr.compile_flow import compile_flow
from ivr.loader import DialplanError, load_dialplan

FLOW = """\
entry: main_menu
nodes:
  main_menu:
    type: menu
    prompts: [acme-main-menu]
    options:
      "1": {goto: billing, topic: billing}
      "2": goodbye
  billing: {type: transfer, queue: billing}
  goodbye: {type: hangup, prompts: [goodbye]}
"""
NOW = datetime(2026, 12, 6, 18, 0, tzinfo=UTC)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A config naming a dialplan folder of one flow; returns the config."""
    (tmp_path / "dialplan" / "flows").mkdir(parents=True)
    (tmp_path / "dialplan" / "flows" / "main.yaml").write_text(FLOW)
    config = tmp_path / "callpop.yaml"
    config.write_text("dialplan: ./dialplan\n")
    return config


class Config:
    """The config validation a miss runs: it names the dialplan and says what to keep."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.validations = 0

    def __call__(self) -> tuple[Path, object]:
        self.validations += 1
        return self.config.parent / "dialplan", {"database": "kept"}


def flows_of(
    config: Path, cache: Path, environ: dict[str, str] | None = None, validate: Config | None = None
) -> dict[str, object]:
    flows, kept = cached_flows(config, environ or {}, cache, NOW, validate or Config(config))
    assert kept == {"database": "kept"}
    return dict(flows)


def compiled(config: Path) -> dict[str, object]:
    """The site's flows loaded and compiled, as the engine takes them."""
    flows = load_dialplan(config.parent / "dialplan").flows
    return {flow_id: compile_flow(flow) for flow_id, flow in flows.items()}


def entries(cache: Path) -> list[Path]:
    return sorted(cache.glob("*.flows"))


def entry_with(payload: bytes) -> bytes:
    """An entry as callpop writes one: the format line, the payload's SHA-256, the payload."""
    return FORMAT + hashlib.sha256(payload).digest() + payload


def test_the_first_call_loads_the_files_and_leaves_an_entry(site: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert flows_of(site, cache) == compiled(site)
    assert len(entries(cache)) == 1
    assert cache.stat().st_mode & 0o777 == 0o700


def test_the_next_call_neither_validates_the_config_nor_loads_the_files(
    site: Path, tmp_path: Path
) -> None:
    cache, validate = tmp_path / "cache", Config(site)
    first = flows_of(site, cache, validate=validate)
    assert (flows_of(site, cache, validate=validate), validate.validations) == (first, 1)
    (entry,) = entries(cache)
    # An entry callpop could have written, with another queue: the next call takes it.
    dialplan, files, version, flows, kept = pickle.loads(entry.read_bytes()[len(FORMAT) + 32 :])
    menu = flows["main"].nodes["billing"]
    flows["main"].nodes["billing"] = menu._replace(queue="from-the-cache")
    entry.write_bytes(entry_with(pickle.dumps((dialplan, files, version, flows, kept))))
    assert flows_of(site, cache)["main"].nodes["billing"].queue == "from-the-cache"  # type: ignore[attr-defined]


def test_a_changed_flow_file_is_loaded_again(site: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    flows_of(site, cache)
    flow_file = site.parent / "dialplan" / "flows" / "main.yaml"
    flow_file.write_text(FLOW.replace("queue: billing", "queue: accounts"))
    validate = Config(site)
    flows = flows_of(site, cache, validate=validate)
    assert flows["main"].nodes["billing"].queue == "accounts"  # type: ignore[attr-defined]
    assert validate.validations == 1
    assert flows_of(site, cache, validate=validate) == flows  # the entry was rewritten
    assert (validate.validations, len(entries(cache))) == (1, 1)


def test_a_changed_config_is_validated_again(site: Path, tmp_path: Path) -> None:
    cache, validate = tmp_path / "cache", Config(site)
    flows_of(site, cache, validate=validate)
    site.write_text("dialplan: ./dialplan\nweb: 127.0.0.1:8099\n")
    flows_of(site, cache, validate=validate)
    assert (validate.validations, len(entries(cache))) == (2, 2)


def test_a_changed_callpop_environment_is_validated_again(site: Path, tmp_path: Path) -> None:
    cache, validate = tmp_path / "cache", Config(site)
    flows_of(site, cache, {"CALLPOP_CRM__LOOKUP_BUDGET_MS": "200"}, validate)
    flows_of(site, cache, {"CALLPOP_CRM__LOOKUP_BUDGET_MS": "300", "HOME": "/x"}, validate)
    flows_of(site, cache, {"CALLPOP_CRM__LOOKUP_BUDGET_MS": "300", "HOME": "/y"}, validate)
    assert validate.validations == 2  # other variables are not the config's


def test_a_config_that_does_not_validate_raises_and_leaves_no_entry(
    site: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"

    def refuse() -> tuple[Path, object]:
        raise ValueError("callpop.yaml:1:1: bad")

    with pytest.raises(ValueError, match=r"callpop\.yaml:1:1"):
        cached_flows(site, {}, cache, NOW, refuse)
    assert entries(cache) == []


def test_a_corrupt_entry_is_ignored_and_written_again(site: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    flows_of(site, cache)
    (entry,) = entries(cache)
    sound = entry.read_bytes()
    entry.write_bytes(sound[:-40] + b"\0" * 40)  # torn by a crash, or a disk error
    assert flows_of(site, cache) == compiled(site)
    assert entry.read_bytes() == sound


def test_an_entry_naming_anything_but_the_compiled_flow_is_never_unpickled(
    site: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    flows_of(site, cache)
    (entry,) = entries(cache)
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            import os

            return (os.system, (f"touch {marker}",))

    entry.write_bytes(entry_with(pickle.dumps(Payload())))  # even with a matching digest
    assert flows_of(site, cache) == compiled(site)
    assert not marker.exists()
    assert pickle.loads(entry.read_bytes()[len(FORMAT) + 32 :])[3].keys() == {"main"}


def test_a_folder_others_can_write_is_not_used(site: Path, tmp_path: Path) -> None:
    cache = tmp_path / "shared"
    cache.mkdir(mode=0o777)
    cache.chmod(0o777)
    assert flows_of(site, cache) == compiled(site)
    assert entries(cache) == []


def test_a_dialplan_that_does_not_load_raises_and_leaves_no_entry(
    site: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    (site.parent / "dialplan" / "flows" / "main.yaml").write_text("entry: nowhere\nnodes: {}\n")
    with pytest.raises(DialplanError):
        flows_of(site, cache)
    assert entries(cache) == []


def test_an_entry_holds_the_compiled_flows_and_reading_it_needs_no_pydantic(
    site: Path, tmp_path: Path
) -> None:
    """A call that reads the cache runs without the flow model (a process of its own, so
    that what this test process imported does not count)."""
    cache = tmp_path / "cache"
    flows_of(site, cache)
    program = (
        "import sys\n"
        "from datetime import UTC, datetime\n"
        "from pathlib import Path\n"
        "from callpop.flow_cache import cached_flows\n"
        "def refuse():\n"
        "    raise AssertionError('the entry was not read')\n"
        f"flows, kept = cached_flows(Path({str(site)!r}), {{}}, Path({str(cache)!r}),"
        " datetime.now(UTC), refuse)\n"
        "assert type(flows['main']).__module__ == 'ivr.callflow', type(flows['main'])\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'ruamel'))\n"
        "assert not loaded and 'ivr.flow' not in sys.modules, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert (done.returncode, done.stderr) == (0, "")


def test_an_edited_or_replaced_module_of_callpop_gives_entries_a_new_name(tmp_path: Path) -> None:
    (tmp_path / "flow.py").write_text("A = 1\n")
    (tmp_path / "notes.txt").write_text("not code\n")
    before = source_digest((tmp_path,))
    (tmp_path / "notes.txt").write_text("still not code\n")
    assert source_digest((tmp_path,)) == before
    (tmp_path / "flow.py").write_text("A = 22\n")
    edited = source_digest((tmp_path,))
    assert edited != before
    info = (tmp_path / "flow.py").stat()
    os.utime(tmp_path / "flow.py", ns=(info.st_atime_ns, info.st_mtime_ns + 1))  # same size
    assert source_digest((tmp_path,)) != edited


def test_the_code_an_entry_comes_from_is_the_model_the_config_and_the_database_s() -> None:
    names = {folder.name for folder in sources()}
    assert names == {"ivr", "callpop", "sql"}
    assert all((folder / "__init__.py").exists() for folder in sources())


def test_the_folder_follows_xdg_cache_home(tmp_path: Path) -> None:
    assert cache_folder({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "callpop" / "flows"
