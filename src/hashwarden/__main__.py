"""`python -m hashwarden` runs the CLI."""

from hashwarden.cli import main

main()
