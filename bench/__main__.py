"""``python -m bench``: every benchmark, one run, ratios measured in that run."""

from bench.run import main

main()
