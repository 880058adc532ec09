"""`callpop lint PATH...`: check flow files and the rest of `dialplan/`.

stdout is one finding a line, sorted, `FILE:LINE:COL: error|warning: MESSAGE [rule-id]`
(1-based, the form editors and CI annotate); the summary goes to stderr. Exit 0 when
there is no error (warnings alone pass), 1 when there is one, 2 on bad usage.
"""

from __future__ import annotations

from pathlib import Path

import click

from ivr.lint import RULES, lint_paths
from ivr.schema import write_schemas


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _print_rules() -> None:
    width = max(len(rule_id) for rule_id in RULES)
    for rule in RULES.values():
        click.echo(f"{rule.id:<{width}}  {rule.severity:<7}  {rule.summary}")


def _explain(rule_id: str) -> None:
    rule = RULES.get(rule_id)
    if rule is None:
        raise click.UsageError(f"no rule {rule_id!r}; `callpop lint --rules` lists them")
    click.echo(f"{rule.id} ({rule.severity}): {rule.summary}")
    if rule.detail:
        click.echo()
        click.echo(click.wrap_text(rule.detail, width=88))


@click.command("lint")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--sounds",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Asterisk sounds folder: warn about prompts with no recording there "
    "(e.g. /usr/share/asterisk/sounds/en_US_f_Allison).",
)
@click.option("--rules", "list_rules", is_flag=True, help="List every rule id with its meaning.")
@click.option("--explain", metavar="RULE", help="Explain one rule.")
@click.option(
    "--schema",
    "schema_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the JSON Schemas of the dialplan files into DIR (for editors) and exit.",
)
@click.pass_context
def command(
    ctx: click.Context,
    paths: tuple[Path, ...],
    sounds: Path | None,
    list_rules: bool,
    explain: str | None,
    schema_dir: Path | None,
) -> None:
    """Check flow files and folders (dialplan/ checks every file in it).

    Prints FILE:LINE:COL: error|warning: MESSAGE [rule-id] per finding. Exit 0 with
    no errors (warnings alone pass), 1 with errors, 2 on bad usage.
    """
    if list_rules:
        _print_rules()
        return
    if explain is not None:
        _explain(explain)
        return
    if schema_dir is not None:
        for path in write_schemas(schema_dir):
            click.echo(f"wrote {path}", err=True)
        return
    if not paths:
        raise click.UsageError(
            "name at least one flow file or dialplan folder, e.g. callpop lint dialplan/"
        )
    report = lint_paths(paths, sounds=sounds)
    for finding in report.findings:
        click.echo(finding.format())
    if report.errors == 0 and report.warnings == 0:
        verdict = "no problems"
    else:
        verdict = f"{_plural(report.errors, 'error')}, {_plural(report.warnings, 'warning')}"
    click.echo(f"callpop lint: {_plural(len(report.files), 'file')} checked, {verdict}", err=True)
    ctx.exit(0 if report.ok else 1)
