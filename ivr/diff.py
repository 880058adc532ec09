"""What changed between two versions of a dialplan, in the terms a client signs.

`callpop diff OLD NEW` and the sign-off pack (`callpop doc --against OLD`) are this
module behind a command line. It compares loaded models, never YAML text: moving a
node in the file, re-indenting or re-quoting changes nothing a caller hears, so it
is not a change; a key that now leads elsewhere, a prompt that says something else,
a queue priority or a holiday is.

Menu options are matched by where they lead before they are matched by key, so
"Technical support moved from key 2 to key 3" reads as one re-keyed option, not as
one option removed and another added; an option whose target now sits under another
menu is "moved". Everything a node has beyond options, prompts and hours is
compared field by field, so a field added to the flow format later is never missed.

Pure: no files, no git. The CLI loads both sides and hands them in as `Version`s.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from ivr.catalog import QueueCatalog, Schedule, ScheduleCatalog
from ivr.flow import DateRange, Flow, HoursNode, Limit, MenuNode, Option, Prompt, Weekly

__all__ = [
    "Change",
    "Version",
    "diff",
    "format_text",
    "option_text",
    "prompt_line",
    "summary_line",
    "value_text",
]

ChangeKind = Literal["added", "removed", "changed", "rekeyed", "moved"]

MARKS: Mapping[ChangeKind, str] = {
    "added": "+",
    "removed": "-",
    "changed": "~",
    "rekeyed": "~",
    "moved": "~",
}


@dataclass(frozen=True, slots=True)
class Version:
    """One side of a diff: its flows by id, its queue and schedule catalogs (None if absent)."""

    flows: Mapping[str, Flow]
    queues: QueueCatalog | None = None
    name: str = ""
    single: bool = False
    """A single flow file rather than a dialplan folder."""
    schedules: ScheduleCatalog | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """One difference. `scope` is `flow`, `queues` or `settings`-like groups:
    `where` names the flow (or `queues`), `node` the node or queue, `what` the
    aspect (`option`, `prompt`, `target`, `priority`, `hours`, `holiday`, `limit`,
    `node`, a field name ...). `before`/`after` are display text (None: absent)."""

    where: str
    node: str | None
    what: str
    kind: ChangeKind
    summary: str
    before: str | None = None
    after: str | None = None
    title: str | None = None
    """The node as people name it: `main_menu (Main menu)`, or the queue's name."""

    @property
    def mark(self) -> str:
        return MARKS[self.kind]


@dataclass(slots=True)
class _Out:
    where: str
    changes: list[Change] = field(default_factory=list)
    titles: dict[str, str] = field(default_factory=dict)

    def add(
        self,
        node: str | None,
        what: str,
        kind: ChangeKind,
        summary: str,
        before: str | None = None,
        after: str | None = None,
    ) -> None:
        title = None if node is None else self.titles.get(node, node)
        self.changes.append(Change(self.where, node, what, kind, summary, before, after, title))


# --- display text ---------------------------------------------------------------------------


def value_text(value: Any) -> str:
    """A model value as short, stable text (durations stay milliseconds: `5000 ms`)."""
    if isinstance(value, BaseModel):
        value = value.model_dump(exclude_defaults=True, by_alias=True)
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {value_text(v)}" for k, v in value.items()) + "}"
    return str(value)


def prompt_line(prompt: Prompt) -> str:
    """A prompt as `sound "text"` (or `digits {..}`)."""
    if prompt.sound is not None:
        return f'{prompt.sound} "{prompt.text}"' if prompt.text else prompt.sound
    if prompt.digits is not None:
        return f"digits {prompt.digits}"
    return f"number {prompt.number}"


def option_text(key: str, option: Option) -> str:
    label = f' "{option.label}"' if option.label else ""
    when = f" (only when {option.when})" if option.when else ""
    return f"key {key}{label} -> {option.goto}{when}"


def _node_title(node_id: str, label: str | None) -> str:
    return f"{node_id} ({label})" if label else node_id


# --- the diff --------------------------------------------------------------------------------


