"""Benchmarks: `make bench` (or `producer-pool bench`) regenerates docs/benchmarks.*."""
