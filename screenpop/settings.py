"""What the screen-pop app is configured with: its own value, built by the composition
root (`callpop.config.Config.screenpop_settings()`), so that screenpop depends on no
part of callpop."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from crm_adapter.settings import CrmSettings, PhoneSettings

__all__ = ["LoginLimits", "ScreenpopSettings"]


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """How many login attempts per (user, address) pair, user and address within
    `window_s`, and how many password checks run at once (`concurrent`) or wait."""

    per_pair: int = 5
    per_user: int = 20
    per_address: int = 20
    window_s: float = 300.0
    concurrent: int = 2
    waiting: int = 32


@dataclass(frozen=True, slots=True)
class ScreenpopSettings:
    """`dialplan`: the folder whose dispositions, scripts and queues the panel offers;
    `web_origins`: pages allowed to embed the widget; `public_url`: where agents'
    browsers reach this site; `trusted_proxies`/`forwarded_header`: whose forwarded
    address is believed; `shared_bus`: instances share a pop bus (Redis), so only the
    rung agent's instance prepares a pop."""

    dialplan: Path = Path("dialplan")
    phone: PhoneSettings = field(default_factory=PhoneSettings)
    crm: CrmSettings = field(default_factory=CrmSettings)
    web_origins: tuple[str, ...] = ()
    public_url: str | None = None
    trusted_proxies: tuple[str, ...] = ()
    forwarded_header: str = "X-Forwarded-For"
    login: LoginLimits = LoginLimits()
    shared_bus: bool = False
