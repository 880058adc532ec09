"""`callpop.yaml`: one pydantic model, layered defaults < file < environment < flags.

The layering is one visible chain (`load_config`), and the result holds plain values,
never live objects (no clients, no engines): `callpop/` builds those from it.

- Which file: `--config`, else `$CALLPOP_CONFIG`, else `./callpop.yaml`, else
  `/etc/callpop/callpop.yaml`, else defaults alone.
- Relative paths in a file are relative to that file, never to the working directory:
  the classic AGI script runs in Asterisk's working directory.
- `CALLPOP_X__Y=value` overrides `x.y`; values are parsed as YAML scalars (so `300`
  is a number and `[a, b]` a list).
- Secrets come only from the environment or from `*_file` keys: a password written
  into the file itself is refused, because config files end up in backups and tickets.
- Every error names its place: `FILE:LINE:COL` or the environment variable.
"""

from __future__ import annotations

import ipaddress
import itertools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from crm_adapter.settings import CrmSettings, PhoneSettings
from screenpop.settings import LoginLimits, ScreenpopSettings

__all__ = [
    "AmiSettings",
    "AriSettings",
    "Config",
    "ConfigError",
    "HostPort",
    "QueueStateSettings",
    "ReloadSettings",
    "WebLimits",
    "find_config_file",
    "load_config",
]

ENV_PREFIX = "CALLPOP_"
DEFAULT_LOCATIONS = (Path("callpop.yaml"), Path("/etc/callpop/callpop.yaml"))
# Keys whose value is a secret: allowed from the environment, refused in a file.
SECRET_KEYS = frozenset({"password", "secret", "token"})


