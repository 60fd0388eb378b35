"""The search over variant subsets and model hyperparameters (work in progress, issue 4).

Modules: :mod:`~genopt.search.types` (what a candidate and its evaluation are),
:mod:`~genopt.search.fitness` (cross-validated AUC: a fast path for linear
models and a general scikit-learn path), :mod:`~genopt.search.space` (the
genome encoding) and :mod:`~genopt.search.engine` (pygad, random and grid
search behind one interface).
"""
