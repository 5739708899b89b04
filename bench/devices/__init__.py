"""Device benchmarks and agreement checks: per-stage latency on a board, and intent agreement
between the CPU and another execution provider (OpenVINO, ARM64 under qemu, the RKNN simulator)."""
