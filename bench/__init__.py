"""Benchmark harness: the service's own cost per message against bare aiohttp handlers (issue 7).

Run `python -m bench` (see docs/benchmarks.md). Not part of the test suite: speed is measured here,
never asserted in tests.
"""
