"""Benchmarks for producer-pool: `make bench` (or `producer-pool bench`) regenerates docs/benchmarks.*."""
