"""callpop's benchmarks: `python -m bench --quick|--full` (`make bench-quick`, `make bench`).

Each benchmark is a module with one job; `report` writes the markdown table, the
machine it ran on and the exact commands, and the JSON. Timings live here only: the
test suite asserts behaviour, never speed (tests/bench/ only checks the harness runs).
"""
