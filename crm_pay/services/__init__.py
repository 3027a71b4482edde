"""Use cases. Entry points (API, console, CLI, workers) call these; no HTTP here."""