def diff(old: Version, new: Version) -> list[Change]:
    """Every difference from `old` to `new`, flows in id order, then queues, then
    named schedules (each change once, however many hours nodes use the schedule)."""
    changes: list[Change] = []
    for flow_id in sorted(set(old.flows) | set(new.flows)):
        out = _Out(flow_id)
        before, after = old.flows.get(flow_id), new.flows.get(flow_id)
        if before is None and after is not None:
            out.add(None, "flow", "added", f"flow {flow_id} added ({len(after.nodes)} nodes)")
        elif after is None and before is not None:
            out.add(None, "flow", "removed", f"flow {flow_id} removed")
        elif before is not None and after is not None:
            _flow(out, before, after)
            # One group per node, nodes in the new file's order (removed ones last).
            order = {
                n: i
                for i, n in enumerate(
                    [*after.nodes, *(n for n in before.nodes if n not in after.nodes)]
                )
            }
            out.changes.sort(key=lambda c: -1 if c.node is None else order.get(c.node, len(order)))
        changes += out.changes
    out = _Out("queues")
    _queues(out, old.queues, new.queues)
    changes += out.changes
    out = _Out("schedules")
    _schedules(out, old.schedules, new.schedules)
    return changes + out.changes


def _flow(out: _Out, old: Flow, new: Flow) -> None:
    for flow in (old, new):
        out.titles.update(
            {node_id: _node_title(node_id, node.label) for node_id, node in flow.nodes.items()}
        )
    if old.description != new.description:
        out.add(
            None,
            "description",
            "changed",
            "flow description changed",
            old.description,
            new.description,
        )
    if old.entry != new.entry:
        out.add(
            None,
            "entry",
            "changed",
            f"calls now start at {new.entry} (was {old.entry})",
            old.entry,
            new.entry,
        )
    _limits(
        out,
        None,
        [
            ("max_depth", old.limits.max_depth, new.limits.max_depth),
            ("max_options", old.limits.max_options, new.limits.max_options),
        ],
    )
    _fields(
        out,
        None,
        "setting",
        old.settings,
        new.settings,
        prompts=("invalid_prompts", "timeout_prompts"),
    )
    for name in ("invalid_prompts", "timeout_prompts"):
        _prompts(out, None, name, getattr(old.settings, name), getattr(new.settings, name))
    for node_id in sorted(set(old.nodes) - set(new.nodes)):
        node = old.nodes[node_id]
        out.add(
            node_id, "node", "removed", f"{node.type} {_node_title(node_id, node.label)} removed"
        )
    for node_id in sorted(set(new.nodes) - set(old.nodes)):
        node = new.nodes[node_id]
        out.add(node_id, "node", "added", f"{node.type} {_node_title(node_id, node.label)} added")
        for prompt in getattr(node, "prompts", ()):
            out.add(
                node_id,
                "prompt",
                "added",
                f"prompt {prompt_line(prompt)}",
                None,
                prompt_line(prompt),
            )
    _options(out, old, new)
    for node_id in [n for n in new.nodes if n in old.nodes]:
        _node(out, node_id, old.nodes[node_id], new.nodes[node_id])
    _surveys(out, old, new)


_SURVEY_PROMPTS = ("intro_prompts", "invalid_prompts", "timeout_prompts", "thanks_prompts")


def _surveys(out: _Out, old: Flow, new: Flow) -> None:
    """Post-call surveys: added or removed, their questions by id (added, removed, moved,
    prompts re-worded), their prompts and settings."""
    for name in sorted(set(old.surveys) - set(new.surveys)):
        out.add(None, "survey", "removed", f"survey {name} removed")
    for name in sorted(set(new.surveys) - set(old.surveys)):
        count = len(new.surveys[name].questions)
        out.add(None, "survey", "added", f"survey {name} added ({count} questions)")
    for name in [n for n in new.surveys if n in old.surveys]:
        before, after = old.surveys[name], new.surveys[name]
        for field_name in _SURVEY_PROMPTS:
            what = f"survey {name} {field_name.removesuffix('_prompts')} prompts"
            _prompts(out, None, what, getattr(before, field_name), getattr(after, field_name))
        old_ids = [q.id for q in before.questions]
        new_ids = [q.id for q in after.questions]
        for question in before.questions:
            if question.id not in new_ids:
                out.add(None, "survey", "removed", f"survey {name} question {question.id} removed")
        for question in after.questions:
            if question.id not in old_ids:
                out.add(None, "survey", "added", f"survey {name} question {question.id} added")
                for prompt in question.prompts:
                    out.add(
                        None,
                        "prompt",
                        "added",
                        f"prompt {prompt_line(prompt)}",
                        None,
                        prompt_line(prompt),
                    )
                continue
            was = before.questions[old_ids.index(question.id)]
            what = f"survey {name} question {question.id} prompts"
            _prompts(out, None, what, was.prompts, question.prompts)
            if was.label != question.label:
                out.add(
                    None,
                    "survey",
                    "changed",
                    f"survey {name} question {question.id} label: "
                    f"{value_text(was.label)} -> {value_text(question.label)}",
                    value_text(was.label),
                    value_text(question.label),
                )
        kept = [i for i in new_ids if i in old_ids]
        if kept != [i for i in old_ids if i in new_ids]:
            out.add(
                None,
                "survey",
                "changed",
                f"survey {name} asks in a new order: {', '.join(new_ids)}",
                ", ".join(old_ids),
                ", ".join(new_ids),
            )
        _fields(out, None, f"survey {name}", before, after, prompts=(*_SURVEY_PROMPTS, "questions"))


