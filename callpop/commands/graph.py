"""`callpop graph FLOW_FILE --format svg|mermaid|dot [-o FILE]`: draw a flow.

The format defaults to the output file's extension (`.svg`, `.mmd`/`.mermaid`,
`.dot`/`.gv`), else SVG. A flow that does not load exits 1 with every finding as
`FILE:LINE:COL: error: MESSAGE [rule]` on stderr; nothing is written.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click

from ivr.flow import Flow
from ivr.graph.dot import render_dot
from ivr.graph.mermaid import render_mermaid
from ivr.graph.svg import render_svg
from ivr.loader import LoadError, load_flow

RENDERERS: dict[str, Callable[[Flow], str]] = {
    "svg": render_svg,
    "mermaid": render_mermaid,
    "dot": render_dot,
}
_BY_SUFFIX = {".svg": "svg", ".mmd": "mermaid", ".mermaid": "mermaid", ".dot": "dot", ".gv": "dot"}


def render(flow_file: Path, fmt: str) -> str:
    """The diagram of a flow file as text; raises `LoadError` for a broken flow."""
    return RENDERERS[fmt](load_flow(flow_file))


@click.command("graph")
@click.argument("flow_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(sorted(RENDERERS)),
    default=None,
    help="svg (default), mermaid or dot; without it, from the -o file's extension",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="write the diagram to this file instead of stdout",
)
def command(flow_file: Path, fmt: str | None, output: Path | None) -> None:
    """Draw FLOW_FILE: prompts' text in the boxes, keys on the arrows."""
    if fmt is None:
        fmt = _BY_SUFFIX.get(output.suffix.lower(), "svg") if output is not None else "svg"
    try:
        text = render(flow_file, fmt)
    except LoadError as exc:
        for finding in exc.findings:
            click.echo(finding.format(), err=True)
        sys.exit(1)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"{output}: cannot write: {exc.strerror or exc}") from None
    click.echo(f"{output}: {fmt} diagram of {flow_file}", err=True)
