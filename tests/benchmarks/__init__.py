"""Benchmark scripts (not pytest tests): each prints JSON and a short table. See RESULTS.md."""