def _limits(
    out: _Out, node: str | None, pairs: Iterable[tuple[str, Limit | None, Limit | None]]
) -> None:
    """Raised 4x4 limits (a flow's, or a menu's own) with their reasons: (name, old, new)."""
    whats = {"max_depth": "menu levels", "max_options": "options per menu"}
    scope = " of this menu" if node is not None else ""
    for name, before, after in pairs:
        what = whats[name]
        if before == after:
            continue
        if after is None:
            assert before is not None
            out.add(
                node,
                "limit",
                "removed",
                f"limit {name}{scope} back to the default (was {before.value} {what})",
                f"{before.value}: {before.reason}",
                None,
            )
        elif before is None:
            out.add(
                node,
                "limit",
                "added",
                f"limit {name}{scope} raised to {after.value} {what}: {after.reason}",
                None,
                f"{after.value}: {after.reason}",
            )
        else:
            summary = f"limit {name}{scope} {before.value} -> {after.value} {what}"
            if before.reason != after.reason:
                summary += f"; reason now: {after.reason}"
            out.add(
                node,
                "limit",
                "changed",
                summary,
                f"{before.value}: {before.reason}",
                f"{after.value}: {after.reason}",
            )


_OptionAt = tuple[str, str, Option]  # (menu node, key, option)


def _menu_options(flow: Flow) -> list[_OptionAt]:
    return [
        (node_id, key, option)
        for node_id, node in flow.nodes.items()
        if isinstance(node, MenuNode)
        for key, option in node.options.items()
    ]


def _options(out: _Out, old: Flow, new: Flow) -> None:
    """Options of menus present in both versions, matched by target before key."""
    before = _menu_options(old)
    after = _menu_options(new)

    def pair(match: Any) -> Iterator[tuple[_OptionAt, _OptionAt]]:
        for a in list(before):
            for b in after:
                if match(a, b):
                    before.remove(a)
                    after.remove(b)
                    yield a, b
                    break

    for a, b in pair(lambda a, b: a[0] == b[0] and a[1] == b[1] and a[2].goto == b[2].goto):
        _option_fields(out, a, b)
    for a, b in pair(lambda a, b: a[0] == b[0] and a[2].goto == b[2].goto):
        out.add(
            a[0],
            "option",
            "rekeyed",
            f"{_label(a[2])} re-keyed: key {a[1]} -> key {b[1]}",
            option_text(a[1], a[2]),
            option_text(b[1], b[2]),
        )
        _option_fields(out, a, b)
    for a, b in pair(lambda a, b: a[0] != b[0] and a[2].goto == b[2].goto):
        out.add(
            b[0],
            "option",
            "moved",
            f"{_label(a[2])} moved from {a[0]} key {a[1]} to {b[0]} key {b[1]}",
            f"{a[0]} {option_text(a[1], a[2])}",
            f"{b[0]} {option_text(b[1], b[2])}",
        )
        _option_fields(out, a, b)
    for a, b in pair(lambda a, b: a[0] == b[0] and a[1] == b[1]):
        out.add(
            a[0],
            "option",
            "changed",
            f"key {a[1]} now leads to {b[2].goto} (was {a[2].goto})",
            option_text(a[1], a[2]),
            option_text(b[1], b[2]),
        )
        _option_fields(out, a, b, skip_goto=True)
    for node_id, key, option in before:
        if node_id not in new.nodes:
            continue  # the whole menu's removal says it
        out.add(
            node_id, "option", "removed", option_text(key, option), option_text(key, option), None
        )
    for node_id, key, option in after:
        out.add(
            node_id, "option", "added", option_text(key, option), None, option_text(key, option)
        )


def _label(option: Option) -> str:
    return f'"{option.label}"' if option.label else f"the option to {option.goto}"


