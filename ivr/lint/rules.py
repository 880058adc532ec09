"""Every finding `callpop lint` can report: its id, severity and what it means.

The one-line `summary` is written for a telephony admin, not a Python programmer:
what is wrong and why a caller would suffer from it. `callpop lint --rules` lists them
and `callpop lint --explain RULE` prints one with its `detail`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ivr.source import Finding, Position, Severity

__all__ = ["RULES", "Rule", "finding"]


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    severity: Severity
    summary: str
    detail: str = ""


_ALL = (
    # Loading: the file cannot become a flow at all.
    Rule(
        "io-error",
        "error",
        "A file could not be read: missing, unreadable, a folder, or not UTF-8 text.",
    ),
    Rule(
        "yaml-syntax",
        "error",
        "The file is not valid YAML: bad indentation, a tab, an unclosed quote or bracket.",
        "YAML indents with spaces. Quote values that contain `: ` or start with `*`, `#`, `{`, `[`.",
    ),
    Rule(
        "duplicate-key",
        "error",
        "A key is written twice in one mapping; YAML would silently keep only one of them.",
        "Two options on the same key, or a node id used twice: the second would replace the first "
        'without a word. Option keys 1 and "1" are the same phone key.',
    ),
    Rule(
        "unknown-field",
        "error",
        "A field the format does not have, usually a typo; it would otherwise be ignored.",
        "A misspelt `timout:` would leave the default timeout in place while the file says otherwise.",
    ),
    Rule(
        "missing-field",
        "error",
        "A required field is missing: a node's type, a menu's options, a limit's reason...",
    ),
    Rule(
        "unknown-node-type",
        "error",
        "A node type other than menu, input, lookup, branch, hours, play, transfer, voicemail, hangup, goto.",
    ),
    Rule(
        "bad-type",
        "error",
        "A value of the wrong kind: text where a number belongs, a list where a mapping belongs.",
    ),
    Rule(
        "bad-duration",
        "error",
        "A duration not written as seconds (5) or with a unit (5s, 1500ms, 2m).",
    ),
    Rule(
        "invalid-value",
        "error",
        "A value the field does not allow: an id with spaces, a number out of range, a transfer with two targets.",
    ),
    Rule(
        "bad-flow-id",
        "error",
        "A flow file whose name is not a valid flow id (the flow id is the file name).",
    ),
    Rule(
        "missing-main",
        "error",
        "The dialplan has no flows/main.yaml; calls that name no flow run `main`.",
    ),
    # The 4x4 rule.
    Rule(
        "menu-depth",
        "error",
        "A menu more than 4 levels below the entry: callers lost in a deep tree hang up or press 0.",
        "Call-center practice: callers accept at most 4 menu levels of at most 4 choices. Levels count "
        "the menus a caller passes through from the entry (following goto into other flows); "
        "announcements, lookups and branches do not count. Fold two levels into one, or raise "
        '`limits.max_depth: {value: 5, reason: "..."}` in the flow file with a written reason.',
    ),
    Rule(
        "menu-options",
        "error",
        "A menu with more than 4 choices: callers cannot keep more in mind while listening.",
        "Global keys (operator 0, back *, repeat #) do not count. Options with `when:` count as if their "
        "conditions held together, except `name == literal` conditions on one name with different "
        "literals, which never do (only the largest such group counts). Group rare choices under one "
        'key or a sub-menu, or raise the menu\'s own `limits: {max_options: {value: 5, reason: "..."}}` '
        "(or the file's `limits.max_options`) with a written reason.",
    ),
    # The shape of the tree.
    Rule(
        "dangling-target",
        "error",
        "A target (option goto, next, found, open, default, on_failure...) names a node or flow that does not exist.",
        "A call that reaches it has nowhere to go; the engine would send the caller to the operator with an error.",
    ),
    Rule(
        "unreachable-node",
        "warning",
        "A node nothing leads to: dead text that misleads the next person who edits the flow.",
    ),
    Rule(
        "no-exit-loop",
        "error",
        "Nodes that send a caller round in circles: nothing to press and nothing that changes, or no way out at all.",
        "A play/branch/goto cycle with no menu or input replays the same announcements until max_steps "
        "cuts in; a set of menus with no option, failure path or operator key leading out traps the caller.",
    ),
    Rule(
        "no-agent-path",
        "warning",
        "A menu from which nothing a caller presses leads to a person (queue, extension or agent).",
        "With the operator key off, a caller whose need is not on the menu can only hang up.",
    ),
    # Keys.
    Rule("option-key", "error", "A key that is not one phone key: 0-9, * or #."),
    Rule(
        "shadowed-global-key",
        "warning",
        "A menu option on a global key (operator 0, back *, repeat #): that key does something else in this menu.",
        "The option wins in this menu, so a caller who learnt that 0 reaches a person everywhere is "
        "surprised here. Use another key, or turn the global key off in settings.keys.",
    ),
    Rule(
        "direct-dial-collision",
        "error",
        "An option key that a direct-dial extension can start with: the menu cannot tell the choice from an extension.",
        "The caller pressing the option waits for the inter-digit timeout while the menu waits for more digits.",
    ),
    # Time and patience.
    Rule(
        "timeout-range",
        "warning",
        "A timeout outside 2-15 s (between digits: 1-10 s): too short cuts callers off, too long is dead air.",
    ),
    Rule(
        "retries-range",
        "warning",
        "More than 5 attempts before the failure path: callers give up long before that.",
    ),
    # Expressions and schedules.
    Rule("bad-condition", "error", "A branch condition that does not parse."),
    Rule(
        "unknown-schedule",
        "error",
        "An hours node names a schedule that schedules.yaml does not define.",
    ),
    Rule(
        "bad-hours",
        "error",
        "Business hours with an unknown timezone, a day other than mon..sun, or a span not written HH:MM-HH:MM.",
    ),
    Rule(
        "unknown-variable",
        "error",
        "A lookup, condition or prompt reads a variable that no input node stores.",
        "Variables (`vars.X`) are what input nodes store; a misspelt name is always empty.",
    ),
    # Busy queues and floods.
    Rule(
        "queue-threshold",
        "warning",
        "A callback or overflow threshold that makes no sense: a callback offered to every "
        "caller or to none, an overflow that always fires, a callback an overflow before it "
        "makes unreachable.",
    ),
    Rule(
        "flood-message",
        "warning",
        "A flood node without a prompt for a message another flood node has: while that "
        "message is on, its callers hear nothing about it and take the usual path.",
    ),
    # Post-call surveys.
    Rule(
        "unknown-survey",
        "error",
        "A transfer names a survey that its flow's `surveys:` does not define.",
    ),
    Rule(
        "survey-questions",
        "error",
        "A survey with more than 5 questions: callers hang up on long surveys, and the "
        "answers of those who stay are not the callers' opinion.",
    ),
    Rule(
        "survey-not-queue",
        "error",
        "A survey on a transfer to an extension or an agent: only a queue call leaves the "
        "caller on the line when the agent hangs up (Queue option c), so nobody would hear it.",
    ),
    Rule(
        "unused-survey",
        "warning",
        "A survey that no transfer names: no caller ever hears it.",
    ),
    # PIN checks.
    Rule(
        "pin-unidentified",
        "error",
        "A pin node no call reaches after a lookup found the caller: it has nobody's PIN to "
        "check, so every caller goes to its failed target.",
    ),
    Rule(
        "secret-in-condition",
        "error",
        "A condition reads a sensitive entry (an input with sensitive: true): the flow file "
        "would hold the secret it compares with. PINs are checked by a pin node, through the CRM.",
    ),
    # The other dialplan files.
    Rule(
        "unknown-queue",
        "error",
        "A transfer to, or a condition on, a queue that queues.yaml does not define.",
    ),
    Rule(
        "unknown-topic",
        "warning",
        "A topic with no script in scripts.yaml: the agent gets no script for that call.",
    ),
    Rule(
        "unknown-disposition",
        "error",
        "A script step suggests a disposition code that dispositions.yaml does not define.",
    ),
    Rule(
        "missing-sound",
        "warning",
        "A prompt's sound file is not in the --sounds folder: callers would hear silence there.",
        "Asterisk plays NAME from NAME.wav, .gsm, .ulaw, .alaw, .sln, .g722 (and other formats) in its "
        "sounds folder; the finding quotes the prompt's text: so the recording can be made.",
    ),
)

RULES: Mapping[str, Rule] = MappingProxyType({rule.id: rule for rule in _ALL})


def finding(rule: str, file: str, position: Position, message: str) -> Finding:
    """A finding of `rule`, with the rule's severity."""
    return Finding(file, position, RULES[rule].severity, rule, message)
