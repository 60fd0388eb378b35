"""Liability-threshold phenotypes with a known truth.

:func:`simulate_phenotype` / :func:`apply_truth`: a binary outcome
(1 = cooperate, 0 = defect) on real genotypes under a liability-threshold
model, with a truth table of causal variants and their per-allele effects
(effect allele = the .bim A1, the allele genopt counts everywhere). The model
is described in the :mod:`genopt.simulate` package docstring.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from genopt.config import PhenotypeSimConfig
from genopt.errors import GenoptError
from genopt.io.atomic import write_tsv
from genopt.io.plink import allele_frequencies
from genopt.relatedness import select_variants
from genopt.simulate._common import (
    Genotypes,
    _match_variants,
    _read,
    _resolve,
    _standardise,
    _standardise_columns,
    _truncated_svd,
)

#: Columns of a truth table (GWAS-SSF names; effect allele = .bim A1).
TRUTH_COLUMNS = [
    "rsid",
    "chromosome",
    "base_pair_location",
    "effect_allele",
    "other_allele",
    "effect_allele_frequency",
    "beta",
    "standardised_beta",
]
#: Outcome column name in phenotype files.
PHENOTYPE_COLUMN = "cooperate"
#: Variants used for the default ancestry axis (PC1), spread evenly over the genome.
ANCESTRY_VARIANTS = 3000


# ---------------------------------------------------------------------------
# Ancestry axis
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AncestryAxis:
    """PC1 of standardised genotypes, frozen so other cohorts can be projected.

    Attributes
    ----------
    variants
        Table of the variants used (``id a1 a2``); scores count the A1 allele.
    mean, sd
        Per-variant mean A1 count and SD used to standardise, shape ``(m,)``.
    loading
        Unit-norm PC1 loading per variant, shape ``(m,)``.
    score_mean, score_sd
        Mean and SD of the raw projection in the cohort the axis was fitted on;
        :meth:`score` returns scores on that scale (mean 0, SD 1 there).
    """

    variants: pd.DataFrame
    mean: npt.NDArray[np.float64]
    sd: npt.NDArray[np.float64]
    loading: npt.NDArray[np.float64]
    score_mean: float
    score_sd: float

    def raw(self, genotypes: Genotypes, variants: pd.DataFrame | None = None) -> npt.NDArray[np.float64]:
        """Raw projection of ``genotypes`` (matched to the axis by variant ID and alleles)."""
        g, vt, _ = _resolve(genotypes, variants, None)
        cols, flip = _match_variants(vt, self.variants, "ancestry axis")
        x = _read(g, cols)
        x = np.where(flip[None, :], 2.0 - x, x)
        z = (x - self.mean[None, :]) / self.sd[None, :]
        z = np.where(np.isnan(z), 0.0, z)
        return np.asarray(z @ self.loading)

    def score(self, genotypes: Genotypes, variants: pd.DataFrame | None = None) -> npt.NDArray[np.float64]:
        """Ancestry score per sample, shape ``(n_samples,)``, on the fitting cohort's scale."""
        return (self.raw(genotypes, variants) - self.score_mean) / self.score_sd


def fit_ancestry_axis(
    genotypes: Genotypes, variants: pd.DataFrame | None = None, n_variants: int = ANCESTRY_VARIANTS
) -> AncestryAxis:
    """PC1 of the standardised genotypes of up to ``n_variants`` evenly spaced variants.

    Variants with MAF < 0.05 are skipped. Missing calls count as the mean.
    The sign is fixed so that the loading with the largest magnitude is
    positive (deterministic; the direction itself has no meaning).
    """
    g, vt, _ = _resolve(genotypes, variants, None)
    freq, _ = allele_frequencies(g)
    common = np.minimum(freq, 1 - freq) >= 0.05
    if common.sum() < 2:
        raise GenoptError("fewer than 2 variants with MAF >= 0.05: cannot compute an ancestry axis")
    pick = select_variants(common, n_variants)
    x = _read(g, pick)
    z, mean, sd = _standardise_columns(x)
    sd = np.where(sd == 0, 1.0, sd)
    _, _, vt_ = _truncated_svd(z, 1)
    loading = vt_[0]
    if loading[np.argmax(np.abs(loading))] < 0:
        loading = -loading
    raw = z @ loading
    table = vt.iloc[pick][["id", "a1", "a2"]].reset_index(drop=True)
    return AncestryAxis(table, mean, sd, loading, float(raw.mean()), float(raw.std()))