def _option_fields(out: _Out, a: _OptionAt, b: _OptionAt, *, skip_goto: bool = False) -> None:
    old, new = a[2], b[2]
    for name in type(old).model_fields:
        before, after = getattr(old, name), getattr(new, name)
        if name == "goto" or before == after:
            continue
        if name == "prompts":
            _prompts(out, b[0], f"key {b[1]} prompts", before, after)
        elif name == "when":
            summary = (
                f"key {b[1]} now offered only when {after}"
                if before is None
                else f"key {b[1]} now offered to every caller (was only when {before})"
                if after is None
                else f"key {b[1]} offered when {after} (was when {before})"
            )
            out.add(b[0], "option", "changed", summary, before, after)
        else:
            out.add(
                b[0],
                "option",
                "changed",
                f"key {b[1]} {name}: {value_text(before)} -> {value_text(after)}",
                value_text(before),
                value_text(after),
            )


def _prompts(
    out: _Out,
    node: str | None,
    what: str,
    old: Iterable[Prompt] | None,
    new: Iterable[Prompt] | None,
) -> None:
    """Prompts matched by sound name: a changed text is the change a voice talent re-records."""
    before, after = list(old or ()), list(new or ())
    label = "prompt" if what == "prompts" else what.replace("_", " ").removesuffix("s")
    for b in list(after):
        match = next((a for a in before if a.sound is not None and a.sound == b.sound), None)
        if match is None:
            match = next((a for a in before if a == b), None)
        if match is None:
            continue
        before.remove(match)
        after.remove(b)
        if match.text != b.text:
            out.add(
                node,
                "prompt",
                "changed",
                f"{label} {b.sound or ''} text changed".replace("  ", " "),
                match.text,
                b.text,
            )
    for a in before:
        out.add(node, "prompt", "removed", f"{label} {prompt_line(a)}", prompt_line(a), None)
    for b in after:
        out.add(node, "prompt", "added", f"{label} {prompt_line(b)}", None, prompt_line(b))


_TARGET_FIELDS = frozenset(
    {
        "queue",
        "extension",
        "agent",
        "mailbox",
        "next",
        "open",
        "closed",
        "holiday",
        "found",
        "not_found",
        "unavailable",
        "several",
        "on_failure",
        "default",
        "flow",
        "node",
    }
)
_PROMPT_FIELDS = ("prompts", "invalid_prompts", "timeout_prompts")


def _node(out: _Out, node_id: str, old: Any, new: Any) -> None:
    if old.type != new.type:
        out.add(
            node_id,
            "node",
            "changed",
            f"{node_id} is now a {new.type} (was a {old.type})",
            old.type,
            new.type,
        )
        return
    for name in _PROMPT_FIELDS:
        if name in type(old).model_fields:
            _prompts(out, node_id, name, getattr(old, name), getattr(new, name))
    skip_hours: tuple[str, ...] = ("weekly", "holidays")
    if isinstance(old, HoursNode) and isinstance(new, HoursNode):
        if old.schedule is None and new.schedule is None:
            _hours(out, node_id, _inline(old), _inline(new))
        else:
            # A named schedule's hours are the schedule's: reported once, under schedules.
            skip_hours = ("timezone", "weekly", "holidays")
    if isinstance(old, MenuNode) and isinstance(new, MenuNode):
        before = old.limits.max_options if old.limits else None
        after = new.limits.max_options if new.limits else None
        _limits(out, node_id, [("max_options", before, after)])
    skip = (*_PROMPT_FIELDS, "options", *skip_hours, "type", "limits")
    _fields(out, node_id, "", old, new, prompts=skip)


def _fields(
    out: _Out,
    node: str | None,
    prefix: str,
    old: BaseModel,
    new: BaseModel,
    *,
    prompts: Iterable[str],
) -> None:
    """Every other field, one change each; nested models are compared whole."""
    skipped = set(prompts)
    for name in type(old).model_fields:
        if name in skipped:
            continue
        a, b = getattr(old, name), getattr(new, name)
        if a == b:
            continue
        key = type(old).model_fields[name].alias or name
        what = "target" if key in _TARGET_FIELDS else key
        if key == "priority":
            what = "priority"
        subject = f"{prefix} {key}".strip()
        out.add(
            node,
            what,
            "changed",
            f"{subject}: {value_text(a)} -> {value_text(b)}",
            value_text(a),
            value_text(b),
        )


@dataclass(frozen=True, slots=True)
class _Hours:
    """What an inline hours node or a named schedule says about when it is open."""

    weekly: Weekly
    holidays: tuple[DateRange, ...]


def _inline(node: HoursNode) -> _Hours:
    return _Hours(node.hours()[1], node.holidays)


