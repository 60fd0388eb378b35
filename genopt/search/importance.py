"""Which search settings mattered: hyperparameter importance from the evaluated history.

:func:`hyperparameter_importance` fits a random forest (scikit-learn) that
predicts each evaluation's mean CV AUC from its model family, its number of
variants and its hyperparameters, and reports the permutation importance of
each of these on rows the forest was not fitted on (k-fold cross-fitting):
the increase of the held-out mean squared error when that feature's values
are shuffled, clipped at 0 and normalised to sum 1. A hyperparameter that a
family does not use (``C`` for ridge, ``alpha`` for the logistic families, ...)
is missing for that family's evaluations: the forest sees a value below its
range there (so it can split "used / not used"), and the hyperparameter is
shuffled only among the evaluations whose family uses it, so its importance is
that of its value, not of the family. The family's one-hot columns are shuffled
together across all evaluations.

The evaluations are what the search chose to evaluate (not a designed
experiment): the GA concentrates on good regions, so importances describe the
explored part of the space, and an importance is only as good as the forest's
held-out R^2 (reported in ``how``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from genopt.search.types import Evaluation

__all__ = ["IMPORTANCE_COLUMNS", "MIN_EVALUATIONS", "hyperparameter_importance"]

#: Columns of the importance table (``hyperparameter_importance.tsv``).
IMPORTANCE_COLUMNS = ("parameter", "importance", "how")
#: Fewer evaluations (with a finite mean CV AUC) than this: no importance is estimated.
MIN_EVALUATIONS = 10
_N_TREES = 200
_N_SPLITS = 5
_N_REPEATS = 5


def _table(names: list[str], importance: npt.NDArray[np.float64], how: list[str]) -> pd.DataFrame:
    table = pd.DataFrame({"parameter": names, "importance": importance, "how": how}, columns=list(IMPORTANCE_COLUMNS))
    order = np.lexsort((np.arange(len(names)), -np.nan_to_num(importance, nan=-np.inf)))
    return table.iloc[order].reset_index(drop=True)


def hyperparameter_importance(evaluations: Sequence[Evaluation], seed: int) -> pd.DataFrame:
    """Importance of the family, the number of variants and each hyperparameter for the mean CV AUC.

    Parameters
    ----------
    evaluations
        The search's evaluations (e.g. :attr:`SearchResult.evaluations`);
        those with a non-finite mean CV AUC are left out.
    seed
        Seeds the forest, the cross-fitting folds and the shuffles. Same seed,
        same table.

    Returns
    -------
    DataFrame with columns :data:`IMPORTANCE_COLUMNS`, one row per feature:
    ``family``, ``n_variants`` and every hyperparameter name that occurs
    (``alpha``, ``C``, ``l1_ratio``, ``learning_rate``, ``max_depth``, ...),
    sorted by importance (descending, NaN last). ``importance`` sums to 1 over
    the rows that have one; it is NaN, with the reason in ``how``, for a
    feature that takes a single value (e.g. ``family`` when one family was
    searched), or for every row when there are fewer than
    :data:`MIN_EVALUATIONS` evaluations, the mean CV AUC is constant, or no
    feature's shuffling worsens the held-out prediction.
    """
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.model_selection import KFold

    evs = [e for e in evaluations if np.isfinite(e.mean_auc)]
    n_dropped = len(evaluations) - len(evs)
    families = sorted({e.candidate.family for e in evs})
    params = sorted({k for e in evs for k, _ in e.candidate.params})
    names = ["family", "n_variants", *params]
    n = len(evs)

    def all_nan(reason: str) -> pd.DataFrame:
        return _table(names, np.full(len(names), np.nan), [f"not estimated: {reason}"] * len(names))

    if n < MIN_EVALUATIONS:
        return all_nan(f"{n} evaluations with a finite mean CV AUC, fewer than {MIN_EVALUATIONS}")
    y = np.array([e.mean_auc for e in evs], dtype=np.float64)
    if np.ptp(y) == 0.0:
        return all_nan("the mean CV AUC is the same for every evaluation")

    # design: family one-hot, n_variants, hyperparameters (missing -> below the range)
    fam = np.array([e.candidate.family for e in evs])
    onehot = (fam[:, None] == np.array(families)[None, :]).astype(np.float64)
    raw = np.array([[dict(e.candidate.params).get(p, np.nan) for p in params] for e in evs], dtype=np.float64)
    raw = raw.reshape(n, len(params))
    defined = ~np.isnan(raw)
    filled = raw.copy()
    for j in range(len(params)):
        if defined[:, j].any():
            lo, hi = np.nanmin(raw[:, j]), np.nanmax(raw[:, j])
            filled[~defined[:, j], j] = lo - (hi - lo) - 1.0
    n_variants = np.array([e.candidate.n_variants for e in evs], dtype=np.float64)
    x = np.column_stack([onehot, n_variants, filled])
    nf = len(families)
    columns = {"family": np.arange(nf), "n_variants": np.array([nf])} | {
        p: np.array([nf + 1 + j]) for j, p in enumerate(params)
    }
    rows_of = {"family": np.ones(n, bool), "n_variants": np.ones(n, bool)} | {
        p: defined[:, j] for j, p in enumerate(params)
    }

    reasons: dict[str, str] = {}
    if nf < 2:
        reasons["family"] = f"only one family was evaluated ({families[0]})"
    if np.ptp(n_variants) == 0.0:
        reasons["n_variants"] = f"every evaluation has {int(n_variants[0])} variants"
    for j, p in enumerate(params):
        values = np.unique(raw[defined[:, j], j])
        if values.size < 2 or defined[:, j].sum() < 2:
            reasons[p] = f"takes one value ({values[0]:g}) in the evaluations that use it"
    active = [name for name in names if name not in reasons]
    if not active:
        return all_nan("every feature takes a single value")

    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    increase = dict.fromkeys(active, 0.0)
    oof = np.empty(n)
    folds = KFold(n_splits=min(_N_SPLITS, n), shuffle=True, random_state=seed)
    for train, test in folds.split(x):
        forest = RandomForestRegressor(n_estimators=_N_TREES, random_state=seed, n_jobs=1).fit(x[train], y[train])
        xt, yt = x[test], y[test]
        oof[test] = forest.predict(xt)
        base = float(np.mean((yt - oof[test]) ** 2))
        for name in active:
            cols, rows = columns[name], np.flatnonzero(rows_of[name][test])
            if rows.size < 2:
                continue
            batch = np.repeat(xt[None], _N_REPEATS, axis=0)
            for r in range(_N_REPEATS):  # a few shuffles per feature, not per sample
                perm = rng.permutation(rows)
                batch[r][np.ix_(rows, cols)] = xt[np.ix_(perm, cols)]
            pred = forest.predict(batch.reshape(-1, x.shape[1])).reshape(_N_REPEATS, -1)
            increase[name] += float(np.mean((pred - yt[None]) ** 2)) - base
    r2 = 1.0 - float(np.sum((y - oof) ** 2) / np.sum((y - y.mean()) ** 2))
    gain = np.array([max(increase[name], 0.0) for name in active])
    dropped = f"; {n_dropped} evaluations without a finite mean CV AUC left out" if n_dropped else ""
    method = (
        f"permutation importance: increase of the held-out mean squared error of a random forest "
        f"({_N_TREES} trees, scikit-learn) predicting the mean CV AUC of {n} evaluations from family (one-hot), "
        f"n_variants and hyperparameters, {folds.get_n_splits()}-fold cross-fitted, {_N_REPEATS} shuffles per fold; "
        f"clipped at 0 and normalised to sum 1; forest held-out R^2 = {r2:.3f}{dropped}"
    )
    if gain.sum() <= 0.0:
        return all_nan(f"shuffling no feature worsened the forest's held-out prediction (R^2 = {r2:.3f})")
    share = dict(zip(active, gain / gain.sum(), strict=True))
    how = []
    for name in names:
        if name in reasons:
            how.append(f"not estimated: {reasons[name]}")
        elif name == "family":
            how.append(method + f"; the {nf} family columns shuffled together across all evaluations")
        elif name == "n_variants":
            how.append(method + "; shuffled across all evaluations")
        else:
            users = sorted(set(fam[rows_of[name]]))
            how.append(
                method + f"; shuffled among the {int(rows_of[name].sum())} evaluations whose family uses it "
                f"({', '.join(users)})"
            )
    importance = np.array([share.get(name, np.nan) for name in names], dtype=np.float64)
    return _table(names, importance, how)
