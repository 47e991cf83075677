"""The benchmarks: scripts run from a checkout (``python bench/NAME.py``, bench/README.md).

A package so that the tests import ``bench.learnability`` by name: pytest puts the checkout on the import
path (``pythonpath`` in pyproject.toml), as ``python -m`` does from the checkout.
"""
