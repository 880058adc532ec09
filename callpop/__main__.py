"""`python -m callpop` is the `callpop` command."""

from callpop.cli import main

main()