class ConfigError(Exception):
    """A user error in the configuration; `where` is `FILE:LINE:COL` or `env NAME`."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True, slots=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_host_port(value: Any) -> HostPort:
    if isinstance(value, HostPort):
        return value
    if not isinstance(value, str):
        raise ValueError("write an address as host:port, e.g. 127.0.0.1:4573")
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"{value!r} is not host:port, e.g. 127.0.0.1:4573")
    host = host.strip("[]") or "0.0.0.0"
    number = int(port)
    if not 0 <= number <= 65535:
        raise ValueError(f"port {number} is out of range 0-65535")
    return HostPort(host, number)


class AriSettings(_Section):
    url: str = "http://127.0.0.1:8088/ari"
    username: str = "callpop"
    password: str | None = Field(default=None, repr=False)
    password_file: Path | None = None
    app: str = Field(default="callpop", pattern=r"^[A-Za-z0-9_.-]{1,64}$")

    def resolved_password(self) -> str:
        return _secret(self.password, self.password_file, "ari.password")


class AmiSettings(_Section):
    """One Asterisk's manager interface. With a PostgreSQL database, each is consumed by
    one callpop instance at a time, the holder of its lease (docs/asterisk.md)."""

    host: str = "127.0.0.1"
    port: int = Field(default=5038, ge=1, le=65535)
    username: str = "callpop"
    secret: str | None = Field(default=None, repr=False)
    secret_file: Path | None = None
    name: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.:@-]{1,64}$",
        description="names this Asterisk in logs and its lease; host:port when absent",
    )
    lease_interval_s: float = Field(
        default=1.0,
        ge=0.1,
        le=5.0,
        description="how often a standby instance asks for the lease and the holder checks it",
    )

    @property
    def label(self) -> str:
        return self.name or str(HostPort(self.host, self.port))

    def resolved_secret(self) -> str:
        return _secret(self.secret, self.secret_file, "ami.secret")


def _secret(value: str | None, path: Path | None, name: str) -> str:
    if value is not None:
        return value
    if path is None:
        raise ConfigError(name, f"no secret: set {name}_file or ${_env_name(name)}")
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{name}_file", f"cannot read {path}: {exc.strerror}") from None


class WebLimits(_Section):
    """What one agent, one address or a flood may take of the web server."""

    header_timeout_s: float = Field(default=10.0, gt=0, le=600)
    body_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    idle_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    connections_per_address: int = Field(default=64, ge=1)
    max_connections: int | None = Field(default=None, ge=1)
    fastagi_fd_reserve: int = Field(default=512, ge=16)
    login_per_pair: int = Field(default=5, ge=1)
    login_per_user: int = Field(default=20, ge=1)
    login_per_address: int = Field(default=20, ge=1)
    login_window_s: float = Field(default=300.0, gt=0)
    login_concurrent: int = Field(default=2, ge=1, le=64)
    login_waiting: int = Field(default=32, ge=0)


class ReloadSettings(_Section):
    """How `serve` takes a new dialplan version without a restart (docs/admin.md)."""

    socket: Path = Field(
        default=Path("callpop.ctl"), description="control socket `callpop reload` talks to"
    )
    watch_s: float = Field(
        default=0.0, ge=0, le=3600, description="poll the dialplan folder every N s (0: off)"
    )


class CallbackSettings(_Section):
    """Placing the callbacks callers asked for (docs/admin.md, "Callbacks")."""

    context: str = Field(
        default="callpop-callback",
        pattern=r"^[A-Za-z0-9_.-]{1,80}$",
        description="dialplan context whose extension dials the customer from the agent's leg",
    )
    attempts: int = Field(default=3, ge=1, le=10, description="calls to the customer at most")
    retry_s: float = Field(
        default=300.0, ge=0, le=86400, description="wait after the customer did not answer"
    )
    agent_retry_s: float = Field(
        default=30.0, ge=0, le=3600, description="rest an agent who did not take a callback"
    )
    agent_ring_s: int = Field(default=20, ge=5, le=120, description="ring the agent this long")


class QueueStateSettings(_Section):
    """How old shared queue state may be before the IVR treats it as unknown
    (docs/configuration.md, `queues`; docs/contracts.md, "Queue state across instances")."""

    state_max_age_s: float = Field(
        default=30.0,
        ge=5,
        le=3600,
        description="a queue's state not vouched for by a connected AMI lease holder this long"
        " is unknown to the IVR",
    )
    state_refresh_s: float = Field(
        default=5.0,
        ge=1,
        le=600,
        description="how often the AMI lease holder, while connected, vouches for every queue",
    )

    @model_validator(mode="after")
    def _refresh_within_age(self) -> QueueStateSettings:
        if self.state_refresh_s * 2 > self.state_max_age_s:
            raise ValueError(
                "state_refresh_s must be at most half of state_max_age_s, or fresh state"
                " would read as stale between two refreshes"
            )
        return self


class Config(_Section):
    fastagi: HostPort = HostPort("127.0.0.1", 4573)
    web: HostPort = HostPort("127.0.0.1", 8080)
    database: str = "sqlite:///./callpop.db"
    dialplan: Path = Path("dialplan")
    phone: PhoneSettings = PhoneSettings()
    ari: AriSettings | None = None
    # One mapping or a list of them (one per Asterisk server); none when absent.
    ami: tuple[AmiSettings, ...] = ()
    crm: CrmSettings = CrmSettings()
    web_origins: tuple[str, ...] = ()
    web_secret: str | None = Field(
        default=None, repr=False, description="key that signs agent sessions (environment only)"
    )
    web_secret_file: Path | None = Field(
        default=None, description="file holding the key that signs agent sessions"
    )
    bus: str | None = Field(
        default=None, description="redis://HOST:PORT/DB: the pop bus shared by several instances"
    )
    bus_key: str = Field(default="callpop:bus", pattern=r"^[A-Za-z0-9_.:{}-]{1,100}$")
    bus_retain: int = Field(default=100_000, ge=100, le=10_000_000)
    bus_buffer: int = Field(default=10_000, ge=1, le=1_000_000)
    web_public_url: str | None = Field(
        default=None,
        description="the address agents' browsers use, e.g. https://callpop.example.com",
    )
    web_trusted_proxies: tuple[str, ...] = ()
    web_forwarded_header: str = "X-Forwarded-For"
    web_limits: WebLimits = WebLimits()
    shutdown_grace_s: float = Field(default=30.0, ge=0, le=3600)
    reload: ReloadSettings = ReloadSettings()
    callbacks: CallbackSettings = CallbackSettings()
    queues: QueueStateSettings = QueueStateSettings()
    source: Path | None = Field(default=None, description="the file this came from, if any")

    @field_validator("fastagi", "web", mode="before")
    @classmethod
    def _address(cls, value: Any) -> HostPort:
        return parse_host_port(value)

    @field_validator("bus")
    @classmethod
    def _bus(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("bus is a redis://HOST:PORT/DB URL (leave it out for one instance)")
        return value

    @field_validator("ami", mode="before")
    @classmethod
    def _ami_list(cls, value: Any) -> Any:
        if value is None:
            return ()
        return [value] if isinstance(value, (Mapping, AmiSettings)) else value

    @field_validator("ami")
    @classmethod
    def _ami_distinct(cls, value: tuple[AmiSettings, ...]) -> tuple[AmiSettings, ...]:
        labels = [a.label for a in value]
        twice = sorted({label for label in labels if labels.count(label) > 1})
        if twice:
            raise ValueError(
                f"the same Asterisk twice ({', '.join(twice)}): give each its own host:port or name"
            )
        return value

    @field_validator("web_public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.username:
            raise ValueError("web_public_url is http(s)://host[:port] as agents' browsers see it")
        return f"{parts.scheme}://{parts.netloc}".lower()

    @field_validator("web_trusted_proxies")
    @classmethod
    def _proxies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for proxy in value:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(
                    f"{proxy!r} is not an address or network (127.0.0.1, 10.0.0.0/8)"
                ) from None
        return value

    @field_validator("database")
    @classmethod
    def _database(cls, value: str) -> str:
        if (
            not value.startswith(("sqlite://", "postgresql://", "postgres://"))
            and "+" not in value.split("://")[0]
        ):
            raise ValueError("database is a sqlite:///PATH or postgresql://... URL")
        return value

    def screenpop_settings(self) -> ScreenpopSettings:
        """What the screen-pop app is given of this config (it reads no callpop type)."""
        limits = self.web_limits
        return ScreenpopSettings(
            dialplan=self.dialplan,
            phone=self.phone,
            crm=self.crm,
            web_origins=self.web_origins,
            public_url=self.web_public_url,
            trusted_proxies=self.web_trusted_proxies,
            forwarded_header=self.web_forwarded_header,
            login=LoginLimits(
                per_pair=limits.login_per_pair,
                per_user=limits.login_per_user,
                per_address=limits.login_per_address,
                window_s=limits.login_window_s,
                concurrent=limits.login_concurrent,
                waiting=limits.login_waiting,
            ),
            shared_bus=self.bus is not None,
        )


def _env_name(dotted: str) -> str:
    return ENV_PREFIX + dotted.upper().replace(".", "__")


def find_config_file(explicit: Path | None, environ: Mapping[str, str]) -> Path | None:
    """The file `load_config` reads: the flag, `$CALLPOP_CONFIG`, then the default places."""
    if explicit is not None:
        return explicit
    from_env = environ.get("CALLPOP_CONFIG")
    if from_env:
        return Path(from_env)
    for candidate in DEFAULT_LOCATIONS:
        if candidate.is_file():
            return candidate
    return None


def load_config(
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Defaults < file < environment < `overrides` (the command-line flags, dotted keys)."""
    env = os.environ if environ is None else environ
    source = find_config_file(path, env)
    data: dict[str, Any] = {}
    marks = _Marks(None, None)
    if source is not None:
        data, marks = _read_file(source, explicit=path is not None or "CALLPOP_CONFIG" in env)
    _refuse_inline_secrets(data, marks)
    env_origin: dict[tuple[str, ...], str] = {}
    for name, raw in sorted(env.items()):
        if not name.startswith(ENV_PREFIX) or name == "CALLPOP_CONFIG":
            continue
        dotted = tuple(part.lower() for part in name[len(ENV_PREFIX) :].split("__"))
        if not all(dotted):
            raise ConfigError(f"env {name}", "empty part in the variable name")
        _assign(data, dotted, _parse_env_value(raw), f"env {name}")
        env_origin[dotted] = f"env {name}"
    for dotted_key, value in (overrides or {}).items():
        _assign(data, tuple(dotted_key.split(".")), value, f"option {dotted_key}")
    base = source.resolve().parent if source is not None else Path.cwd()
    try:
        config = Config.model_validate({**data, "source": source})
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(str(p) for p in error["loc"])
        where = _where(loc, marks, env_origin)
        raise ConfigError(where, f"{'.'.join(loc)}: {error['msg']}") from None
    return _resolve_paths(config, base)


