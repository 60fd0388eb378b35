"""Replication of a frozen discovery model on held-out cohorts: checks, statistics, files.

:func:`replicate` (one cohort) and :func:`replicate_many` (several, with a
cross-cohort meta-analysis) read a run directory written by ``genopt search``
(``model.json``, ``variants.tsv`` for the discovery effects, ``pca_model.json``
when the model has PC covariates), refuse held-out people who are discovery
people (by ID, and by genotype when the discovery fileset is known), apply
the model (:func:`genopt.replicate.apply.apply_model`), compute the evidence
(:func:`analyse`, statistics of :mod:`genopt.replicate.stats`) and write::

    <out_dir>/replication/<cohort>/summary.json
    <out_dir>/replication/<cohort>/variants.tsv
    <out_dir>/replication/<cohort>/scores.tsv   (FID IID outcome score of each analysed person)
    <out_dir>/replication/meta.tsv          (replicate_many: per-variant meta-analysis)
    <out_dir>/replication/meta.json         (replicate_many: the score's meta-analysis)

All files of one call are written together (:func:`genopt.io.atomic.atomic_paths`):
if anything fails, none of them is written.

Nothing here is fitted to a held-out cohort and then judged on it: the model,
its weights, the PCA axes, the imputation means and the discovery effects are
frozen; the held-out cohort contributes only its own regressions (which the
statistics are about).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from genopt.cohort import Cohort
from genopt.config import HarmoniseConfig, OverlapConfig, ReplicationConfig
from genopt.errors import GenoptError
from genopt.export import read_model_json
from genopt.harmonise import DROP_REASONS, MATCH_STATUSES
from genopt.io.atomic import atomic_paths
from genopt.io.plink import PlinkFileset, open_plink
from genopt.relatedness import OverlapResult, find_overlap
from genopt.replicate import stats
from genopt.replicate.apply import AppliedModel, apply_model
from genopt.search.final import FinalModel
from genopt.structure import PCAModel

__all__ = [
    "MIN_SAMPLES_PER_PARAMETER",
    "ReplicationResult",
    "RunFiles",
    "analyse",
    "check_overlap",
    "load_run",
    "meta_table",
    "replicate",
    "replicate_many",
    "score_meta",
]

#: The smaller outcome class must have at least this many samples per parameter of
#: the score model (intercept + covariates + score); fewer is refused.
MIN_SAMPLES_PER_PARAMETER = 5
#: How many overlapping pairs an error message lists.
_N_LISTED = 10
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


# ---------------------------------------------------------------------------- the run directory


@dataclass(frozen=True, eq=False)
class RunFiles:
    """What replication reads from a run directory.

    Attributes
    ----------
    path
        The run directory.
    model
        The frozen model (``model.json``).
    pca_model
        The discovery PCA (``pca_model.json``), None when absent.
    discovery
        One row per model variant (model order): ``beta``, ``standard_error``,
        ``p_value`` of the discovery association scan (``variants.tsv``; log
        odds ratio per copy of the discovery A1; NaN where unknown).
    discovery_bfile
        Discovery fileset prefix recorded in ``manifest.json`` (first input
        ``.bed``), None when absent.
    """

    path: Path
    model: FinalModel
    pca_model: PCAModel | None
    discovery: pd.DataFrame = field(repr=False)
    discovery_bfile: Path | None = None


def _discovery_effects(model: FinalModel, path: Path) -> pd.DataFrame:
    cols = ("beta", "standard_error", "p_value")
    empty = pd.DataFrame({c: np.full(model.n_variants, np.nan) for c in cols})
    if not path.exists():
        return empty
    try:
        table = pd.read_csv(path, sep="\t", dtype={"rsid": str, "effect_allele": str, "other_allele": str})
    except (OSError, ValueError) as exc:
        raise GenoptError(f"cannot read the discovery variant table: {exc}", path) from None
    need = ["rsid", "effect_allele", *cols]
    lacking = [c for c in need if c not in table.columns]
    if lacking:
        raise GenoptError(f"variants.tsv lacks the columns {lacking}", path)
    rows = table.drop_duplicates("rsid").set_index("rsid").reindex(list(model.variant_id))
    out = pd.DataFrame({c: pd.to_numeric(rows[c], errors="coerce").to_numpy(dtype=np.float64) for c in cols})
    effect = np.char.upper(rows["effect_allele"].to_numpy().astype(str))
    a1 = np.char.upper(np.asarray(model.a1, dtype=str))
    a2 = np.char.upper(np.asarray(model.a2, dtype=str))
    out.loc[effect == a2, "beta"] *= -1.0
    out.loc[(effect != a1) & (effect != a2), list(cols)] = np.nan
    return out


def _manifest_bfile(run_dir: Path) -> Path | None:
    manifest = run_dir / "manifest.json"
    if not manifest.exists():
        return None
    try:
        inputs = json.loads(manifest.read_text(encoding="utf-8")).get("inputs", {})
    except (OSError, json.JSONDecodeError, AttributeError):
        return None
    beds = [Path(p) for p in inputs if str(p).endswith(".bed")]
    return beds[0].with_suffix("") if beds else None


def load_run(run_dir: str | Path) -> RunFiles:
    """Read ``model.json``, ``pca_model.json`` (if present), ``variants.tsv`` and ``manifest.json`` of a run."""
    path = Path(run_dir)
    if not path.is_dir():
        raise GenoptError("run directory not found", path)
    model = read_model_json(path / "model.json")
    pca_path = path / "pca_model.json"
    pca = PCAModel.load(pca_path) if pca_path.exists() else None
    return RunFiles(path, model, pca, _discovery_effects(model, path / "variants.tsv"), _manifest_bfile(path))


# ---------------------------------------------------------------------------- overlap with discovery


def check_overlap(
    cohort: Cohort,
    run: RunFiles,
    discovery: PlinkFileset | None,
    drop: bool,
    overlap_config: OverlapConfig | None = None,
    harmonise_config: HarmoniseConfig | None = None,
    overlap: OverlapResult | None = None,
) -> tuple[Cohort, dict[str, Any]]:
    """Refuse (or drop) held-out samples who are discovery samples.

    A held-out sample overlaps when its IID is a discovery IID, or (with the
    discovery fileset) when its KING-robust kinship with a discovery sample
    reaches ``overlap_config.duplicate`` (:func:`genopt.relatedness.find_overlap`,
    or ``overlap``: its result for this discovery and cohort, computed
    before with the same configs, e.g. by ``genopt run``'s overlap step).
    Without the discovery fileset, IDs are checked against the samples of
    ``pca_model.json`` only (the part of discovery the PCA was fitted on).

    Returns
    -------
    The cohort (overlapping samples removed when ``drop``) and a JSON-ready
    description of the check.

    Raises
    ------
    GenoptError
        Overlapping samples and not ``drop``: the pairs are listed.
    """
    held = cohort.fileset.samples.iloc[cohort.sample_idx]
    held_iid = held["iid"].astype(str).to_numpy()
    pairs: list[tuple[str, str, str]] = []  # (discovery IID, held-out IID, why)
    info: dict[str, Any] = {}
    if discovery is not None:
        result = overlap or find_overlap(discovery, cohort.fileset, overlap_config, harmonise_config)
        disc_iid = set(discovery.samples["iid"].astype(str))
        dup = result.pairs[result.pairs["RELATION"] == "duplicate"]
        held_set = set(held_iid)
        pairs += [
            (str(a), str(b), f"kinship {k:.3f}")
            for a, b, k in zip(dup["IID_A"], dup["IID_B"], dup["KINSHIP"], strict=True)
            if str(b) in held_set
        ]
        info["checked"] = f"by IID and by genotype (KING-robust kinship) against {discovery.prefix}"
        info["relatives"] = {k: v for k, v in result.counts().items() if k in ("first-degree", "second-degree")}
        info["relatives_note"] = "counted over the whole held-out fileset; relatives are reported, not removed"
    elif run.pca_model is not None:
        disc_iid = set(run.pca_model.sample_iid.astype(str))
        info["checked"] = (
            f"by IID against the {len(disc_iid)} discovery samples of pca_model.json only; no genotype check "
            "(give the discovery fileset to check every discovery sample and duplicates under other IDs)"
        )
    else:
        disc_iid = set()
        info["checked"] = "not checked: no discovery fileset and no pca_model.json"
    pairs += [(i, i, "same IID") for i in held_iid if i in disc_iid]
    bad = {b for _, b, _ in pairs}
    info["n_overlapping"] = len(bad)
    info["pairs"] = [{"discovery_iid": a, "heldout_iid": b, "why": w} for a, b, w in pairs]
    if not bad:
        info["n_dropped"] = 0
        return cohort, info
    if not drop:
        listed = "; ".join(f"{a} ~ {b} ({w})" for a, b, w in pairs[:_N_LISTED])
        more = f" and {len(pairs) - _N_LISTED} more pairs" if len(pairs) > _N_LISTED else ""
        raise GenoptError(
            f"{len(bad)} held-out samples are discovery samples (discovery IID ~ held-out IID): {listed}{more}. "
            "Remove them, or set drop_overlap (replication) to drop them",
            str(cohort.fileset.prefix) + ".fam",
        )
    keep = ~np.isin(held_iid, sorted(bad))
    info["n_dropped"] = int((~keep).sum())
    return cohort.subset(keep, "overlaps discovery"), info


# ---------------------------------------------------------------------------- analysis


@dataclass(frozen=True, eq=False)
class ReplicationResult:
    """Replication evidence for one cohort.

    Attributes
    ----------
    name
        Cohort name (folder under ``replication/``).
    summary
        JSON-ready ``summary.json`` content.
    variants
        ``variants.tsv`` content: one row per model variant (model order).
    scores
        ``scores.tsv`` content: ``FID``, ``IID``, ``outcome`` (1 = cooperate,
        0 = defect) and ``score`` (the genetic score the AUC is computed on)
        of each analysed sample; None when not given.
    """

    name: str
    summary: dict[str, Any]
    variants: pd.DataFrame = field(repr=False)
    scores: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def verdict(self) -> str:
        """``"replicated"`` or ``"not replicated"``."""
        return str(self.summary["verdict"])


def _check_usable(applied: AppliedModel, model: FinalModel, config: ReplicationConfig) -> None:
    n_cases = int(applied.y.sum())
    n_controls = applied.n - n_cases
    if n_cases == 0 or n_controls == 0:
        raise GenoptError(
            f"the outcome has one class only in this cohort ({n_cases} cooperate, {n_controls} defect); "
            "replication needs both"
        )
    n_params = applied.covariates.shape[1] + 2
    need = MIN_SAMPLES_PER_PARAMETER * n_params
    if min(n_cases, n_controls) < need:
        raise GenoptError(
            f"too few samples for the covariates: {n_cases} cooperate and {n_controls} defect, but a score model "
            f"with {n_params} parameters (intercept, {applied.covariates.shape[1]} covariates "
            f"{list(applied.covariate_names)}, score) needs at least {need} in each class "
            f"({MIN_SAMPLES_PER_PARAMETER} per parameter)"
        )
    drops = {r: n for r, n in applied.harmonisation.items() if r in DROP_REASONS and n}
    if applied.n_used < config.min_variants_used:
        why = ", ".join(f"{n} {r}" for r, n in drops.items()) or "none"
        raise GenoptError(
            f"only {applied.n_used} of the model's {model.n_variants} variants could be harmonised in this cohort "
            f"(min_variants_used = {config.min_variants_used}); dropped: {why}"
        )


def _directions(discovery: pd.DataFrame, model: FinalModel) -> tuple[npt.NDArray[np.float64], npt.NDArray[Any]]:
    beta = discovery["beta"].to_numpy(dtype=np.float64)
    weights = np.asarray(model.weights, dtype=np.float64)
    have = np.isfinite(beta) & (beta != 0)
    direction = np.where(have, np.sign(beta), np.sign(weights))
    source = np.where(have, "discovery beta", "model weight")
    return direction, source


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def analyse(
    applied: AppliedModel,
    model: FinalModel,
    discovery: pd.DataFrame,
    config: ReplicationConfig | None = None,
    name: str = "heldout",
    seed: int = 0,
) -> ReplicationResult:
    """Score- and variant-level replication evidence from a model applied to a cohort.

    Parameters
    ----------
    applied
        :func:`~genopt.replicate.apply.apply_model` output.
    model
        The frozen model.
    discovery
        Discovery ``beta``, ``standard_error``, ``p_value`` per model variant
        (:attr:`RunFiles.discovery`).
    config
        ``alpha``, ``prevalence``, ``permutations``, ``min_variants_used``.
    name
        Cohort name.
    seed
        Seed of the outcome permutations.

    Raises
    ------
    GenoptError
        One outcome class, too few samples for the covariates, too few
        harmonised variants, or a model that cannot be fitted.
    """
    config = ReplicationConfig() if config is None else config
    _check_usable(applied, model, config)
    y, score, cov = applied.y, applied.score, applied.covariates
    n, n_cases = applied.n, int(y.sum())
    alpha = config.alpha

    auc = stats.auc_test(y, score)
    eff = stats.score_effect(y, score, cov)
    r2_nk = stats.nagelkerke_r2(eff.ll_full, eff.ll_intercept, n) - stats.nagelkerke_r2(
        eff.ll_covariates, eff.ll_intercept, n
    )
    r2_obs = stats.observed_r2_increment(y, score, cov)
    case_fraction = n_cases / n
    prevalence = config.prevalence if config.prevalence is not None else case_fraction
    r2_liab = stats.liability_r2(r2_obs, prevalence, case_fraction)
    perm_p = stats.permutation_auc_p(y, score, config.permutations, seed) if config.permutations else None

    # variant level
    m = model.n_variants
    used = applied.used
    tests = stats.variant_tests(y, applied.genotypes, cov)  # columns of unmatched variants are all NaN: untested
    tests["error"] = np.where(used, tests["error"], np.char.add("not harmonised: ", applied.status))
    b_rep = tests["beta"].to_numpy(dtype=np.float64)
    s_rep = tests["standard_error"].to_numpy(dtype=np.float64)
    direction, direction_source = _directions(discovery, model)
    p_one = stats.one_sided_p(b_rep, s_rep, direction)
    p_bonf, p_bh = stats.adjust_p(p_one, m)
    b_disc = discovery["beta"].to_numpy(dtype=np.float64)
    s_disc = discovery["standard_error"].to_numpy(dtype=np.float64)
    k_conc, n_comp, sign_p = stats.sign_test(b_rep, direction)
    meta = stats.ivw_meta(np.column_stack([b_disc, b_rep]), np.column_stack([s_disc, s_rep]))
    ratio, wc_median, wc_slope = stats.winners_curse(b_rep, b_disc, s_rep)
    with np.errstate(invalid="ignore"):
        concordant = np.where(np.isfinite(b_rep) & (b_rep != 0), np.sign(b_rep) == direction, np.nan)
    rep_bonf = np.nan_to_num(p_bonf, nan=1.0) < alpha
    rep_fdr = np.nan_to_num(p_bh, nan=1.0) < alpha
    word, rule = stats.verdict(eff.beta, eff.p_one_sided, sign_p, n_comp, alpha)

    variants = pd.DataFrame(
        {
            "rsid": list(model.variant_id),
            "chromosome": list(model.chromosome),
            "base_pair_location": model.position,
            "effect_allele": list(model.a1),
            "other_allele": list(model.a2),
            "model_weight": model.weights,
            "harmonisation": applied.status,
            "used": used,
            "effect_allele_frequency": applied.a1_freq,
            "effect_allele_frequency_discovery": model.a1_freq,
            "n": tests["n"].to_numpy(dtype=np.int64),
            "beta": b_rep,
            "standard_error": s_rep,
            "odds_ratio": np.exp(b_rep),
            "p_value": tests["p_value"].to_numpy(dtype=np.float64),
            "direction": direction.astype(np.int64),
            "direction_source": direction_source,
            "p_value_one_sided": p_one,
            "p_bonferroni": p_bonf,
            "p_bh": p_bh,
            "replicated_bonferroni": rep_bonf,
            "replicated_fdr": rep_fdr,
            "sign_concordant": concordant,
            "beta_discovery": b_disc,
            "standard_error_discovery": s_disc,
            "p_value_discovery": discovery["p_value"].to_numpy(dtype=np.float64),
            "winners_curse_ratio": ratio,
            "beta_meta": meta["beta"].to_numpy(),
            "standard_error_meta": meta["standard_error"].to_numpy(),
            "p_value_meta": meta["p_value"].to_numpy(),
            "q": meta["q"].to_numpy(),
            "q_p_value": meta["q_p_value"].to_numpy(),
            "i2": meta["i2"].to_numpy(),
            "error": tests["error"].astype(str).to_numpy(),
        }
    )
    counts = applied.harmonisation
    summary: dict[str, Any] = {
        "cohort": name,
        "n_samples": n,
        "n_cases": n_cases,
        "n_controls": n - n_cases,
        "n_variants_listed": m,
        "n_variants_used": applied.n_used,
        "n_variants_dropped": m - applied.n_used,
        "variants_dropped": {r: counts[r] for r in DROP_REASONS if counts.get(r)},
        "variants_matched": {s: counts[s] for s in MATCH_STATUSES if counts.get(s)},
        "n_missing_calls_imputed": applied.n_missing_calls,
        "auc": auc.auc,
        "auc_se": _finite(auc.se),
        "auc_ci95": list(auc.ci95),
        "auc_p": auc.p,
        "auc_permutation_p": perm_p,
        "n_permutations": config.permutations,
        "score_or_per_sd": eff.odds_ratio,
        "score_or_ci95": list(eff.ci95),
        "score_beta_per_sd": eff.beta,
        "score_se": eff.se,
        "score_p": eff.p_one_sided,
        "score_p_two_sided": eff.p,
        "nagelkerke_r2_incremental": r2_nk,
        "observed_r2_incremental": r2_obs,
        "liability_r2_incremental": r2_liab,
        "prevalence": prevalence,
        "prevalence_source": "config" if config.prevalence is not None else "cohort case fraction",
        "n_replicated_bonferroni": int(rep_bonf.sum()),
        "n_replicated_fdr": int(rep_fdr.sum()),
        "n_sign_compared": n_comp,
        "n_sign_concordant": k_conc,
        "sign_concordance": k_conc / n_comp if n_comp else None,
        "sign_test_p": sign_p,
        "winners_curse_median_ratio": _finite(wc_median),
        "winners_curse_slope": _finite(wc_slope),
        "alpha": alpha,
        "covariates": list(applied.covariate_names),
        "pca_projection": applied.pca,
        "verdict": word,
        "rule": rule,
        "how": _HOW,
    }
    scores = pd.DataFrame(
        {
            "FID": applied.sample_ids["fid"].to_numpy(),
            "IID": applied.sample_ids["iid"].to_numpy(),
            "outcome": np.asarray(y, dtype=np.int64),
            "score": score,
        }
    )
    return ReplicationResult(name, summary, variants, scores)


_HOW = {
    "score": "sum over model variants of weight x discovery-A1 count (held-out alleles harmonised to the discovery "
    "A1; missing calls and unmatched variants take the discovery mean 2p), as plink2 --score score.tsv 1 2 3 "
    "header-read cols=+scoresums reports it",
    "auc": "ROC AUC of the score (ties one half), no covariates; auc_ci95 = auc +/- 1.96 DeLong SE; auc_p one-sided "
    "(AUC > 0.5) from z = (auc - 0.5) / SE",
    "auc_permutation_p": "(1 + #{AUC of permuted outcome >= AUC}) / (1 + permutations), covariates ignored",
    "score_or_per_sd": "exp(beta) of the score standardised in this cohort (SD ddof=1) in a statsmodels Logit of the "
    "outcome on intercept, covariates and score; score_p one-sided Wald (OR > 1), score_p_two_sided two-sided",
    "nagelkerke_r2_incremental": "Nagelkerke R2 (covariates + score) - Nagelkerke R2 (covariates), both against "
    "the intercept-only model, covariates-only model refitted in this cohort",
    "liability_r2_incremental": "observed_r2_incremental (least-squares R2 increment of the 0/1 outcome) converted "
    "with Lee et al. 2012 (Genet Epidemiol 36:214), prevalence K and case fraction P",
    "variants": "per variant: statsmodels Logit of the outcome on intercept, covariates and the discovery-A1 count "
    "(samples called for the variant); p_value_one_sided in the discovery direction (sign of the discovery beta, "
    "else of the model weight); Bonferroni and Benjamini-Hochberg (statsmodels multipletests) over all listed "
    "variants, untested ones counted with p = 1; replicated_* = adjusted p < alpha",
    "sign_test_p": "one-sided binomial test (scipy binomtest, p = 1/2) of the concordant directions among tested "
    "variants",
    "meta": "per variant: inverse-variance fixed-effect meta-analysis of discovery and this cohort; Cochran's Q "
    "(1 df) and I2 = max(0, (Q - df) / Q). Discovery effects come from the discovery scan (winner's curse: "
    "they are inflated, so beta_meta is too)",
    "winners_curse": "per-variant ratio = replication beta / discovery beta; winners_curse_slope = weighted "
    "(1/SE_replication^2) least-squares slope through the origin of replication on discovery betas",
}


# ---------------------------------------------------------------------------- meta-analysis across cohorts


def meta_table(results: Mapping[str, ReplicationResult], run: RunFiles) -> pd.DataFrame:
    """Per-variant meta-analysis across held-out cohorts (``replication/meta.tsv``).

    Columns: the variant (``rsid chromosome base_pair_location effect_allele
    other_allele``), ``beta_discovery standard_error_discovery``, per cohort
    ``beta_<c> standard_error_<c> p_value_<c>``; the replication-only IVW
    fixed-effect meta (``n_cohorts beta_replication
    standard_error_replication p_value_replication`` two-sided,
    ``p_value_replication_one_sided`` in the discovery direction, ``q_replication
    q_p_value_replication i2_replication``), free of winner's curse; and the
    meta of discovery and every cohort (``n_studies beta_meta
    standard_error_meta p_value_meta q q_p_value i2``).
    """
    model = run.model
    names = list(results)
    out = pd.DataFrame(
        {
            "rsid": list(model.variant_id),
            "chromosome": list(model.chromosome),
            "base_pair_location": model.position,
            "effect_allele": list(model.a1),
            "other_allele": list(model.a2),
            "beta_discovery": run.discovery["beta"].to_numpy(),
            "standard_error_discovery": run.discovery["standard_error"].to_numpy(),
        }
    )
    for c in names:
        v = results[c].variants
        for col in ("beta", "standard_error", "p_value"):
            out[f"{col}_{c}"] = v[col].to_numpy(dtype=np.float64)
    b = out[[f"beta_{c}" for c in names]].to_numpy(dtype=np.float64)
    s = out[[f"standard_error_{c}" for c in names]].to_numpy(dtype=np.float64)
    rep = stats.ivw_meta(b, s)
    direction = results[names[0]].variants["direction"].to_numpy(dtype=np.float64)
    out["n_cohorts"] = rep["n_studies"].to_numpy()
    out["beta_replication"] = rep["beta"].to_numpy()
    out["standard_error_replication"] = rep["standard_error"].to_numpy()
    out["p_value_replication"] = rep["p_value"].to_numpy()
    out["p_value_replication_one_sided"] = stats.one_sided_p(rep["beta"], rep["standard_error"], direction)
    out["q_replication"] = rep["q"].to_numpy()
    out["q_p_value_replication"] = rep["q_p_value"].to_numpy()
    out["i2_replication"] = rep["i2"].to_numpy()
    every = stats.ivw_meta(
        np.column_stack([out["beta_discovery"].to_numpy(), b]),
        np.column_stack([out["standard_error_discovery"].to_numpy(), s]),
    )
    for col, src in (("n_studies", "n_studies"), ("beta_meta", "beta"), ("standard_error_meta", "standard_error"),
                     ("p_value_meta", "p_value"), ("q", "q"), ("q_p_value", "q_p_value"), ("i2", "i2")):  # fmt: skip
        out[col] = every[src].to_numpy()
    return out


def score_meta(results: Mapping[str, ReplicationResult]) -> dict[str, Any]:
    """IVW fixed-effect meta-analysis of the score's log odds ratio per SD across held-out cohorts.

    JSON-ready (``replication/meta.json``): ``cohorts``, ``beta_per_sd``,
    ``standard_error``, ``or_per_sd`` with ``or_ci95``, ``p_one_sided``
    (OR > 1), ``q``, ``q_p_value``, ``i2`` and ``how``. Each cohort's score is
    standardised within that cohort.
    """
    names = list(results)
    b = np.array([[results[c].summary["score_beta_per_sd"] for c in names]], dtype=np.float64)
    s = np.array([[results[c].summary["score_se"] for c in names]], dtype=np.float64)
    row = stats.ivw_meta(b, s).iloc[0]
    beta, se = float(row["beta"]), float(row["standard_error"])
    return {
        "cohorts": names,
        "beta_per_sd": beta,
        "standard_error": se,
        "or_per_sd": math.exp(beta),
        "or_ci95": [math.exp(beta - stats.Z975 * se), math.exp(beta + stats.Z975 * se)],
        "p_one_sided": float(stats.one_sided_p([beta], [se], [1.0])[0]),
        "q": _finite(float(row["q"])),
        "q_p_value": _finite(float(row["q_p_value"])),
        "i2": _finite(float(row["i2"])),
        "how": "inverse-variance fixed-effect meta-analysis of each cohort's log odds ratio per SD of the score "
        "(score_beta_per_sd, score_se of its summary.json); discovery is not included; Cochran's Q and I2 across "
        "cohorts",
    }


# ---------------------------------------------------------------------------- entry points


def _json(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return obj


def _open_discovery(discovery: PlinkFileset | str | Path | None, run: RunFiles) -> PlinkFileset | None:
    if isinstance(discovery, PlinkFileset):
        return discovery
    if discovery is not None:
        return open_plink(discovery)
    if run.discovery_bfile is not None and run.discovery_bfile.with_suffix(".bed").exists():
        return open_plink(run.discovery_bfile)
    return None


def _one(
    run: RunFiles,
    cohort: Cohort,
    name: str,
    config: ReplicationConfig,
    discovery: PlinkFileset | None,
    harmonise_config: HarmoniseConfig | None,
    overlap_config: OverlapConfig | None,
    seed: int,
    overlap_result: OverlapResult | None = None,
) -> ReplicationResult:
    if not _SAFE_NAME.match(name):
        raise GenoptError(f"cohort name {name!r} must be letters, digits, '.', '_' or '-' (it names a folder)")
    where = str(cohort.fileset.prefix)
    cohort, overlap = check_overlap(
        cohort, run, discovery, config.drop_overlap, overlap_config, harmonise_config, overlap_result
    )
    try:
        applied = apply_model(run.model, cohort, run.pca_model, harmonise_config)
        result = analyse(applied, run.model, run.discovery, config, name, seed)
    except GenoptError as exc:
        if exc.path is not None:
            raise
        raise GenoptError(f"cohort {name!r}: {exc}", where) from None
    result.summary["overlap_with_discovery"] = overlap
    result.summary["samples_dropped"] = dict(cohort.dropped)
    result.summary["bfile"] = where
    result.summary["run_dir"] = str(run.path)
    result.summary["model"] = {"family": run.model.family, "n_variants": run.model.n_variants}
    return result


def _write(results: Mapping[str, ReplicationResult], out_dir: Path, meta: pd.DataFrame | None) -> list[Path]:
    base = out_dir / "replication"
    paths: list[Path] = []
    for name in results:
        paths += [base / name / "summary.json", base / name / "variants.tsv"]
    scored = [name for name, result in results.items() if result.scores is not None]
    paths += [base / name / "scores.tsv" for name in scored]
    if meta is not None:
        paths += [base / "meta.tsv", base / "meta.json"]
    for p in paths:
        p.parent.mkdir(parents=True, exist_ok=True)
    with atomic_paths(paths) as tmps:
        for i, result in enumerate(results.values()):
            doc = json.dumps(_json(result.summary), indent=2, allow_nan=False) + "\n"
            tmps[2 * i].write_text(doc, encoding="utf-8")
            result.variants.to_csv(tmps[2 * i + 1], sep="\t", index=False, na_rep="NA", float_format="%.10g")
        for j, name in enumerate(scored):
            scores = results[name].scores
            assert scores is not None
            scores.to_csv(tmps[2 * len(results) + j], sep="\t", index=False)
        if meta is not None:
            meta.to_csv(tmps[-2], sep="\t", index=False, na_rep="NA", float_format="%.10g")
            doc = json.dumps(_json(score_meta(results)), indent=2, allow_nan=False) + "\n"
            tmps[-1].write_text(doc, encoding="utf-8")
    return paths


def replicate(
    run_dir: str | Path,
    cohort: Cohort,
    name: str,
    config: ReplicationConfig | None = None,
    out_dir: str | Path | None = None,
    discovery: PlinkFileset | str | Path | None = None,
    harmonise_config: HarmoniseConfig | None = None,
    overlap_config: OverlapConfig | None = None,
    seed: int = 0,
) -> ReplicationResult:
    """Replicate a run's frozen model on one held-out cohort and write its files.

    Parameters
    ----------
    run_dir
        Run directory of ``genopt search`` (``model.json``, ``variants.tsv``,
        ``pca_model.json`` when the model has PC covariates).
    cohort
        The held-out cohort (genotypes, outcome 1 = cooperate, the model's covariates).
    name
        Cohort name: files go to ``<out_dir>/replication/<name>/``.
    config
        :class:`~genopt.config.ReplicationConfig` (defaults when None).
    out_dir
        Where ``replication/`` is written (default ``run_dir``). For results
        without files, call :func:`load_run`, :func:`apply_model` and :func:`analyse`.
    discovery
        The discovery fileset (or its prefix) for the genotype overlap check;
        by default the first ``.bed`` of the run's ``manifest.json`` when it
        exists, else IDs are checked against ``pca_model.json`` only.
    harmonise_config, overlap_config
        Variant matching and the overlap check's settings.
    seed
        Seed of the outcome permutations.

    Returns
    -------
    ReplicationResult

    Raises
    ------
    GenoptError
        Overlap with discovery (unless ``config.drop_overlap``), too few
        harmonised variants, one outcome class, too few samples for the
        covariates; no file is written then.
    """
    return replicate_many(
        run_dir, {name: cohort}, config, out_dir, discovery, harmonise_config, overlap_config, seed, meta=False
    )[name]


def replicate_many(
    run_dir: str | Path,
    cohorts: Mapping[str, Cohort],
    config: ReplicationConfig | None = None,
    out_dir: str | Path | None = None,
    discovery: PlinkFileset | str | Path | None = None,
    harmonise_config: HarmoniseConfig | None = None,
    overlap_config: OverlapConfig | None = None,
    seed: int = 0,
    meta: bool = True,
    overlaps: Mapping[str, OverlapResult] | None = None,
) -> dict[str, ReplicationResult]:
    """Replicate on several held-out cohorts; write their files, ``replication/meta.tsv`` and ``meta.json``.

    Every cohort is analysed before anything is written: one failing cohort
    writes nothing. Parameters as :func:`replicate`; ``cohorts`` maps names
    to cohorts; ``meta`` writes :func:`meta_table` and :func:`score_meta` (also for one cohort);
    ``overlaps`` maps names to :func:`genopt.relatedness.find_overlap` results already computed
    for ``discovery`` and the cohort with the same configs (not recomputed).
    """
    if not cohorts:
        raise GenoptError("no held-out cohort to replicate on")
    config = ReplicationConfig() if config is None else config
    run = load_run(run_dir)
    disc = _open_discovery(discovery, run)
    results = {
        name: _one(run, cohort, name, config, disc, harmonise_config, overlap_config, seed, (overlaps or {}).get(name))
        for name, cohort in cohorts.items()
    }
    table = meta_table(results, run) if meta else None
    _write(results, Path(out_dir) if out_dir is not None else run.path, table)
    return results