# ---------------------------------------------------------------------------
# Phenotype simulation
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SimulatedPhenotype:
    """A simulated binary outcome with every component of its liability.

    All arrays have shape ``(n_samples,)`` in the order of ``samples``.

    Attributes
    ----------
    samples
        ``fid iid`` of the people.
    cooperate
        Outcome, int8: 1 = cooperate, 0 = defect.
    liability
        Total liability ``L`` (liability SD units).
    genetic, sex_part, age_part, ancestry_part, noise
        The components of ``L`` (see the module docstring).
    covariates
        ``FID IID sex age`` used (sex 1 = male, 2 = female; age in years).
    truth
        Causal variants (:data:`TRUTH_COLUMNS`).
    threshold
        Liability threshold: ``cooperate = liability > threshold``.
    config
        The configuration used.
    ancestry_axis
        The PC1 axis when one was fitted from the genotypes, else None.
    """

    samples: pd.DataFrame
    cooperate: npt.NDArray[np.int8]
    liability: npt.NDArray[np.float64]
    genetic: npt.NDArray[np.float64]
    sex_part: npt.NDArray[np.float64]
    age_part: npt.NDArray[np.float64]
    ancestry_part: npt.NDArray[np.float64]
    noise: npt.NDArray[np.float64]
    covariates: pd.DataFrame
    truth: pd.DataFrame
    threshold: float
    config: PhenotypeSimConfig
    ancestry_axis: AncestryAxis | None = field(default=None, repr=False)

    @property
    def realised_h2(self) -> float:
        """``var(genetic) / var(liability)`` in this sample."""
        return float(self.genetic.var() / self.liability.var())

    @property
    def prevalence(self) -> float:
        """Fraction with outcome 1 (cooperate)."""
        return float(self.cooperate.mean())

    def phenotype_table(self) -> pd.DataFrame:
        """``FID IID cooperate`` (0/1)."""
        return pd.DataFrame(
            {
                "FID": self.samples["fid"].to_numpy(),
                "IID": self.samples["iid"].to_numpy(),
                PHENOTYPE_COLUMN: self.cooperate,
            }
        )


def _check_config(config: PhenotypeSimConfig) -> float:
    """Validate and return the residual (noise) variance."""
    if not 0.0 <= config.h2 < 1.0:
        raise GenoptError(f"h2 must be in [0, 1), got {config.h2}")
    if not 0.0 < config.prevalence < 1.0:
        raise GenoptError(f"prevalence must be in (0, 1), got {config.prevalence}")
    if config.n_causal < 1:
        raise GenoptError(f"n_causal must be at least 1, got {config.n_causal}")
    if not 0.0 <= config.causal_maf <= 0.5:
        raise GenoptError(f"causal_maf must be in [0, 0.5], got {config.causal_maf}")
    if config.ancestry_effect < 0:
        raise GenoptError(f"ancestry_effect must be >= 0, got {config.ancestry_effect}")
    resid = 1.0 - config.h2 - 0.25 * config.sex_effect**2 - config.age_effect**2 - config.ancestry_effect
    if resid <= 0:
        raise GenoptError(
            f"h2 ({config.h2}) + sex ({0.25 * config.sex_effect**2:.3g}) + age ({config.age_effect**2:.3g}) "
            f"+ ancestry ({config.ancestry_effect}) liability variance must be below 1 (residual {resid:.3g})"
        )
    return resid


