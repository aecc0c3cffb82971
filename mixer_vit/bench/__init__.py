"""Throughput, FLOPs and utilisation measurements."""
