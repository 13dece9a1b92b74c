"""Use cases: the single entry point for pages, API, CLI and tests."""
