"""`callpop prompts render DIALPLAN -o DIR`: every prompt with a `text:` and no
recording, spoken by espeak-ng into the formats Asterisk plays (`callpop.tts`).

stdout: one line a sound made, `DIR/LANG/NAME.{wav,gsm,ulaw}  TEXT`; stderr: the
prompts that could not be made (`FILE:LINE:COL: why`) and the summary. Exit 0 when
every prompt has a recording or was made, 1 otherwise (or when espeak-ng or sox is
missing: one line saying how to install it), 2 on bad usage.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import click

from callpop.commands.common import user_errors
from callpop.tts import FORMATS, ToolMissing, Tools, plan, render
from ivr.loader import load_dialplan

__all__ = ["command"]


def _cannot(ctx: click.Context, where: str, sound: str, why: str) -> None:
    click.echo(f"{where}: cannot make sound {sound!r}: {why}", err=True)
    ctx.exit(1)


@click.group("prompts")
def command() -> None:
    """The IVR's recordings."""


@command.command("render")
@click.argument("dialplan", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write into (LANG/NAME.wav, .gsm, .ulaw under it).",
)
@click.option(
    "--sounds",
    "recorded",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Recordings the site already has (e.g. /usr/share/asterisk/sounds/"
    "en_US_f_Allison): prompts found there are not made.",
)
@click.option("--voice", help="espeak-ng voice (default: from each flow's language).")
@click.pass_context
def render_command(
    ctx: click.Context, dialplan: Path, out: Path, recorded: Path | None, voice: str | None
) -> None:
    """Speak every prompt that has a text: and no recording, for Asterisk to play."""
    try:
        tools = Tools.find()
    except ToolMissing as exc:
        click.echo(f"callpop prompts render: {exc}", err=True)
        ctx.exit(1)
    with user_errors("prompts render"):
        loaded = load_dialplan(dialplan)
    to_make, problems = plan(loaded, recorded)
    extensions = ",".join(FORMATS)
    for item in to_make:
        try:
            render(item, out, tools, voice)
        except subprocess.CalledProcessError as exc:
            said = (exc.stderr or "").strip().splitlines()
            why = said[0] if said else f"{Path(exc.cmd[0]).name} exited with {exc.returncode}"
            _cannot(ctx, item.where, item.sound, why)
        except (subprocess.TimeoutExpired, OSError) as exc:
            _cannot(ctx, item.where, item.sound, str(exc))
        click.echo(f"{item.folder(out) / item.sound}.{{{extensions}}}  {item.text}")
    for problem in problems:
        click.echo(problem.format(), err=True)
    click.echo(
        f"callpop prompts render: {len(to_make)} sounds made in {out}, "
        f"{len(problems)} prompts not made",
        err=True,
    )
    ctx.exit(1 if problems else 0)