def simulate_covariates(samples: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Sex and age for each sample.

    Sex is the .fam sex where known (1 male, 2 female), otherwise drawn 50/50;
    age in whole years, normal with mean 45 and SD 13, clipped to 18-80.

    Returns
    -------
    DataFrame ``FID IID sex age``.
    """
    n = len(samples)
    sex = rng.integers(1, 3, size=n)
    if "sex" in samples:
        known = samples["sex"].to_numpy().astype(np.int64)
        sex = np.where(np.isin(known, [1, 2]), known, sex)
    age = np.clip(np.round(rng.normal(45.0, 13.0, size=n)), 18, 80).astype(np.int64)
    return pd.DataFrame(
        {"FID": samples["fid"].to_numpy(), "IID": samples["iid"].to_numpy(), "sex": sex.astype(np.int64), "age": age}
    )


def _covariate_parts(
    covariates: pd.DataFrame | None, samples: pd.DataFrame, config: PhenotypeSimConfig, rng: np.random.Generator
) -> tuple[pd.DataFrame, npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    if covariates is None:
        covariates = simulate_covariates(samples, rng)
    else:
        covariates = covariates.reset_index(drop=True)
        for col in ("sex", "age"):
            if col not in covariates:
                raise GenoptError(f"covariate table has no {col!r} column")
        if len(covariates) != len(samples):
            raise GenoptError(f"covariate table has {len(covariates)} rows for {len(samples)} samples")
        sex_values = pd.to_numeric(covariates["sex"], errors="coerce")
        bad = ~sex_values.isin([1, 2])
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise GenoptError(f"sex must be 1 (male) or 2 (female), got {covariates['sex'].iloc[row]!r}")
        age_values = pd.to_numeric(covariates["age"], errors="coerce")
        if age_values.isna().any():
            row = int(np.flatnonzero(age_values.isna().to_numpy())[0])
            raise GenoptError(f"age must be a number, got {covariates['age'].iloc[row]!r}")
    female = (covariates["sex"].to_numpy().astype(np.int64) == 2).astype(np.float64)
    sex_part = config.sex_effect * (female - female.mean())
    age_part = config.age_effect * _standardise(covariates["age"].to_numpy().astype(np.float64))
    return covariates, sex_part, age_part


def _ancestry_part(
    genotypes: Genotypes,
    variants: pd.DataFrame,
    ancestry: npt.ArrayLike | AncestryAxis | None,
    config: PhenotypeSimConfig,
    n: int,
    standardise: bool,
) -> tuple[npt.NDArray[np.float64], AncestryAxis | None]:
    if config.ancestry_effect == 0:
        return np.zeros(n), None
    axis: AncestryAxis | None = None
    if ancestry is None:
        axis = fit_ancestry_axis(genotypes, variants)
        score = axis.score(genotypes, variants)
    elif isinstance(ancestry, AncestryAxis):
        axis = ancestry
        score = ancestry.score(genotypes, variants)
    else:
        score = np.asarray(ancestry, dtype=np.float64).reshape(-1)
        if score.shape != (n,):
            raise GenoptError(f"ancestry has {score.size} values for {n} samples")
        if np.isnan(score).any():
            raise GenoptError("ancestry score has missing values")
        if standardise:
            score = _standardise(score)
    return np.sqrt(config.ancestry_effect) * score, axis


def _genetic_part(
    genotypes: Genotypes,
    cols: npt.NDArray[np.intp],
    flip: npt.NDArray[np.bool_],
    beta: npt.NDArray[np.float64],
    freq: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """``sum_j beta_j (x_ij - 2 p_j)``, x counting the truth's effect allele; missing -> 2p."""
    x = _read(genotypes, cols)
    x = np.where(flip[None, :], 2.0 - x, x)
    centred = np.where(np.isnan(x), 0.0, x - 2.0 * freq[None, :])
    return np.asarray(centred @ beta)


def _finish(
    samples: pd.DataFrame,
    genetic: npt.NDArray[np.float64],
    sex_part: npt.NDArray[np.float64],
    age_part: npt.NDArray[np.float64],
    ancestry_part: npt.NDArray[np.float64],
    resid_var: float,
    covariates: pd.DataFrame,
    truth: pd.DataFrame,
    config: PhenotypeSimConfig,
    rng: np.random.Generator,
    axis: AncestryAxis | None,
) -> SimulatedPhenotype:
    noise = rng.normal(0.0, np.sqrt(resid_var), size=len(samples))
    liability = genetic + sex_part + age_part + ancestry_part + noise
    threshold = float(np.quantile(liability, 1.0 - config.prevalence))
    cooperate = (liability > threshold).astype(np.int8)
    return SimulatedPhenotype(
        samples=samples[["fid", "iid"]].reset_index(drop=True),
        cooperate=cooperate,
        liability=liability,
        genetic=genetic,
        sex_part=sex_part,
        age_part=age_part,
        ancestry_part=ancestry_part,
        noise=noise,
        covariates=covariates,
        truth=truth,
        threshold=threshold,
        config=config,
        ancestry_axis=axis,
    )


def simulate_phenotype(
    genotypes: Genotypes,
    config: PhenotypeSimConfig,
    covariates: pd.DataFrame | None = None,
    ancestry: npt.ArrayLike | AncestryAxis | None = None,
    variants: pd.DataFrame | None = None,
    samples: pd.DataFrame | None = None,
) -> SimulatedPhenotype:
    """Simulate the binary outcome (1 = cooperate) under a liability-threshold model.

    See the module docstring for the model. Causal variants are
    ``config.n_causal`` variants drawn uniformly among those with MAF >=
    ``config.causal_maf`` in this sample; their standardised effects are
    N(0, 1), rescaled so the genetic liability variance is exactly
    ``config.h2`` in this sample.

    Parameters
    ----------
    genotypes
        A :class:`PlinkFileset` (only the causal variants and the ancestry
        variants are decoded; frequencies are streamed in chunks) or a
        ``(n_samples, n_variants)`` array of A1 counts (NaN or negative =
        missing).
    config
        Simulation parameters; ``config.seed`` drives every random draw.
    covariates
        ``sex`` (1 male, 2 female) and ``age`` (years) per sample, in sample
        order; simulated with :func:`simulate_covariates` when None.
    ancestry
        Ancestry score per sample (standardised here) or an
        :class:`AncestryAxis` to project onto; PC1 of these genotypes when None.
        Only used when ``config.ancestry_effect > 0``.
    variants, samples
        .bim / .fam tables for an array input (placeholders when None).

    Returns
    -------
    SimulatedPhenotype
    """
    resid = _check_config(config)
    g, vt, st = _resolve(genotypes, variants, samples)
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 1]))
    freq, _ = allele_frequencies(g)
    maf = np.minimum(freq, 1.0 - freq)
    eligible = np.flatnonzero(np.nan_to_num(maf, nan=-1.0) >= max(config.causal_maf, 1e-12))
    if eligible.size < config.n_causal:
        raise GenoptError(
            f"n_causal = {config.n_causal} but only {eligible.size} variants have MAF >= {config.causal_maf}"
        )
    cols = np.sort(rng.choice(eligible, size=config.n_causal, replace=False))
    p = freq[cols]
    beta_std = rng.normal(size=config.n_causal)
    beta = beta_std / np.sqrt(2.0 * p * (1.0 - p))
    genetic = _genetic_part(g, cols, np.zeros(cols.size, bool), beta, p)
    gvar = genetic.var()
    scale = np.sqrt(config.h2 / gvar) if gvar > 0 else 0.0
    beta, beta_std, genetic = beta * scale, beta_std * scale, genetic * scale
    v = vt.iloc[cols]
    truth = pd.DataFrame(
        {
            "rsid": v["id"].to_numpy(),
            "chromosome": v["chrom"].to_numpy(),
            "base_pair_location": v["pos"].to_numpy(),
            "effect_allele": v["a1"].to_numpy(),
            "other_allele": v["a2"].to_numpy(),
            "effect_allele_frequency": p,
            "beta": beta,
            "standardised_beta": beta_std,
        }
    )
    covs, sex_part, age_part = _covariate_parts(covariates, st, config, rng)
    anc, axis = _ancestry_part(g, vt, ancestry, config, len(st), standardise=True)
    return _finish(st, genetic, sex_part, age_part, anc, resid, covs, truth, config, rng, axis)


