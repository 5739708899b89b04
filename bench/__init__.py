"""Benchmarks: each writes a JSON result (machine, versions, command) under bench/results/."""
