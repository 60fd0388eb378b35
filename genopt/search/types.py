"""What the search evaluates: a candidate model and its cross-validated score."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

#: Model families the search knows. ``ridge`` is the linear model with the
#: cross-product fast path; the ``logistic_*`` and ``gbm`` families go through
#: scikit-learn.
FAMILIES: tuple[str, ...] = ("ridge", "logistic_l2", "logistic_l1", "logistic_enet", "gbm")


@dataclass(frozen=True, order=True)
class Candidate:
    """One point of the search space.

    Attributes
    ----------
    subset
        Sorted indices into the candidate pool (columns of the pool matrix),
        no duplicates. Covariates are not in it: every model always has them.
    family
        One of :data:`FAMILIES`.
    params
        Hyperparameters as sorted ``(name, value)`` pairs, e.g.
        ``(("C", 0.1), ("l1_ratio", 0.5))`` (hashable, so it can key a cache).
    """

    subset: tuple[int, ...]
    family: str
    params: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if list(self.subset) != sorted(set(self.subset)):
            raise ValueError(f"subset must be sorted and unique, got {self.subset}")
        if self.family not in FAMILIES:
            raise ValueError(f"unknown model family {self.family!r}; expected one of {FAMILIES}")

    @property
    def n_variants(self) -> int:
        return len(self.subset)

    def param(self, name: str, default: float | None = None) -> float:
        """A hyperparameter's value (``default`` when absent)."""
        for key, value in self.params:
            if key == name:
                return value
        if default is None:
            raise KeyError(f"candidate has no hyperparameter {name!r}")
        return default


@dataclass(frozen=True)
class Evaluation:
    """Cross-validated AUC of one candidate inside discovery.

    Attributes
    ----------
    candidate
        What was evaluated.
    fold_aucs
        ROC AUC on each validation fold, shape ``(k,)``.
    cached
        True when the result came from the cache (no model was fitted).
    """

    candidate: Candidate
    fold_aucs: npt.NDArray[np.float64] = field(repr=False)
    cached: bool = False

    @property
    def mean_auc(self) -> float:
        return float(np.mean(self.fold_aucs))

    @property
    def se_auc(self) -> float:
        """Standard error of the mean fold AUC (SD / sqrt(k))."""
        k = len(self.fold_aucs)
        return float(np.std(self.fold_aucs, ddof=1) / np.sqrt(k)) if k > 1 else 0.0