def apply_truth(
    genotypes: Genotypes,
    truth: pd.DataFrame,
    config: PhenotypeSimConfig,
    covariates: pd.DataFrame | None = None,
    ancestry: npt.ArrayLike | AncestryAxis | None = None,
    variants: pd.DataFrame | None = None,
    samples: pd.DataFrame | None = None,
) -> SimulatedPhenotype:
    """Simulate the outcome in another cohort with a given genetic architecture.

    The causal variants and their per-allele effects come from ``truth``
    (matched by variant ID; where the cohort's .bim has A1 and A2 swapped the
    count is flipped so it counts the truth's effect allele). The genetic
    liability is ``sum beta_j (x_ij - 2 p_j)`` with ``p_j`` the truth's
    ``effect_allele_frequency`` and is *not* rescaled: its variance in this
    cohort follows from this cohort's allele frequencies. Covariate effects,
    the noise variance and the prevalence (threshold at this cohort's
    ``1 - prevalence`` liability quantile) follow ``config``; ``config.h2``
    and ``config.n_causal`` only set the noise variance.

    Parameters
    ----------
    genotypes, covariates, variants, samples
        As in :func:`simulate_phenotype`.
    truth
        Truth table with :data:`TRUTH_COLUMNS`.
    ancestry
        An :class:`AncestryAxis` (for example the discovery simulation's
        ``ancestry_axis``) to project this cohort onto, keeping the discovery
        scale and direction; or a score already on the discovery scale (used
        as is); or None for this cohort's own standardised PC1.

    Raises
    ------
    GenoptError
        A truth variant is missing from the genotypes or has other alleles.
    """
    resid = _check_config(config)
    missing_cols = [c for c in TRUTH_COLUMNS if c not in truth.columns]
    if missing_cols:
        raise GenoptError(f"truth table lacks columns {missing_cols}")
    g, vt, st = _resolve(genotypes, variants, samples)
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 2]))
    cols, flip = _match_variants(vt, truth, "truth", "rsid", "effect_allele", "other_allele")
    beta = truth["beta"].to_numpy(dtype=np.float64)
    p = truth["effect_allele_frequency"].to_numpy(dtype=np.float64)
    genetic = _genetic_part(g, cols, flip, beta, p)
    covs, sex_part, age_part = _covariate_parts(covariates, st, config, rng)
    if ancestry is None:
        anc, axis = _ancestry_part(g, vt, None, config, len(st), standardise=True)
    else:
        anc, axis = _ancestry_part(g, vt, ancestry, config, len(st), standardise=False)
    return _finish(st, genetic, sex_part, age_part, anc, resid, covs, truth.reset_index(drop=True), config, rng, axis)


