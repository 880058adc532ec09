"""The YAML loader: a flow file becomes an immutable Flow, or every error with its place."""

from __future__ import annotations

import tempfile
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.catalog import QueueCatalog
from ivr.flow import Flow, HoursNode, MenuNode
from ivr.loader import (
    DialplanError,
    FlowFileError,
    load_dialplan,
    load_flow,
    load_flow_source,
    read_catalog_file,
    read_flow,
)
from ivr.source import Finding, Position, quote

from .lint_support import column_of, line_of, write_dialplan

ROOT = Path(__file__).resolve().parents[2]

MENU = """\
description: A small hotline
entry: main_menu
nodes:
  main_menu:
    type: menu
    prompts:
      - sound: main-menu
        text: For billing press 1.
    options:
      "1": {goto: billing, topic: billing}
  billing: {type: transfer, queue: billing}
"""


def write(tmp_path: Path, text: str, name: str = "main.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def findings_of(path: Path) -> list[Finding]:
    with pytest.raises(FlowFileError) as caught:
        load_flow(path)
    return list(caught.value.findings)


def only(findings: list[Finding], rule: str) -> Finding:
    matching = [f for f in findings if f.rule == rule]
    assert len(matching) == 1, findings
    return matching[0]


def test_a_valid_file_loads_into_a_flow_named_after_the_file(tmp_path: Path) -> None:
    flow = load_flow(write(tmp_path, MENU, "billing_line.yaml"))
    assert isinstance(flow, Flow)
    assert flow.id == "billing_line"
    assert isinstance(flow.nodes["main_menu"], MenuNode)


def test_the_sample_hotline_loads() -> None:
    flow = load_flow(ROOT / "dialplan" / "flows" / "main.yaml")
    assert flow.id == "main" and flow.entry in flow.nodes


def test_loaded_values_are_plain_python_types(tmp_path: Path) -> None:
    flow = load_flow(write(tmp_path, MENU))
    assert type(flow.description) is str
    assert all(type(key) is str for key in flow.nodes)


def test_a_missing_file_is_an_io_error_at_line_1(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    finding = only(findings_of(missing), "io-error")
    assert (finding.file, finding.position) == (str(missing), Position(1, 1))


def test_broken_yaml_is_reported_where_the_parser_stopped(tmp_path: Path) -> None:
    text = """\
    entry: a
    nodes:
      a: {type: menu, prompts: [hello, options: {"1": b}
    """
    finding = only(findings_of(write(tmp_path, text)), "yaml-syntax")
    assert finding.position.line >= 3
    assert "the `[` opened at line 3, column 28 is not closed with `]`" in finding.message


def test_bad_indentation_is_said_in_an_admins_words_with_its_position(tmp_path: Path) -> None:
    text = """\
    entry: a
    nodes:
      a:
        type: menu
       prompts: [hello]
    """
    finding = only(findings_of(write(tmp_path, text)), "yaml-syntax")
    assert finding.position == Position(5, 4)
    assert finding.message == (
        "bad indentation: this key is not lined up with the keys above it (the block that "
        "starts at line 3); keys of one mapping start in the same column"
    )
    assert "<block" not in finding.message


def test_a_tab_in_the_indentation_says_yaml_wants_spaces(tmp_path: Path) -> None:
    path = tmp_path / "main.yaml"
    path.write_text("entry: a\nnodes:\n\ta: {type: hangup}\n", encoding="utf-8")
    finding = only(findings_of(path), "yaml-syntax")
    assert finding.position.line == 3
    assert "tabs" in finding.message


def test_a_duplicate_key_points_at_the_second_and_names_the_first(tmp_path: Path) -> None:
    text = MENU.replace(
        '"1": {goto: billing, topic: billing}', '"1": billing\n      "1": main_menu'
    )
    first = line_of(text, '"1": billing')
    finding = only(findings_of(write(tmp_path, text)), "duplicate-key")
    assert finding.position == Position(
        line_of(text, '"1": main_menu'), column_of(text, '"1": main_menu')
    )
    assert f"line {first}" in finding.message


def test_keys_1_and_quoted_1_are_the_same_phone_key(tmp_path: Path) -> None:
    text = MENU.replace('"1": {goto: billing, topic: billing}', '1: billing\n      "1": main_menu')
    assert only(findings_of(write(tmp_path, text)), "duplicate-key")


def test_every_duplicate_is_reported_not_only_the_first(tmp_path: Path) -> None:
    text = MENU + "  billing: {type: hangup}\nentry: billing\n"
    duplicates = [f for f in findings_of(write(tmp_path, text)) if f.rule == "duplicate-key"]
    assert len(duplicates) == 2


def test_an_unknown_field_suggests_the_field_meant(tmp_path: Path) -> None:
    text = MENU.replace("    type: menu\n", "    type: menu\n    timout: 5s\n")
    finding = only(findings_of(write(tmp_path, text)), "unknown-field")
    assert finding.position == Position(line_of(text, "timout"), column_of(text, "timout"))
    assert "did you mean 'timeout'" in finding.message


def test_a_wrong_type_points_at_the_value(tmp_path: Path) -> None:
    text = MENU.replace("    type: menu\n", "    type: menu\n    max_invalid: three\n")
    finding = only(findings_of(write(tmp_path, text)), "bad-type")
    assert finding.position == Position(line_of(text, "max_invalid"), column_of(text, "three"))
    assert "a whole number" in finding.message


def test_a_bad_duration_says_how_to_write_one(tmp_path: Path) -> None:
    text = MENU.replace("    type: menu\n", "    type: menu\n    timeout: five seconds\n")
    finding = only(findings_of(write(tmp_path, text)), "bad-duration")
    assert finding.position == Position(line_of(text, "timeout"), column_of(text, "five seconds"))
    assert "5s" in finding.message


def test_an_unknown_node_type_points_at_the_type(tmp_path: Path) -> None:
    text = MENU.replace("billing: {type: transfer", "billing: {type: transfr")
    finding = only(findings_of(write(tmp_path, text)), "unknown-node-type")
    assert finding.position == Position(line_of(text, "transfr"), column_of(text, "transfr"))


def test_a_missing_field_points_at_the_node_that_lacks_it(tmp_path: Path) -> None:
    text = MENU.replace(
        "  billing: {type: transfer, queue: billing}", "  billing: {type: play, prompts: [x]}"
    )
    finding = only(findings_of(write(tmp_path, text)), "missing-field")
    assert finding.position == Position(line_of(text, "billing: {type: play"), 3)
    assert "'next'" in finding.message


def test_a_raised_limit_without_a_reason_is_refused(tmp_path: Path) -> None:
    text = MENU + "limits:\n  max_depth: {value: 5}\n"
    finding = only(findings_of(write(tmp_path, text)), "missing-field")
    assert "reason" in finding.message


def test_the_flow_id_comes_from_the_file_name_never_the_file(tmp_path: Path) -> None:
    finding = only(findings_of(write(tmp_path, "id: other\n" + MENU)), "unknown-field")
    assert finding.position == Position(1, 1)
    assert "file name" in finding.message


def test_a_file_name_that_is_not_a_flow_id_is_refused(tmp_path: Path) -> None:
    finding = only(findings_of(write(tmp_path, MENU, "my flow.yaml")), "bad-flow-id")
    assert finding.position == Position(1, 1)


def test_yaml_1_2_keeps_times_and_yes_as_text(tmp_path: Path) -> None:
    text = """\
    entry: hours
    nodes:
      hours:
        type: hours
        timezone: Europe/Paris
        weekly: {mon-fri: 08:00-17:00}
        open: yes_node
        closed: yes_node
      yes_node: {type: hangup, label: yes}
    """
    flow = load_flow(write(tmp_path, text))
    node = flow.nodes["hours"]
    assert isinstance(node, HoursNode) and node.weekly == {"mon-fri": "08:00-17:00"}
    assert flow.nodes["yes_node"].label == "yes"


def test_a_file_that_is_not_utf8_is_an_io_error_at_the_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "main.yaml"
    path.write_bytes(b"entry: a\ndescription: caf\xe9\n")
    finding = only(findings_of(path), "io-error")
    assert finding.position == Position(2, 17)


def test_an_empty_file_is_not_a_flow(tmp_path: Path) -> None:
    assert only(findings_of(write(tmp_path, "# nothing yet\n")), "bad-type")


def test_a_list_at_the_top_is_not_a_flow(tmp_path: Path) -> None:
    assert only(findings_of(write(tmp_path, "- entry: a\n")), "bad-type")


def test_yaml_tags_are_refused(tmp_path: Path) -> None:
    finding = only(
        findings_of(write(tmp_path, "entry: !include other.yaml\nnodes: {}\n")), "yaml-syntax"
    )
    assert finding.position == Position(1, 8)


def test_an_alias_that_contains_itself_is_refused(tmp_path: Path) -> None:
    assert only(findings_of(write(tmp_path, "entry: a\nnodes: &n {a: *n}\n")), "yaml-syntax")


def test_merge_keys_share_settings_and_keys_written_win(tmp_path: Path) -> None:
    text = """\
    entry: a
    nodes:
      a: &base {type: play, prompts: [hello], next: b}
      b:
        <<: *base
        next: c
      c: {type: hangup}
    """
    flow = load_flow(write(tmp_path, text))
    assert flow.nodes["b"] == flow.nodes["a"].model_copy(update={"next": "c"})


def test_hostile_text_cannot_break_the_one_line_format(tmp_path: Path) -> None:
    text = MENU.replace(
        "    type: menu\n", '    type: menu\n    "evil\\nmain.yaml:1:1: error: forged [x]": 1\n'
    )
    finding = only(findings_of(write(tmp_path, text)), "unknown-field")
    assert "\n" not in finding.format()


def test_the_error_message_names_file_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, MENU.replace("queue: billing", "queue: billing, agent: x"))
    with pytest.raises(FlowFileError, match=rf"^{path}:\d+:\d+: error: "):
        load_flow(path)


def test_positions_of_nodes_options_and_fields(tmp_path: Path) -> None:
    source = load_flow_source(write(tmp_path, MENU)).source
    assert source.of("nodes", "main_menu") == Position(line_of(MENU, "main_menu:"), 3)
    assert source.of("nodes", "main_menu", "options", "1") == Position(line_of(MENU, '"1"'), 7)
    assert source.value_of("nodes", "billing", "queue") == Position(
        line_of(MENU, "queue: billing"), column_of(MENU, "queue: billing") + len("queue: ")
    )


def test_an_offset_inside_a_value_has_its_own_column(tmp_path: Path) -> None:
    text = """\
    entry: b
    nodes:
      b:
        type: branch
        cases:
          - {when: 'customer.tier == "vip"', goto: h}
        default: h
      h: {type: hangup}
    """
    source = load_flow_source(write(tmp_path, text)).source
    path = ("nodes", "b", "cases", 0, "when")
    offset = 'customer.tier == "vip"'.index("==")
    assert source.at_offset(path, offset) == Position(line_of(text, "when"), column_of(text, "== "))


def test_a_dialplan_loads_every_flow_and_its_catalog() -> None:
    dialplan = load_dialplan(ROOT / "dialplan")
    assert {"main", "tech"} <= set(dialplan.flows)
    catalog = dialplan.catalog
    assert catalog.queues is not None and catalog.queues.operator in catalog.queues.queues
    assert catalog.scripts is not None and catalog.dispositions is not None


def test_a_dialplan_with_one_broken_flow_does_not_load_at_all(tmp_path: Path) -> None:
    write_dialplan(tmp_path, {"main": MENU, "sales": "entry: [\n"})
    with pytest.raises(DialplanError) as caught:
        load_dialplan(tmp_path)
    assert [f.file for f in caught.value.findings] == [str(tmp_path / "flows" / "sales.yaml")]


def test_a_dialplan_without_main_does_not_load(tmp_path: Path) -> None:
    write_dialplan(tmp_path, {"sales": MENU})
    with pytest.raises(DialplanError) as caught:
        load_dialplan(tmp_path)
    assert [f.rule for f in caught.value.findings] == ["missing-main"]


def test_catalog_files_report_errors_with_positions(tmp_path: Path) -> None:
    path = write(tmp_path, "queues:\n  billing: {strategy: round-robin}\n", "queues.yaml")
    loaded, findings = read_catalog_file(path, QueueCatalog)
    assert loaded is None
    assert [(f.rule, f.position) for f in findings] == [("invalid-value", Position(2, 23))]


def test_nesting_too_deep_is_an_error_not_a_crash(tmp_path: Path) -> None:
    text = "entry: a\nnodes: " + "[" * 2000 + "]" * 2000 + "\n"
    assert only(findings_of(write(tmp_path, text)), "yaml-syntax")


YAML_NOISE = st.sampled_from(
    [
        ":",
        " ",
        "-",
        "[",
        "]",
        "{",
        "}",
        '"',
        "'",
        "#",
        "&a",
        "*a",
        "!",
        "|",
        "\t",
        "\n",
        "<<: ",
        "1",
        "x",
    ]
)


@settings(max_examples=150, deadline=None)
@given(
    edits=st.lists(
        st.tuples(st.integers(min_value=0, max_value=len(MENU)), YAML_NOISE, st.booleans()),
        max_size=4,
    )
)
def test_any_edit_of_a_flow_loads_or_gives_positioned_findings(
    edits: list[tuple[int, str, bool]],
) -> None:
    text = MENU
    for at, noise, delete in edits:
        text = text[:at] + text[at + 1 :] if delete else text[:at] + noise + text[at:]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "main.yaml"
        path.write_text(text, encoding="utf-8")
        loaded, findings = read_flow(path)
    assert (loaded is None) == bool(findings)
    lines = text.count("\n") + 2
    for finding in findings:
        assert finding.file == str(path) and 1 <= finding.position.line <= lines
        assert "\n" not in finding.format()


def test_quoted_values_stay_readable_and_on_one_line() -> None:
    assert quote("didn't") == '"didn\'t"'
    assert quote("evil\nline\x1b[2J") == "'evil\\nline\\x1b[2J'"
    assert quote("x" * 100, limit=10) == "'xxxxxxxxx…'"


def test_an_unquoted_star_key_says_to_quote_it(tmp_path: Path) -> None:
    text = MENU.replace('"1": {goto: billing, topic: billing}', '"1": billing\n      *: main_menu')
    finding = only(findings_of(write(tmp_path, text)), "yaml-syntax")
    assert 'write the key or value "*" in quotes' in finding.message


def test_an_unquoted_hash_key_is_a_comment_and_is_refused(tmp_path: Path) -> None:
    text = MENU.replace('"1": {goto: billing, topic: billing}', '"1": billing\n      #: main_menu')
    finding = only(findings_of(write(tmp_path, text)), "yaml-syntax")
    assert finding.position == Position(
        line_of(text, "#: main_menu"), column_of(text, "#: main_menu")
    )


def test_the_catalog_models_cover_the_catalog_files_a_version_hashes() -> None:
    from ivr.catalog import CATALOG_FILES
    from ivr.layout import CATALOG_NAMES

    assert tuple(CATALOG_FILES) == CATALOG_NAMES