class _Marks:
    """Line/column of every key in the file, by dotted path (1-based)."""

    def __init__(self, file: Path | None, root: Any) -> None:
        self.file = file
        self.root = root

    def at(self, loc: Sequence[str]) -> str | None:
        if self.file is None or self.root is None:
            return None
        node = self.root
        position = (1, 1)
        for part in loc:
            if isinstance(node, CommentedMap) and part in node:
                line, col = node.lc.key(part)
                position = (line + 1, col + 1)
                node = node[part]
            elif isinstance(node, CommentedSeq) and part.isdigit() and int(part) < len(node):
                line, col = node.lc.item(int(part))
                position = (line + 1, col + 1)
                node = node[int(part)]
            else:
                break
        return f"{self.file}:{position[0]}:{position[1]}"


def _read_file(source: Path, *, explicit: bool) -> tuple[dict[str, Any], _Marks]:
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{source}:1:1", "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{source}:1:1", f"cannot read: {exc}") from None
    yaml = YAML(typ="rt")
    yaml.version = (1, 2)
    try:
        root = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else f"{source}:1:1"
        raise ConfigError(where, f"bad YAML: {exc.problem or exc.context}") from None
    if root is None:
        return {}, _Marks(source, None)
    if not isinstance(root, CommentedMap):
        raise ConfigError(f"{source}:1:1", "the configuration is a mapping of keys to values")
    return _plain(root), _Marks(source, root)


