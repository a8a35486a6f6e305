"""`python -m evpm.cli`: the `evpm` command."""

from evpm.cli import main

main()
