"""The checked flow model (`ivr.flow`, pydantic) compiled to the form calls walk
(`ivr.callflow`, plain frozen values): once per loaded dialplan, by whoever loaded it.

Each model class has its compiled class of the same name (a named tuple); its fields
are copied one for one, nested models compiled in turn, lists as tuples. A model class with no compiled
form (a new kind of node added to `ivr.flow` only) is refused with its name, and
tests/ivr/test_callflow.py fails for it before any call could.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from ivr import callflow, flow
from ivr.compiled import CompiledFlows
from ivr.version import DialplanVersion

__all__ = ["CompileError", "compile_flow", "compile_flows", "compiled_class"]


class CompileError(TypeError):
    """A model class without its compiled form in `ivr.callflow`."""


def compiled_class(model: type[BaseModel]) -> type[Any]:
    """The class of `ivr.callflow` that `model` (a class of `ivr.flow`) compiles to."""
    found = getattr(callflow, model.__name__, None)
    if model.__module__ != flow.__name__ or not (
        isinstance(found, type) and issubclass(found, tuple) and hasattr(found, "_fields")
    ):
        raise CompileError(
            f"{model.__module__}.{model.__name__} has no compiled form in ivr.callflow"
        )
    return found


def _compiled(value: Any) -> Any:
    if isinstance(value, BaseModel):
        target = compiled_class(type(value))
        return target(**{name: _compiled(getattr(value, name)) for name in target._fields})
    if isinstance(value, dict):
        return {key: _compiled(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return tuple(_compiled(item) for item in value)
    return value


def compile_flow(model: flow.Flow) -> callflow.Flow:
    compiled: callflow.Flow = _compiled(model)
    return compiled


def compile_flows(
    flows: Mapping[str, flow.Flow], version: DialplanVersion | None = None
) -> CompiledFlows:
    """The flows a call may walk, compiled, as the engine takes them."""
    return CompiledFlows(
        {flow_id: compile_flow(model) for flow_id, model in flows.items()}, version
    )
