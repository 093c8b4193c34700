"""Benchmarks of commentfeed against raw baselines measured in the same run.

Each benchmark is one command (``python -m bench.pipeline``, ``bench.fanout``,
``bench.connections``) that starts what it measures as separate processes, prints its figures
with the baseline's and the ratio last, and rewrites its results block in docs/benchmarks.md.
Pure helpers (percentiles, trends, report rendering, websocket framing) live in their own
modules and are unit-tested; everything else is process plumbing at the edges.
"""
