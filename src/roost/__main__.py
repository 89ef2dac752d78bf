"""`python -m roost` runs the admin CLI."""

from roost.cli.main import main

main()
