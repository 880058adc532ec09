"""FastAGI routes, one module each (`agi://host:4573/<name>`), as wazo-agid's modules:
`agi_scripts.routes.ivr`, `.connected`, `.survey`.

Nothing is imported here: the classic AGI script, a process per call, imports the IVR
route alone, and importing a submodule runs this file first."""
