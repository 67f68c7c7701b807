"""assay.cli: the `assay` command (typer); every verb is a thin wrapper over a library function."""
