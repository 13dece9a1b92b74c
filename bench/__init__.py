"""Benchmarks that print ratios measured in the same run: ``python -m bench``."""
