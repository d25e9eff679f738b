"""Benchmarks: `make bench` regenerates docs/benchmarks.* and the README's figures;
`make bench-quick`, `make bench-compare REV=...` and `make bench-paired REV=...` are for
development."""
