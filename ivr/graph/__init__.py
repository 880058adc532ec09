"""Diagrams of flows: `build` a model, then draw it as SVG, Mermaid or DOT.

`callpop graph` is the front door; the model is shared so the three formats
always show the same tree.
"""

from __future__ import annotations

from ivr.graph.model import Diagram, DiagramEdge, DiagramNode, build

__all__ = ["Diagram", "DiagramEdge", "DiagramNode", "build"]
