"""Hyperparameter importance from a search's evaluations (random-forest permutation importance)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from genopt.search.importance import IMPORTANCE_COLUMNS, MIN_EVALUATIONS, hyperparameter_importance
from genopt.search.types import Candidate, Evaluation

FAMILIES = ("ridge", "logistic_l2", "logistic_l1", "logistic_enet", "gbm")


def _params(family: str, rng: np.random.Generator) -> dict[str, float]:
    if family == "ridge":
        return {"alpha": float(10 ** rng.uniform(-2, 4))}
    if family == "gbm":
        return {"learning_rate": float(rng.choice([0.03, 0.1, 0.3])), "max_depth": float(rng.choice([1, 2, 3]))}
    params = {"C": float(10 ** rng.uniform(-3, 2))}
    if family == "logistic_enet":
        params["l1_ratio"] = float(rng.uniform(0, 1))
    return params


def synthetic(
    n: int, families: tuple[str, ...], auc_of: Callable[[Candidate], float], seed: int = 0
) -> list[Evaluation]:
    """``n`` random candidates; fold AUCs = auc_of(candidate) + small noise (3 folds)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        family = str(rng.choice(families))
        size = int(rng.integers(1, 40))
        subset = tuple(sorted(rng.choice(100, size=size, replace=False).tolist()))
        cand = Candidate(subset, family, tuple(sorted(_params(family, rng).items())))
        out.append(Evaluation(cand, auc_of(cand) + rng.normal(0, 0.002, size=3)))
    return out


def test_auc_depending_on_C_only_makes_C_most_important() -> None:
    evs = synthetic(
        300, ("logistic_l2", "logistic_l1", "logistic_enet"), lambda c: 0.6 + 0.03 * math.log10(c.param("C"))
    )
    table = hyperparameter_importance(evs, seed=0)
    print(table[["parameter", "importance"]])
    assert list(table.columns) == list(IMPORTANCE_COLUMNS)
    assert set(table["parameter"]) == {"family", "n_variants", "C", "l1_ratio"}
    assert table["parameter"].iloc[0] == "C"
    assert table["importance"].sum() == pytest.approx(1.0)
    assert table["importance"].iloc[0] > 0.9
    assert (table["importance"] >= 0).all()
    how = table.set_index("parameter")["how"]
    assert "permutation importance" in how["C"] and "R^2" in how["C"]
    n_enet = sum(e.candidate.family == "logistic_enet" for e in evs)
    assert f"among the {n_enet} evaluations whose family uses it (logistic_enet)" in how["l1_ratio"]


def test_parameter_of_one_family_only_and_n_variants() -> None:
    """alpha exists only for ridge rows; when the AUC depends on it there, it wins over family and the rest."""
    evs = synthetic(
        400,
        FAMILIES,
        lambda c: 0.6 - 0.03 * abs(math.log10(c.param("alpha")) - 1.0) if c.family == "ridge" else 0.5,
        seed=1,
    )
    imp = hyperparameter_importance(evs, seed=3).set_index("parameter")["importance"]
    assert set(imp.index) == {"family", "n_variants", "alpha", "C", "l1_ratio", "learning_rate", "max_depth"}
    assert imp.idxmax() == "alpha"
    evs = synthetic(300, FAMILIES, lambda c: 0.55 + 0.004 * c.n_variants, seed=2)
    imp = hyperparameter_importance(evs, seed=3).set_index("parameter")["importance"]
    assert imp.idxmax() == "n_variants" and imp["n_variants"] > 0.9


def test_same_seed_same_table() -> None:
    evs = synthetic(120, FAMILIES, lambda c: 0.6 + 0.002 * c.n_variants, seed=4)
    a = hyperparameter_importance(evs, seed=7)
    pd.testing.assert_frame_equal(a, hyperparameter_importance(evs, seed=7))
    assert not np.allclose(a["importance"], hyperparameter_importance(evs, seed=8)["importance"])


def test_degenerate_cases_are_nan_with_a_reason() -> None:
    few = synthetic(MIN_EVALUATIONS - 1, FAMILIES, lambda c: 0.6)
    table = hyperparameter_importance(few, seed=0)
    assert table["importance"].isna().all()
    assert table["how"].str.contains(f"fewer than {MIN_EVALUATIONS}").all()

    flat = synthetic(50, FAMILIES, lambda c: 0.0)
    flat = [Evaluation(e.candidate, np.full(3, 0.6)) for e in flat]
    assert hyperparameter_importance(flat, seed=0)["how"].str.contains("same for every evaluation").all()

    one = synthetic(80, ("ridge",), lambda c: 0.6 + 0.002 * c.n_variants)
    table = hyperparameter_importance(one, seed=0).set_index("parameter")
    assert math.isnan(table.loc["family", "importance"])
    assert "only one family" in table.loc["family", "how"]
    assert table["importance"].dropna().sum() == pytest.approx(1.0)
    assert set(table.index) == {"family", "n_variants", "alpha"}

    # non-finite AUCs are left out and counted
    nan_ev = Evaluation(Candidate((1,), "ridge", (("alpha", 1.0),)), np.full(3, np.nan))
    table = hyperparameter_importance([*one, nan_ev], seed=0)
    assert table["how"].str.contains("1 evaluations without a finite mean CV AUC left out").any()
