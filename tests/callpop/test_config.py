"""callpop.yaml: defaults < file < environment < flags, with positions on every error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from callpop.config import ConfigError, HostPort, load_config

Write = Callable[..., Path]


@pytest.fixture
def write(tmp_path: Path) -> Write:
    def _write(text: str, name: str = "callpop.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write


def test_defaults_alone_when_no_file_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(None, environ={})
    assert config.fastagi == HostPort("127.0.0.1", 4573)
    assert config.web == HostPort("127.0.0.1", 8080)
    assert config.ari is None and config.ami == ()
    assert config.source is None


def test_relative_paths_are_relative_to_the_config_file_not_the_working_directory(
    write: Write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write("database: sqlite:///./data/cp.db\ndialplan: ./plans\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(path, environ={})
    assert config.database == f"sqlite:///{tmp_path.resolve()}/data/cp.db"
    assert config.dialplan == tmp_path.resolve() / "plans"


def test_environment_overrides_the_file(write: Write) -> None:
    path = write("fastagi: 127.0.0.1:4573\ncrm:\n  lookup_budget_ms: 300\n")
    config = load_config(
        path, environ={"CALLPOP_FASTAGI": "0.0.0.0:5000", "CALLPOP_CRM__LOOKUP_BUDGET_MS": "150"}
    )
    assert config.fastagi == HostPort("0.0.0.0", 5000)
    assert config.crm.lookup_budget_ms == 150


def test_a_pop_window_below_the_ivr_budget_names_its_position(write: Write) -> None:
    path = write("crm:\n  lookup_budget_ms: 800\n  pop_window_s: 0.5\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    assert err.value.where == f"{path}:3:3"
    assert "pop would give up on the CRM before the IVR" in err.value.message


def test_flags_override_the_environment(write: Write) -> None:
    path = write("web: 127.0.0.1:8080\n")
    config = load_config(
        path, environ={"CALLPOP_WEB": "127.0.0.1:9000"}, overrides={"web": "127.0.0.1:9100"}
    )
    assert config.web.port == 9100


def test_config_path_from_the_environment(write: Write) -> None:
    path = write("web: 127.0.0.1:8181\n", name="other.yaml")
    assert load_config(None, environ={"CALLPOP_CONFIG": str(path)}).web.port == 8181


def test_a_bad_value_names_file_line_and_column(write: Write) -> None:
    path = write("web: 127.0.0.1:8080\nfastagi: nonsense\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    assert err.value.where == f"{path}:2:1"
    assert "host:port" in err.value.message


def test_an_unknown_key_names_its_position(write: Write) -> None:
    path = write("crm:\n  lookup_budget_ms: 300\n  cache_tll_s: 5\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    assert err.value.where == f"{path}:3:3"
    assert "cache_tll_s" in err.value.message


def test_broken_yaml_names_its_position(write: Write) -> None:
    path = write("web: [127.0.0.1:8080\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    assert err.value.where.startswith(f"{path}:2:")


def test_a_bad_environment_value_names_the_variable(write: Write) -> None:
    path = write("")
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={"CALLPOP_SHUTDOWN_GRACE_S": "-5"})
    assert err.value.where == "env CALLPOP_SHUTDOWN_GRACE_S"


def test_a_password_in_the_file_is_refused(write: Write) -> None:
    path = write("ari:\n  url: http://127.0.0.1:8088/ari\n  password: hunter2\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    assert err.value.where == f"{path}:3:3"
    assert "CALLPOP_ARI__PASSWORD" in err.value.message


def test_secrets_come_from_the_environment_or_a_file(write: Write, tmp_path: Path) -> None:
    (tmp_path / "ami.secret").write_text("s3cret\n", encoding="utf-8")
    path = write("ari: {app: callpop}\nami: {secret_file: ami.secret}\n")
    config = load_config(path, environ={"CALLPOP_ARI__PASSWORD": "from-env"})
    assert config.ari is not None and config.ari.resolved_password() == "from-env"
    assert config.ami[0].resolved_secret() == "s3cret"


def test_a_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "nope.yaml", environ={})
    assert "no such file" in err.value.message


def test_one_ami_mapping_is_a_list_of_one_asterisk(write: Write) -> None:
    path = write("ami: {host: pbx1.example, port: 5038}\n")
    config = load_config(path, environ={"CALLPOP_AMI__SECRET": "s1"})
    [only] = config.ami
    assert (only.host, only.label, only.resolved_secret()) == (
        "pbx1.example",
        "pbx1.example:5038",
        "s1",
    )


def test_ami_takes_a_list_of_asterisk_servers_each_with_its_own_secret(
    write: Write, tmp_path: Path
) -> None:
    (tmp_path / "pbx2.secret").write_text("s2\n", encoding="utf-8")
    path = write(
        "ami:\n"
        "  - {host: pbx1.example, name: east}\n"
        "  - {host: pbx2.example, secret_file: pbx2.secret, lease_interval_s: 0.5}\n"
    )
    config = load_config(path, environ={"CALLPOP_AMI__0__SECRET": "s1"})
    assert [a.label for a in config.ami] == ["east", "pbx2.example:5038"]
    assert [a.resolved_secret() for a in config.ami] == ["s1", "s2"]
    assert config.ami[1].lease_interval_s == 0.5


def test_the_same_asterisk_listed_twice_is_refused_with_its_place(write: Write) -> None:
    path = write("ami:\n  - {host: pbx1}\n  - {host: pbx1, port: 5038}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    assert err.value.where == f"{path}:1:1"
    assert "the same Asterisk twice (pbx1:5038)" in err.value.message


def test_a_secret_written_inside_the_ami_list_is_refused_with_its_place(write: Write) -> None:
    path = write("ami:\n  - {host: pbx1}\n  - {host: pbx2, secret: hunter2}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    assert err.value.where == f"{path}:3:18"
    assert "CALLPOP_AMI__1__SECRET" in err.value.message


def test_an_environment_index_past_the_ami_list_is_refused(write: Write) -> None:
    path = write("ami:\n  - {host: pbx1}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={"CALLPOP_AMI__3__SECRET": "x"})
    assert err.value.where == "env CALLPOP_AMI__3__SECRET"
    assert "not an item of the list (0-0)" in err.value.message


def test_queue_state_max_age_defaults_to_thirty_seconds_refreshed_every_five(
    write: Write,
) -> None:
    config = load_config(write("database: sqlite:///x.db\n"), environ={})
    assert (config.queues.state_max_age_s, config.queues.state_refresh_s) == (30, 5)


def test_a_queue_state_refresh_slower_than_half_the_max_age_is_refused_with_its_place(
    write: Write,
) -> None:
    path = write("queues:\n  state_max_age_s: 8\n  state_refresh_s: 5\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    assert err.value.where == f"{path}:1:1"
    assert "state_refresh_s must be at most half of state_max_age_s" in err.value.message
