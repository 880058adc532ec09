"""`callpop doc DIALPLAN -o pack.html [--pdf] [--against OLD] [--title T] [--client C]`

The sign-off pack (callpop/signoff/pack.py): one self-contained HTML page a client
reads and signs, or with `--pdf` (or an `-o` ending in `.pdf`) a PDF printed by the
headless Chromium the tests use. `--against` names the last signed version (a
folder, a file or a git revision, as `callpop diff` takes them) and adds what changed.

Exit 0 with the pack written, 1 for a dialplan that does not load (every finding as
`FILE:LINE:COL: error: MESSAGE [rule]`) or a PDF that cannot be made, 2 bad usage or an
`--against` version that cannot be read (as `callpop diff`).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from callpop.commands.diff import compare
from callpop.signoff.pack import PackInput, render_pack
from callpop.signoff.pdf import CHROMIUM, PdfError, html_to_pdf
from ivr.flow import ENTRY_FLOW
from ivr.loader import LoadError, load_dialplan
from ivr.version import hash_dialplan


@click.command("doc")
@click.argument("dialplan", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="the pack: FILE.html, or FILE.pdf (then as --pdf)",
)
@click.option("--pdf", "as_pdf", is_flag=True, help="write a PDF (printed by headless Chromium)")
@click.option(
    "--against", default=None, help="the last signed version: folder, file, REV:PATH or REV"
)
@click.option(
    "--title", default=None, help="the pack's title (default: the main flow's description)"
)
@click.option("--client", default=None, help="the client's name, for the signature block")
@click.option(
    "--chromium", default=CHROMIUM, show_default=True, help="the Chromium that prints the PDF"
)
def command(
    dialplan: Path,
    output: Path,
    as_pdf: bool,
    against: str | None,
    title: str | None,
    client: str | None,
    chromium: str,
) -> None:
    """Write the sign-off pack of DIALPLAN: diagrams, prompts, hours, queues, limits, keys and seconds to reach."""
    as_pdf = as_pdf or output.suffix.lower() == ".pdf"
    try:
        loaded = load_dialplan(dialplan)
    except LoadError as exc:
        for finding in exc.findings:
            click.echo(finding.format(), err=True)
        click.echo(f"callpop doc: {dialplan} does not load (run callpop lint)", err=True)
        sys.exit(1)
    changes = compare(against, str(dialplan)) if against is not None else None
    flows = dict(loaded.flows)
    main = flows.get(ENTRY_FLOW)
    data = PackInput(
        title=title or (main.description.split(":")[0] if main and main.description else "IVR"),
        client=client,
        source=str(dialplan),
        version=hash_dialplan(dialplan),
        generated=datetime.now(UTC),
        flows=flows,
        queues=loaded.catalog.queues,
        changes=changes,
        against=against,
    )
    html = render_pack(data)
    try:
        if as_pdf:
            html_to_pdf(html, output, chromium)
        else:
            output.write_text(html, encoding="utf-8")
    except PdfError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"{output}: cannot write: {exc.strerror or exc}") from None
    what = "PDF" if as_pdf else "HTML"
    extra = f", {len(changes)} changes against {against}" if changes is not None else ""
    click.echo(
        f"{output}: {what} sign-off pack of {dialplan} version {data.version}{extra}", err=True
    )
