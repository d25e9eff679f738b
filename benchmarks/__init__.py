"""Benchmarks: `make bench` regenerates docs/benchmarks.* and the README's figures;
`make bench-quick` and `make bench-compare REV=...` are for development."""
