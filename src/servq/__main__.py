"""``python -m servq`` runs the command line."""

from servq.cli.main import main

main()
