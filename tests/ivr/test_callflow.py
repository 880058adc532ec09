"""The flow model compiles to the form calls walk (`ivr.callflow`), field for field, for
every kind of node: a step added to the model without its compiled form fails here."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from ivr import callflow, flow
from ivr.compile_flow import CompileError, compile_flow, compiled_class
from ivr.lint import check_dialplan

SAMPLE = Path(__file__).resolve().parents[2] / "dialplan"


def model_classes() -> list[type[BaseModel]]:
    """Every model class of `ivr.flow`: the node kinds and what they are made of."""
    return [
        value
        for value in vars(flow).values()
        if isinstance(value, type)
        and issubclass(value, BaseModel)
        and value.__module__ == flow.__name__
        and not value.__name__.startswith("_")
    ]


def node_classes() -> list[type[BaseModel]]:
    (union, _) = typing.get_args(flow.Node)
    return list(typing.get_args(union))


def test_every_kind_of_node_in_the_model_is_a_node_the_engine_walks() -> None:
    kinds = {cls.model_fields["type"].annotation.__args__[0] for cls in node_classes()}  # type: ignore[union-attr]
    assert kinds == set(flow.NODE_KINDS)
    compiled = {compiled_class(cls) for cls in node_classes()}
    assert compiled == set(typing.get_args(callflow.Node))


@pytest.mark.parametrize("model", model_classes(), ids=lambda cls: cls.__name__)
def test_a_model_class_compiles_to_a_class_with_the_same_fields(model: type[BaseModel]) -> None:
    target = compiled_class(model)
    assert set(target._fields) == set(model.model_fields)


def test_a_model_class_without_a_compiled_form_is_refused_by_name() -> None:
    class SurveyNode(flow._NodeBase):  # as a new step would be, before its compiled form
        type: typing.Literal["survey"]

    SurveyNode.__module__ = flow.__name__
    with pytest.raises(CompileError, match=r"ivr\.flow\.SurveyNode has no compiled form"):
        compiled_class(SurveyNode)


def test_the_sample_dialplan_compiles_value_for_value() -> None:
    for flow_id, model in check_dialplan(SAMPLE).flows.items():
        compiled = compile_flow(model)
        assert compiled.id == flow_id
        for node_id, node in model.nodes.items():
            assert as_plain(compiled.nodes[node_id]) == node.model_dump(), node_id
        assert as_plain(compiled.settings) == model.settings.model_dump()
        assert compiled.global_keys() == model.global_keys()


def as_plain(value: object) -> object:
    """A compiled value as `model_dump` gives its model: dicts of fields, tuples kept."""
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return {name: as_plain(getattr(value, name)) for name in value._fields}
    if isinstance(value, dict):
        return {key: as_plain(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return tuple(as_plain(item) for item in value)
    return value