def read_truth(path: str | Path) -> pd.DataFrame:
    """Read a truth table written by :func:`write_phenotype_files` or :func:`make_bundle`.

    Raises
    ------
    GenoptError
        The file is missing, lacks a :data:`TRUTH_COLUMNS` column, or has a
        non-numeric ``beta`` / ``effect_allele_frequency`` (naming the line).
    """
    path = Path(path)
    if not path.exists():
        raise GenoptError("truth file not found", path)
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    missing = [c for c in TRUTH_COLUMNS if c not in table.columns]
    if missing:
        raise GenoptError(f"header lacks column(s) {', '.join(missing)}", path, 1)
    for col in ("effect_allele_frequency", "beta", "standardised_beta"):
        values = pd.to_numeric(table[col], errors="coerce")
        if values.isna().any():
            row = int(np.flatnonzero(values.isna().to_numpy())[0])
            raise GenoptError(f"{col} {table[col].iloc[row]!r} is not a number", path, row + 2)
        table[col] = values.astype(np.float64)
    if table["rsid"].duplicated().any():
        dup = table["rsid"][table["rsid"].duplicated()].iloc[0]
        raise GenoptError(f"variant {dup!r} appears twice", path)
    return table[TRUTH_COLUMNS]


def write_phenotype_files(sim: SimulatedPhenotype, prefix: str | Path, truth: bool = True) -> list[Path]:
    """Write ``{prefix}.pheno.tsv`` (``FID IID cooperate``), ``{prefix}.covar.tsv``
    (``FID IID sex age``) and, if ``truth``, ``{prefix}.truth.tsv``; each atomically.

    Returns
    -------
    The paths written.
    """
    stem = str(prefix)
    paths = [Path(stem + ".pheno.tsv"), Path(stem + ".covar.tsv")]
    write_tsv(paths[0], sim.phenotype_table())
    write_tsv(paths[1], sim.covariates)
    if truth:
        paths.append(Path(stem + ".truth.tsv"))
        write_tsv(paths[2], sim.truth, float_format="%.6g")
    return paths
