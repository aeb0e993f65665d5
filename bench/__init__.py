"""Benchmarks that print ratios against h11 measured in the same run (``python -m bench.run``)."""
