"""Benchmarks: ``make bench`` or ``python -m bench [NAME ...]``.

Each benchmark prints its figures, compares them with a baseline measured
in the same run, and ends with one JSON line; results also go to
``bench/results/NAME.json``.
"""
