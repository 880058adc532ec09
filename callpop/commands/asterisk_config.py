"""`callpop asterisk-config [-o DIR]`: the Asterisk config snippets for this site.

Reads callpop.yaml (the global `--config`) and its dialplan, and prints
extensions.conf, queues.conf, manager.conf, ari.conf and http.conf snippets as one
stream with `; --- FILE ---` headers, or writes them as files into DIR. Exit 1 when the
config or the dialplan does not load (every finding on stderr), 2 for bad usage.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from callpop.asterisk_config import render, site_from, stream
from callpop.config import ConfigError, load_config
from ivr.loader import LoadError, load_dialplan


@click.command("asterisk-config")
@click.option(
    "-o",
    "--output",
    "output_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="write one file per snippet into this folder instead of printing them",
)
@click.option(
    "--agi-host",
    default=None,
    help="the address Asterisk reaches callpop's FastAGI server at (default: from fastagi:)",
)
@click.option(
    "--internal-context",
    default="default",
    show_default=True,
    help="the dialplan context where transfers to an extension are dialled",
)
@click.pass_context
def command(
    ctx: click.Context, output_dir: Path | None, agi_host: str | None, internal_context: str
) -> None:
    """Print the Asterisk configuration callpop needs (extensions, queues, AMI, ARI)."""
    config_path = (ctx.obj or {}).get("config_path")
    try:
        config = load_config(config_path, os.environ)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        dialplan = load_dialplan(Path(config.dialplan))
    except LoadError as exc:
        for finding in exc.findings:
            click.echo(finding.format(), err=True)
        raise click.ClickException(f"the dialplan in {config.dialplan} does not load") from None
    try:
        site = site_from(
            config,
            dialplan.flows,
            dialplan.catalog.queues,
            python=sys.executable,
            agi_host=agi_host,
            internal_context=internal_context,
        )
        files = render(site)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if output_dir is None:
        click.echo(stream(files), nl=False)
        return
    output_dir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (output_dir / name).write_text(text, encoding="utf-8")
        click.echo(f"wrote {output_dir / name}", err=True)
