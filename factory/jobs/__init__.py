"""The jobs behind the entry points (`pipeline`, `train`, `promote`): library steps plus the MLflow logging.

The library (everything else under :mod:`factory`) never imports from here; the command line and the
MLproject entry points do.
"""
