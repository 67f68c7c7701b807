"""``python -m assay.cli`` runs the ``assay`` command."""

from .main import main

main()
