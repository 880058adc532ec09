"""FastAGI routes, one module each (`agi://host:4573/<name>`), as wazo-agid's modules."""

from agi_scripts.routes.connected import connected_route
from agi_scripts.routes.ivr import ivr_route
from agi_scripts.routes.survey import survey_route

__all__ = ["connected_route", "ivr_route", "survey_route"]
