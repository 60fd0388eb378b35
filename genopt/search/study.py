"""One call from a discovery cohort to the hand-off files: search, final model, exports.

:func:`search_and_export` is what ``genopt search`` runs: the honest search of
:func:`genopt.search.run.run_search` (pool, PCs and fitness on a search part;
choice on an internal validation part), then the chosen candidate refitted on
all of discovery (:func:`genopt.search.final.fit_final`) and the files of
DESIGN.md written beside the search's own (``history.tsv``, ``pareto.tsv``,
``pool.tsv``, ``search_summary.json``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from genopt.assoc.scan import scan
from genopt.cohort import Cohort
from genopt.config import PCAConfig, PoolConfig, SearchConfig
from genopt.export import (
    write_extract,
    write_model_json,
    write_score_tsv,
    write_variants_tsv,
    write_variants_yaml,
)
from genopt.io.atomic import write_tsv
from genopt.search.final import FinalModel, fit_final
from genopt.search.importance import hyperparameter_importance
from genopt.search.outer import outer_cv
from genopt.search.run import SearchOutcome, run_search, write_outputs
from genopt.search.stability import selection_frequency


@dataclass(frozen=True)
class Study:
    """What :func:`search_and_export` produced."""

    outcome: SearchOutcome
    model: FinalModel
    files: tuple[Path, ...]


def search_and_export(
    cohort: Cohort,
    out_dir: str | Path,
    search_config: SearchConfig | None = None,
    pool_config: PoolConfig | None = None,
    pca_config: PCAConfig | None = None,
    seed: int = 0,
    variants: npt.ArrayLike | None = None,
    progress: bool = False,
    resume: bool = False,
) -> Study:
    """Search on discovery, refit the chosen model on all of it, write the hand-off files.

    The final model's covariates are the cohort's covariates plus the PCs of
    the search (fitted on the search part, projected onto the validation
    part), so every discovery person has the same axes. ``variants`` (bool
    mask over the .bim rows, e.g. those passing QC) restricts the PCA and the
    pool. ``progress`` shows progress bars on stderr.

    Every search (the main one, each resample's, each outer fold's)
    checkpoints into ``out_dir/checkpoints/`` (``search.json``,
    ``resample_<b>.json``, ``outer_<f>.json``) every
    ``search_config.checkpoint_every`` generations; with ``resume`` a killed
    run continues from them and ends with the files an uninterrupted run
    writes (the steps before each search are deterministic and recomputed).

    Writes into ``out_dir`` (each file atomically, all after the computing is done):

    * hand-off files: ``model.json``, ``score.tsv`` (linear families only),
      ``extract.txt``, ``variants.tsv`` (beta, SE and p of each listed variant
      from an exact logistic regression on all of discovery with the cohort
      covariates and the model's PCs; ``selection_frequency`` when
      ``resamples`` > 0, else NA), ``variants.yaml``, ``pca_model.json`` (the PCA of the search part
      whose axes are the model's ``PC1..PCk`` covariates; held-out cohorts are
      projected with it);
    * the search's own files: ``history.tsv``, ``pareto.tsv``, ``pool.tsv``,
      ``search_summary.json``, ``hyperparameter_importance.tsv``;
    * with ``search_config.resamples`` > 0: ``selection_frequency.tsv`` (every
      variant any resample's pool held) and ``resamples.tsv`` (one row per resample);
    * with ``search_config.outer_folds`` > 0: ``outer_cv.tsv``, and the outer
      estimate and its optimism in ``search_summary.json``.
    """
    out = Path(out_dir)
    search_config = search_config or SearchConfig()
    pool_config = pool_config or PoolConfig()
    pca_config = pca_config or PCAConfig()
    checkpoints = out / "checkpoints" if search_config.checkpoint_every > 0 or resume else None
    outcome = run_search(
        cohort, search_config, pool_config, pca_config, seed=seed, variants=variants,
        checkpoint=None if checkpoints is None else checkpoints / "search.json", resume=resume, progress=progress,
    )  # fmt: skip
    if outcome.pcs_search is None or outcome.pcs_validation is None or outcome.columns is None:
        raise RuntimeError("run_search returned no PCs or pool columns")
    pcs = outcome.discovery_pcs()
    model = fit_final(cohort, outcome.columns, outcome.chosen.candidate, covariates=pcs, seed=seed)
    # Discovery effects of the listed variants (variants.tsv, and replication's meta-analysis): logistic
    # regression on all of discovery with the cohort covariates and the model's PCs, every variant tested exactly.
    listed = np.sort(np.asarray(model.bim_index, dtype=np.intp))
    discovery_effects = scan(
        cohort,
        replace(pool_config.assoc, exact_top=max(listed.size, 1)),
        covariates=pcs,
        covariate_names=[f"PC{i + 1}" for i in range(pcs.shape[1])],
        variants=listed,
    ).table

    tables: dict[str, pd.DataFrame] = {
        "hyperparameter_importance.tsv": hyperparameter_importance(outcome.result.evaluations, seed)
    }
    outcome.summary["hyperparameter_importance"] = {
        "value": dict(zip(tables["hyperparameter_importance.tsv"]["parameter"],
                          tables["hyperparameter_importance.tsv"]["importance"], strict=True)),
        "how": str(tables["hyperparameter_importance.tsv"]["how"].iloc[0]),
    }  # fmt: skip
    frequency = None
    if search_config.resamples > 0:
        stability = selection_frequency(
            cohort,
            search_config,
            pool_config,
            pca_config,
            seed,
            n_resamples=search_config.resamples,
            fraction=search_config.resample_fraction,
            budget=search_config.resample_budget,
            progress=progress,
            variants=variants,
            checkpoint_dir=checkpoints,
            resume=resume,
        )
        frequency = stability.frequencies(list(model.variant_id))
        tables["selection_frequency.tsv"] = stability.table
        tables["resamples.tsv"] = stability.resample_table()
        outcome.summary["selection_frequency"] = {"value": int(search_config.resamples), "how": stability.how}
    if search_config.outer_folds > 0:
        outer = outer_cv(
            cohort,
            search_config,
            pool_config,
            pca_config,
            seed,
            k=search_config.outer_folds,
            variants=variants,
            progress=progress,
            checkpoint_dir=checkpoints,
            resume=resume,
        )
        tables["outer_cv.tsv"] = outer.table()
        outcome.summary["outer_cv"] = outer.summary()

    write_outputs(outcome, out)
    for name, table in tables.items():
        write_tsv(out / name, table)
    files = [out / "model.json", out / "extract.txt", out / "variants.tsv", out / "variants.yaml"]
    write_model_json(model, files[0])
    write_extract(model, files[1])
    write_variants_tsv(model, files[2], assoc_table=discovery_effects, selection_frequency=frequency)
    write_variants_yaml(model, files[3])
    if model.is_linear:
        files.append(out / "score.tsv")
        write_score_tsv(model, files[-1])
    if outcome.pca_model is not None:  # the axes of the model's PC covariates, to project other cohorts
        files.append(out / "pca_model.json")
        outcome.pca_model.save(files[-1])
    return Study(outcome=outcome, model=model, files=tuple(files))
