"""`callpop agents add NAME --interface PJSIP/101 [--role agent|supervisor|admin]`,
`callpop agents list`: the people who log in to the panel.

The password comes from a prompt (typed twice, not echoed) or, for scripts, from the
first line of stdin with `--password-stdin`; never from an argument, which `ps` and
the shell history would show. The interface is the agent's queue-member interface as
AMI reports it; pops find their agent through it. The database is migrated first, so
the command works on a fresh install.
"""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import click

from callpop.config import ConfigError, load_config
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade
from screenpop.auth import Passwords
from screenpop.interfaces import normalise_interface
from screenpop.sqlstore import SqlScreenpopStore
from screenpop.store import ROLES, Account, Role, StoreError

__all__ = ["command"]

MIN_PASSWORD = 8
# TECH/resource as Asterisk names queue members: PJSIP/101, SIP/alice, Local/8100@agents/n
_INTERFACE = re.compile(r"^[A-Za-z][A-Za-z0-9]*/[A-Za-z0-9_.@/+-]{1,120}$")
_NAME = re.compile(r"^[^\x00-\x1f\x7f/\\<>\"']{1,64}$")


class UserError(Exception):
    """A mistake on the command line or in the environment; exit 1 with the message."""


def check_name(name: str) -> str:
    value = name.strip()
    if not _NAME.match(value) or value != name:
        raise UserError(
            f"agent name {name!r}: 1 to 64 characters, no control characters, "
            "quotes, slashes or angle brackets, no leading or trailing spaces"
        )
    return value


def check_interface(interface: str) -> str:
    if not _INTERFACE.match(interface):
        raise UserError(
            f"interface {interface!r} is not TECH/resource, e.g. PJSIP/101 "
            "or Local/8100@callpop-agents"
        )
    return normalise_interface(interface)


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        password = password[:-1] if password.endswith("\r") else password
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password needs at least {MIN_PASSWORD} characters")
    return password


async def add_agent(database: str, name: str, interface: str, role: Role, password: str) -> Account:
    engine = create_engine(database)
    try:
        await upgrade(engine)
        store = SqlScreenpopStore(engine)
        password_hash = await asyncio.to_thread(Passwords().hash, password)
        return await store.add_account(name, interface, role, password_hash)
    finally:
        await engine.dispose()


async def list_agents(database: str) -> list[Account]:
    engine = create_engine(database)
    try:
        await upgrade(engine)
        return await SqlScreenpopStore(engine).accounts()
    finally:
        await engine.dispose()


def _database(ctx: click.Context) -> str:
    config_path: Path | None = (ctx.obj or {}).get("config_path")
    try:
        return load_config(config_path).database
    except ConfigError as exc:
        raise UserError(str(exc)) from None


@click.group("agents")
def command() -> None:
    """Agents who log in to the panel."""


@command.command("add")
@click.argument("name")
@click.option(
    "--interface",
    required=True,
    metavar="TECH/RESOURCE",
    help="the agent's queue-member interface as AMI reports it, e.g. PJSIP/101",
)
@click.option("--role", type=click.Choice(ROLES), default="agent", show_default=True)
@click.option(
    "--password-stdin", is_flag=True, help="read the password from the first line of stdin"
)
@click.pass_context
def add(ctx: click.Context, name: str, interface: str, role: Role, password_stdin: bool) -> None:
    """Create an agent who logs in as NAME."""
    try:
        name = check_name(name)
        interface = check_interface(interface)
        database = _database(ctx)
        password = read_password(password_stdin)
        account = asyncio.run(add_agent(database, name, interface, role, password))
    except (UserError, StoreError) as exc:
        click.echo(f"callpop agents add: {exc}", err=True)
        ctx.exit(1)
    click.echo(f"added {account.role} {account.name} on {account.interface} (id {account.id})")


@command.command("list")
@click.pass_context
def list_command(ctx: click.Context) -> None:
    """One line per active agent: name, role, interface."""
    try:
        accounts = asyncio.run(list_agents(_database(ctx)))
    except UserError as exc:
        click.echo(f"callpop agents list: {exc}", err=True)
        ctx.exit(1)
    for account in accounts:
        click.echo(f"{account.name}\t{account.role}\t{account.interface}")