def _hours(out: _Out, node_id: str, old: _Hours, new: _Hours) -> None:
    """Weekly spans and holidays, day by day and date by date."""
    for day in [d for d in old.weekly if d not in new.weekly]:
        out.add(
            node_id,
            "hours",
            "removed",
            f"hours {day} {_span(old.weekly[day])} removed (closed)",
            f"{day} {_span(old.weekly[day])}",
            None,
        )
    for day, spans in new.weekly.items():
        if day not in old.weekly:
            out.add(
                node_id,
                "hours",
                "added",
                f"hours {day} {_span(spans)} added",
                None,
                f"{day} {_span(spans)}",
            )
        elif old.weekly[day] != spans:
            out.add(
                node_id,
                "hours",
                "changed",
                f"hours {day}: {_span(old.weekly[day])} -> {_span(spans)}",
                f"{day} {_span(old.weekly[day])}",
                f"{day} {_span(spans)}",
            )
    # Compared as text: a date prints as 2026-12-25, and so would any other holiday form.
    before, after = {str(h) for h in old.holidays}, {str(h) for h in new.holidays}
    for holiday in sorted(before - after):
        out.add(
            node_id, "holiday", "removed", f"holiday {holiday} removed (open that day)", holiday
        )
    for holiday in sorted(after - before):
        out.add(
            node_id, "holiday", "added", f"holiday {holiday} added (closed that day)", None, holiday
        )


def _span(spans: str | tuple[str, ...]) -> str:
    return spans if isinstance(spans, str) else ", ".join(spans)


def _schedules(out: _Out, old: ScheduleCatalog | None, new: ScheduleCatalog | None) -> None:
    if old == new:
        return
    before: Mapping[str, Schedule] = old.schedules if old else {}
    after: Mapping[str, Schedule] = new.schedules if new else {}
    for name in sorted(set(before) - set(after)):
        out.add(name, "schedule", "removed", f"schedule {name} removed")
    for name in sorted(set(after) - set(before)):
        out.add(name, "schedule", "added", f"schedule {name} added ({after[name].timezone})")
    for name in sorted(set(before) & set(after)):
        a, b = before[name], after[name]
        _hours(out, name, _Hours(a.weekly, a.holidays), _Hours(b.weekly, b.holidays))
        for key in ("timezone", "description"):
            if getattr(a, key) != getattr(b, key):
                was, now = value_text(getattr(a, key)), value_text(getattr(b, key))
                out.add(name, key, "changed", f"schedule {name} {key}: {was} -> {now}", was, now)


def _queues(out: _Out, old: QueueCatalog | None, new: QueueCatalog | None) -> None:
    if old == new:
        return
    before = old.queues if old else {}
    after = new.queues if new else {}
    if old is not None and new is not None and old.operator != new.operator:
        out.add(
            None,
            "operator",
            "changed",
            f"operator queue: {old.operator} -> {new.operator}",
            old.operator,
            new.operator,
        )
    for name in sorted(set(before) - set(after)):
        out.add(name, "queue", "removed", f"queue {name} removed")
    for name in sorted(set(after) - set(before)):
        queue = after[name]
        out.add(
            name,
            "queue",
            "added",
            f"queue {name} added ({queue.strategy}, {len(queue.members)} members)",
        )
    for name in sorted(set(before) & set(after)):
        _fields(out, name, f"queue {name}", before[name], after[name], prompts=())


# --- text ------------------------------------------------------------------------------------

_LONG = 60  # before/after longer than this (a prompt's text) get a line each


def summary_line(changes: Iterable[Change]) -> str:
    """`7 changes: 2 added, 1 removed, 4 changed`, or `no changes`."""
    counts = {"added": 0, "removed": 0, "changed": 0}
    for change in changes:
        counts[change.kind if change.kind in counts else "changed"] += 1
    total = sum(counts.values())
    if total == 0:
        return "no changes"
    return f"{total} change{'s' if total != 1 else ''}: " + ", ".join(
        f"{n} {k}" for k, n in counts.items()
    )


def format_text(changes: Iterable[Change]) -> list[str]:
    """The changes for people: grouped by flow, then by node (or queue), one line each;
    a long text that changed (a prompt) is shown as it was and as it is now."""
    lines: list[str] = []
    where: str | None = None
    node: str | Literal[False] | None = False
    for change in changes:
        if change.where != where:
            where, node = change.where, False
            lines.append(where if where in ("queues", "schedules") else f"flow {where}")
        if change.node != node:
            node = change.node
            if node is not None:
                lines.append(f"  {change.title or node}")
        indent = "    " if change.node is not None else "  "
        lines.append(f"{indent}{change.mark} {change.summary}")
        long = len(change.before or "") > _LONG or len(change.after or "") > _LONG
        if change.kind == "changed" and (long or change.what in ("prompt", "description")):
            lines.append(f"{indent}    was: {change.before}")
            lines.append(f"{indent}    now: {change.after}")
    return lines
