"""Running the rules: over paths the admin named, or over a loaded dialplan.

A flow is always checked in the company of the other flows of its folder and the
catalog files beside them, exactly as a call would meet it: linting `flows/tech.yaml`
alone counts its menus' depth from `main` if main leads there, and knows the queues
of `queues.yaml`. Findings are reported for the files named (a folder names all its
files), plus a menu too deep because of a named flow wherever that menu is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from ivr.catalog import CATALOG_FILES
from ivr.flow import ENTRY_FLOW, Flow
from ivr.layout import dialplan_layout
from ivr.lint.catalog_rules import (
    check_unknown_dispositions,
    check_unknown_queues,
    check_unknown_topics,
)
from ivr.lint.context import LintContext
from ivr.lint.expressions import check_bad_conditions, check_unknown_variables
from ivr.lint.hours import check_bad_hours, check_unknown_schedules
from ivr.lint.keys import check_direct_dial_collision, check_option_keys, check_shadowed_global_keys
from ivr.lint.loops import check_no_agent_path, check_no_exit_loop
from ivr.lint.pin_rules import check_pin_identified, check_secret_conditions
from ivr.lint.queue_rules import check_flood_messages, check_queue_thresholds
from ivr.lint.ranges import check_retries_range, check_timeout_range
from ivr.lint.rules import finding
from ivr.lint.shape import check_menu_depth, check_menu_options
from ivr.lint.sounds import check_missing_sounds
from ivr.lint.survey_rules import check_surveys
from ivr.lint.targets import check_dangling_targets, check_unreachable_nodes
from ivr.loader import (
    Dialplan,
    DialplanError,
    Loaded,
    missing_main,
    read_dialplan,
    read_flow,
    salvage_flow_file,
)
from ivr.salvage import STAND_IN_BLIND
from ivr.source import START, Finding, SourceMap

__all__ = ["CHECKS", "LintReport", "check_dialplan", "lint_dialplan", "lint_flows", "lint_paths"]

Check = Callable[[LintContext], Iterable[Finding]]

CHECKS: tuple[Check, ...] = (
    check_menu_depth,
    check_menu_options,
    check_dangling_targets,
    check_unreachable_nodes,
    check_no_exit_loop,
    check_no_agent_path,
    check_option_keys,
    check_shadowed_global_keys,
    check_direct_dial_collision,
    check_timeout_range,
    check_retries_range,
    check_bad_conditions,
    check_bad_hours,
    check_unknown_schedules,
    check_unknown_variables,
    check_unknown_queues,
    check_unknown_topics,
    check_unknown_dispositions,
    check_missing_sounds,
    check_queue_thresholds,
    check_flood_messages,
    check_surveys,
    check_pin_identified,
    check_secret_conditions,
)
"""Every whole-dialplan rule, each a function of the context (see `ivr.lint.rules`)."""


@dataclass(frozen=True, slots=True)
class LintReport:
    findings: tuple[Finding, ...]
    """Sorted by file, line, column; each reported once."""
    files: tuple[str, ...]
    """The files checked."""

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity == "warning")

    @property
    def ok(self) -> bool:
        """No errors (warnings alone pass)."""
        return self.errors == 0


def _finish(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    return tuple(sorted(dict.fromkeys(findings), key=Finding.sort_key))


def lint_dialplan(
    dialplan: Dialplan,
    *,
    flows: Iterable[str] | None = None,
    catalog: Iterable[str] | None = None,
    sounds: Path | None = None,
) -> list[Finding]:
    """Run every rule over `dialplan`, checking `flows` (default: all of them) and the
    `catalog` file names (default: all present)."""
    checked = frozenset(dialplan.loaded if flows is None else flows)
    if catalog is None:
        catalog = [name for name in CATALOG_FILES if (dialplan.root / name).exists()]
    ctx = LintContext(dialplan, checked, frozenset(catalog), sounds)
    return [item for check in CHECKS for item in check(ctx)]


def lint_flows(flows: Mapping[str, Flow]) -> list[Finding]:
    """Run every rule over flows built in memory (`Flow.model_validate`, tests, tools).

    With no file behind them, findings name `ID.yaml` and sit at 1:1; the message says
    which node. Catalog rules do not apply (there is no catalog).
    """
    loaded = {
        flow_id: Loaded(flow, f"{flow_id}.yaml", SourceMap.empty())
        for flow_id, flow in flows.items()
    }
    dialplan = Dialplan(Path("."), Path("."), MappingProxyType(loaded))
    return lint_dialplan(dialplan, catalog=())


def check_dialplan(path: Path | str) -> Dialplan:
    """Load a dialplan for running calls: all or nothing, and nothing lint rejects.

    Raises `DialplanError` with every load finding, or with every lint error (warnings
    do not stop a dialplan) if it loaded.
    """
    folder = Path(path)
    dialplan, findings = read_dialplan(folder)
    if folder.is_dir() and ENTRY_FLOW not in dialplan.flow_files:
        findings.append(missing_main(dialplan))
    if findings:
        raise DialplanError(findings)
    errors = [f for f in lint_dialplan(dialplan) if f.severity == "error"]
    if errors:
        raise DialplanError(errors)
    return dialplan


@dataclass
class _Request:
    """What was asked of one dialplan folder."""

    root: Path
    whole: bool = False
    flow_files: list[Path] = field(default_factory=list)
    catalog: set[str] = field(default_factory=set)


def _root_of(file: Path) -> Path:
    parent = file.parent
    if file.name in CATALOG_FILES:
        return parent
    if parent.name == "flows" and not (parent / "flows").is_dir():
        return parent.parent
    return parent


def lint_paths(paths: Sequence[Path | str], *, sounds: Path | None = None) -> LintReport:
    """Lint files and folders as `callpop lint PATH...` does."""
    findings: list[Finding] = []
    requests: dict[Path, _Request] = {}
    for given in paths:
        path = Path(given)
        if path.is_dir():
            root = dialplan_layout(path)[0]
            request = requests.setdefault(root.resolve(), _Request(root))
            request.whole = True
        elif path.is_file():
            root = _root_of(path)
            request = requests.setdefault(root.resolve(), _Request(root))
            if path.name in CATALOG_FILES:
                request.catalog.add(path.name)
            else:
                request.flow_files.append(path)
        else:
            message = "no such file or folder" if not path.exists() else "not a file or folder"
            findings.append(finding("io-error", str(path), START, message))
    files: list[str] = []
    for request in requests.values():
        request_findings, request_files = _lint_request(request, sounds)
        findings.extend(request_findings)
        files.extend(request_files)
    return LintReport(_finish(findings), tuple(dict.fromkeys(files)))


def _lint_request(request: _Request, sounds: Path | None) -> tuple[list[Finding], list[str]]:
    dialplan, load_findings = read_dialplan(request.root)
    loaded = dict(dialplan.loaded)
    present = dict(dialplan.flow_files)
    explicit: set[Path] = set()
    checked: set[str] = set()
    findings: list[Finding] = []
    files: list[str] = []
    in_folder = {Path(file).resolve(): flow_id for flow_id, file in dialplan.flow_files.items()}
    for path in request.flow_files:
        resolved = path.resolve()
        explicit.add(resolved)
        files.append(str(path))
        if resolved in in_folder:
            if in_folder[resolved] in loaded:
                checked.add(in_folder[resolved])
            continue
        # A flow file outside the flows folder: checked with the folder's flows as company.
        flow, errors = read_flow(path)
        findings.extend(errors)
        present[path.stem] = str(path)
        if flow is not None:
            loaded[flow.model.id] = flow
            checked.add(flow.model.id)
    catalog = set(request.catalog)
    if request.whole:
        checked |= set(dialplan.loaded)
        catalog |= {name for name in CATALOG_FILES if (dialplan.root / name).exists()}
        files.extend(dialplan.flow_files.values())
        if ENTRY_FLOW not in dialplan.flow_files:
            findings.append(missing_main(dialplan))
    files.extend(str(dialplan.root / name) for name in sorted(request.catalog))
    if request.whole:
        files.extend(str(dialplan.root / name) for name in CATALOG_FILES if name in catalog)
    catalog_files = {(dialplan.root / name).resolve() for name in catalog}
    for item in load_findings:
        resolved = Path(item.file).resolve()
        if request.whole or resolved in explicit or resolved in catalog_files:
            findings.append(item)
    # Every finding at once: a flow refused for a field error is repaired for the rules.
    blind_files: set[str] = set()
    for flow_id, file in present.items():
        if flow_id in loaded or not (request.whole or Path(file).resolve() in explicit):
            continue
        salvaged = salvage_flow_file(Path(file))
        if salvaged is None:
            continue
        repaired, stand_ins = salvaged
        loaded[repaired.model.id] = repaired
        checked.add(repaired.model.id)
        if stand_ins:
            blind_files.add(repaired.file)
    dialplan = dataclasses.replace(
        dialplan, loaded=MappingProxyType(loaded), flow_files=MappingProxyType(present)
    )
    for item in lint_dialplan(dialplan, flows=checked, catalog=catalog, sounds=sounds):
        if item.rule in STAND_IN_BLIND and item.file in blind_files:
            continue
        findings.append(item)
    return findings, files
