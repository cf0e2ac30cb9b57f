"""Evaluation: click-simulation protocol, metrics, baselines, benchmarks."""
