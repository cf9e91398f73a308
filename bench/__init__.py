"""Benchmarks: figures are printed, nothing is asserted on time (see ``python -m bench``)."""
