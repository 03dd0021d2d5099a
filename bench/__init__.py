"""Benchmarks of the image-absence monitor (not part of the installed package)."""