def _plain(node: Any) -> Any:
    if isinstance(node, CommentedMap):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, CommentedSeq):
        return [_plain(v) for v in node]
    return node


def _refuse_inline_secrets(data: Mapping[str, Any], marks: _Marks) -> None:
    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                if key in SECRET_KEYS or key.endswith(tuple(f"_{k}" for k in SECRET_KEYS)):
                    dotted = ".".join((*path, key))
                    raise ConfigError(
                        marks.at((*path, key)) or dotted,
                        f"{dotted}: secrets are not written in the file; use {key}_file "
                        f"or the environment variable {_env_name(dotted)}",
                    )
                walk(value, (*path, key))
        elif isinstance(node, list):  # `ami:` as a list of Asterisk servers
            for index, item in enumerate(node):
                walk(item, (*path, str(index)))

    walk(data, ())


def _parse_env_value(raw: str) -> Any:
    yaml = YAML(typ="safe")
    yaml.version = (1, 2)
    try:
        value = yaml.load(raw)
    except Exception:
        return raw
    return raw if value is None and raw.strip() not in ("null", "~") else value


def _assign(data: dict[str, Any], dotted: tuple[str, ...], value: Any, where: str) -> None:
    node: Any = data
    for part, after in itertools.pairwise(dotted):
        if isinstance(node, list):  # CALLPOP_AMI__0__SECRET: an item of a list
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(where, f"{part} is not an item of the list (0-{len(node) - 1})")
            child = node[int(part)]
        else:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
        if isinstance(child, list) and not after.isdigit() and len(child) == 1:
            child = child[0]  # one Asterisk written as a list: CALLPOP_AMI__SECRET still works
        if not isinstance(child, dict | list):
            raise ConfigError(where, f"{part} is not a section")
        node = child
    if isinstance(node, list):
        raise ConfigError(where, "name an item of the list by its position, e.g. __0__")
    node[dotted[-1]] = value


def _where(loc: tuple[str, ...], marks: _Marks, env_origin: Mapping[tuple[str, ...], str]) -> str:
    for length in range(len(loc), 0, -1):
        if loc[:length] in env_origin:
            return env_origin[loc[:length]]
    return marks.at(loc) or (f"{marks.file}:1:1" if marks.file else "configuration")


def _resolve_paths(config: Config, base: Path) -> Config:
    def path(p: Path | None) -> Path | None:
        return None if p is None else (p if p.is_absolute() else base / p)

    update: dict[str, Any] = {
        "dialplan": path(config.dialplan),
        "database": _database_url(config.database, base),
        "web_secret_file": path(config.web_secret_file),
        "crm": config.crm.resolve_paths(base),
        "reload": config.reload.model_copy(update={"socket": path(config.reload.socket)}),
    }
    if config.ari is not None:
        update["ari"] = config.ari.model_copy(
            update={"password_file": path(config.ari.password_file)}
        )
    update["ami"] = tuple(
        ami.model_copy(update={"secret_file": path(ami.secret_file)}) for ami in config.ami
    )
    return config.model_copy(update=update)


def _database_url(url: str, base: Path) -> str:
    """`sqlite:///./x.db` is relative to the config file; `sqlite:////abs/x.db` is absolute."""
    prefix = "sqlite:///"
    if url.startswith(prefix):
        rest = url[len(prefix) :]
        if rest and not rest.startswith("/") and not rest.startswith(":memory:"):
            return prefix + str((base / rest).resolve())
    return url
