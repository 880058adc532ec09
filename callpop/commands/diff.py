"""`callpop diff OLD NEW [--format text|html] [-o FILE]`: what changed, as a client signs it.

OLD and NEW are flow files, dialplan folders or git revisions (`REV:PATH`, or a bare
`REV` for the other side's path at that revision; see `callpop.versions`). The
changes are those of `ivr.diff`: options added, removed, re-keyed or moved, prompts
whose text changed, targets, queues, priorities, hours and holidays, limits and
their reasons, every other setting.

Exit codes are diff(1)'s: 0 the versions are the same, 1 they differ, 2 trouble
(bad usage, a version that does not load or does not exist; findings on stderr as
`FILE:LINE:COL: error: MESSAGE [rule]`).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from callpop.signoff.pages import diff_groups, render_page
from callpop.versions import VersionError, load_version, materialise
from ivr.diff import Change, Version, diff, format_text, summary_line
from ivr.loader import LoadError

TROUBLE = 2


@contextlib.contextmanager
def loaded_version(spec: str, other: str | None) -> Iterator[Version]:
    """The version `spec` names, loaded; exits 2 with every finding when it cannot be."""
    try:
        with materialise(spec, other) as where:
            try:
                yield load_version(where.path, spec)
            except LoadError as exc:
                for finding in exc.findings:
                    click.echo(where.shown(finding), err=True)
                click.echo(f"callpop: {spec} does not load (run callpop lint on it)", err=True)
                sys.exit(TROUBLE)
    except VersionError as exc:
        click.echo(f"callpop: {exc}", err=True)
        sys.exit(TROUBLE)


def compare(old: str, new: str) -> list[Change]:
    """The changes from `old` to `new` (specs as the command takes them)."""
    with loaded_version(old, new) as before, loaded_version(new, old) as after:
        if before.single != after.single:
            file_side, folder_side = (old, new) if before.single else (new, old)
            click.echo(
                f"callpop: {file_side} is one flow file and {folder_side} a dialplan folder: "
                "compare a file with a file, or a folder with a folder",
                err=True,
            )
            sys.exit(TROUBLE)
        if before.single and after.single:
            # A flow file on each side compares as one flow whatever the names
            # (main.yaml against main-v2.yaml).
            (flow,) = after.flows
            before = Version({flow: next(iter(before.flows.values()))}, None, before.name)
        return diff(before, after)


@click.command("diff")
@click.argument("old")
@click.argument("new")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "html"]),
    default=None,
    help="text (default) or html; without it, from the -o file's extension",
)
@click.option("--html", "as_html", is_flag=True, help="same as --format html")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="write to this file instead of stdout",
)
def command(old: str, new: str, fmt: str | None, as_html: bool, output: Path | None) -> None:
    """What changed from OLD to NEW: files, folders or git revisions (REV:PATH, or REV).

    Exit 0 when they are the same, 1 when they differ, 2 on trouble."""
    if as_html:
        if fmt == "text":
            raise click.UsageError("--html and --format text contradict each other")
        fmt = "html"
    if fmt is None:
        fmt = (
            "html" if output is not None and output.suffix.lower() in (".html", ".htm") else "text"
        )
    changes = compare(old, new)
    summary = summary_line(changes)
    if fmt == "html":
        text = render_page(
            "diff.html",
            {"old": old, "new": new, "summary": summary, "groups": diff_groups(changes)},
        )
    else:
        text = "\n".join([*format_text(changes), summary]) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            click.echo(f"callpop diff: {output}: cannot write: {exc.strerror or exc}", err=True)
            sys.exit(TROUBLE)
        click.echo(f"{output}: {summary}", err=True)
    sys.exit(1 if changes else 0)
