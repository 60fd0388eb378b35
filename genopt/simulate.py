"""Phenotypes and cohorts with a known truth.

Two simulators live here:

* :func:`simulate_phenotype` / :func:`apply_truth`: a binary outcome
  (1 = cooperate, 0 = defect) on real genotypes under a liability-threshold
  model, with a truth table of causal variants and their per-allele effects
  (effect allele = the .bim A1, the allele genopt counts everywhere);
* :func:`recombine`: new people made as mosaics of real people's diploid
  genotype segments, so that a cohort can be larger than its reference while
  local linkage disequilibrium (LD) survives; :func:`ld_decay` measures it.

:func:`make_bundle` builds the cohorts shipped in ``data/`` from the reference
genotypes in ``../shared/data``.

Liability model
---------------
For person ``i`` the liability is::

    L_i = G_i + S_i + A_i + Y_i + E_i

* ``G_i = sum_j beta_j (x_ij - 2 p_j)``: genetic liability over the causal
  variants ``j``, ``x_ij`` the count of the .bim A1 allele (missing calls
  imputed to ``2 p_j``), ``p_j`` the A1 frequency. Standardised effects are
  drawn N(0, 1) and rescaled so that ``var(G) = h2`` exactly in the simulated
  sample; ``beta_j = beta_std_j / sqrt(2 p_j (1 - p_j))`` is the effect on the
  liability per A1 allele.
* ``S_i = sex_effect * (female_i - mean(female))``; ``Y_i = age_effect * z(age_i)``.
* ``A_i = sqrt(ancestry_effect) * a_i`` with ``a_i`` a standardised ancestry
  score (by default PC1 of the standardised genotypes): a confounder that
  shifts liability along ancestry, so allele-frequency differences between
  populations look like associations to an analysis without PCs.
* ``E_i ~ N(0, 1 - h2 - var(S) - var(Y) - ancestry_effect)`` (population
  variances), so that the liability has unit variance when G, A and the
  covariates are uncorrelated.

The outcome is 1 (cooperate) for the ``prevalence`` fraction of people with
the highest liability (threshold = the sample's ``1 - prevalence`` quantile).

Recombination
-------------
Each new person is a mosaic of diploid genotype segments copied from donor
individuals. Along each chromosome, breakpoints fall as a Poisson process in
genetic distance with mean segment length ``segment_cm`` (genetic positions
from the .bim; when the .bim has none, 1 cM per Mb of base-pair position).
Between two adjacent variants ``d`` cM apart, a new segment therefore starts
with probability ``1 - exp(-d / segment_cm)``, independently across gaps and
people, and each chromosome starts a new segment. Each segment's donor is
drawn uniformly from the donor pool (from the person's own population when
labels are given and ``within_population`` is set; each new person gets one
population, drawn in proportion to the donors' population sizes). Within a
segment the genotypes are the donor's, so LD between variants in one segment is
the donor population's, and allele and genotype frequencies match the donors'.
LD between variants in different segments is lost, so LD decays faster than in
the reference only at distances comparable to ``segment_cm``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from genopt.config import PhenotypeSimConfig, RecombineConfig
from genopt.errors import GenoptError
from genopt.io.atomic import write_text, write_tsv
from genopt.io.plink import PlinkFileset, open_plink, write_plink

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
_CHUNK = 2048
#: New people processed at once per chromosome by :func:`recombine` (bounds its index arrays).
_PEOPLE_BLOCK = 8192


Genotypes = PlinkFileset | npt.NDArray[Any]


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------


def _default_variants(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "chrom": "1",
            "id": [f"v{j + 1}" for j in range(n)],
            "cm": 0.0,
            "pos": np.arange(1, n + 1, dtype=np.int64) * 1000,
            "a1": "A",
            "a2": "G",
        }
    )


def _default_samples(n: int) -> pd.DataFrame:
    ids = [f"s{i + 1}" for i in range(n)]
    return pd.DataFrame({"fid": ids, "iid": ids, "father": "0", "mother": "0", "sex": 0, "phenotype": "-9"})


def _resolve(
    genotypes: Genotypes, variants: pd.DataFrame | None, samples: pd.DataFrame | None
) -> tuple[Genotypes, pd.DataFrame, pd.DataFrame]:
    """The genotype source with its variant and sample tables."""
    if isinstance(genotypes, PlinkFileset):
        return genotypes, genotypes.variants, genotypes.samples
    g = np.asarray(genotypes)
    if g.ndim != 2:
        raise ValueError(f"genotypes must be samples x variants, got shape {g.shape}")
    v = _default_variants(g.shape[1]) if variants is None else variants.reset_index(drop=True)
    s = _default_samples(g.shape[0]) if samples is None else samples.reset_index(drop=True)
    if len(v) != g.shape[1] or len(s) != g.shape[0]:
        raise ValueError(f"genotypes {g.shape} do not match {len(s)} samples x {len(v)} variants")
    return g, v, s


def _read(genotypes: Genotypes, cols: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
    """Columns ``cols`` as float64 A1 counts, NaN missing (samples x len(cols))."""
    if isinstance(genotypes, PlinkFileset):
        return genotypes.read(variants=cols, dtype=np.float64)
    g = np.asarray(genotypes)[:, cols].astype(np.float64)
    g[g < 0] = np.nan
    return g


def allele_frequencies(genotypes: Genotypes) -> npt.NDArray[np.float64]:
    """A1 frequency of every variant (missing calls ignored), streamed in chunks.

    Returns
    -------
    float64 array, shape ``(n_variants,)``; NaN where every call is missing.
    """
    if isinstance(genotypes, PlinkFileset):
        out = np.empty(genotypes.n_variants)
        for idx, block in genotypes.iter_variant_chunks(_CHUNK):
            ok = block >= 0
            with np.errstate(invalid="ignore", divide="ignore"):
                out[idx] = np.where(ok, block, 0).sum(0) / (2.0 * ok.sum(0))
        return out
    g = np.asarray(genotypes)
    out = np.empty(g.shape[1])
    for start in range(0, g.shape[1], _CHUNK):
        x = g[:, start : start + _CHUNK].astype(np.float64)
        ok = ~np.isnan(x) & (x >= 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start : start + _CHUNK] = np.where(ok, x, 0.0).sum(0) / (2.0 * ok.sum(0))
    return out


def _standardise(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    sd = x.std()
    return (x - x.mean()) / (sd if sd > 0 else 1.0)


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
    from scipy.sparse.linalg import svds

    g, vt, _ = _resolve(genotypes, variants, None)
    freq = allele_frequencies(g)
    common = np.flatnonzero(np.minimum(freq, 1 - freq) >= 0.05)
    if common.size < 2:
        raise GenoptError("fewer than 2 variants with MAF >= 0.05: cannot compute an ancestry axis")
    pick = common[np.unique(np.linspace(0, common.size - 1, min(n_variants, common.size)).round().astype(np.intp))]
    x = _read(g, pick)
    mean = np.nanmean(x, axis=0)
    sd = np.nanstd(x, axis=0)
    sd[sd == 0] = 1.0
    z = np.where(np.isnan(x), 0.0, (x - mean) / sd)
    v0 = np.ones(min(z.shape)) / np.sqrt(min(z.shape))
    _, _, vt_ = svds(z, k=1, v0=v0)
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
    freq = allele_frequencies(g)
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


def _match_variants(
    target: pd.DataFrame, wanted: pd.DataFrame, what: str, id_col: str = "id", a1: str = "a1", a2: str = "a2"
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """Columns of ``target`` holding ``wanted``'s variants (by ID) and whether A1/A2 are swapped."""
    index = pd.Index(target["id"].to_numpy())
    if not index.is_unique:
        dup = index[index.duplicated()][0]
        raise GenoptError(f"variant ID {dup!r} appears more than once; cannot apply the {what}")
    ids = wanted[id_col].to_numpy()
    cols = index.get_indexer(ids)
    if (cols < 0).any():
        missing = ids[cols < 0]
        raise GenoptError(f"{what} variant {missing[0]!r} is not in the genotypes ({missing.size} missing)")
    ta1 = target["a1"].to_numpy()[cols]
    ta2 = target["a2"].to_numpy()[cols]
    wa1 = wanted[a1].to_numpy()
    wa2 = wanted[a2].to_numpy()
    same = (ta1 == wa1) & (ta2 == wa2)
    swap = (ta1 == wa2) & (ta2 == wa1)
    bad = ~(same | swap)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise GenoptError(
            f"{what} variant {ids[k]!r} has alleles {wa1[k]}/{wa2[k]} but the genotypes have {ta1[k]}/{ta2[k]}"
        )
    return cols.astype(np.intp), swap


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


def write_recombined(
    prefix: str | Path,
    genotypes: npt.NDArray[np.int8],
    variants: pd.DataFrame,
    samples: pd.DataFrame,
    provenance: pd.DataFrame,
) -> list[Path]:
    """Write a :func:`recombine` result: ``{prefix}.bed/.bim/.fam``,
    ``{prefix}.people.tsv`` (``FID IID population n_segments n_donors``) and
    ``{prefix}.segments.tsv.gz`` (the full provenance, one row per segment).

    Returns
    -------
    The paths written.
    """
    from genopt.io.atomic import atomic_path

    stem = str(prefix)
    write_plink(stem, genotypes, variants, samples.drop(columns="population", errors="ignore"))
    per = provenance.groupby("IID", sort=False).agg(n_segments=("donor_iid", "size"), n_donors=("donor_iid", "nunique"))
    people = pd.DataFrame(
        {
            "FID": samples["fid"].to_numpy(),
            "IID": samples["iid"].to_numpy(),
            "population": samples["population"].to_numpy() if "population" in samples else None,
            "n_segments": per.loc[samples["iid"], "n_segments"].to_numpy(),
            "n_donors": per.loc[samples["iid"], "n_donors"].to_numpy(),
        }
    )
    write_tsv(stem + ".people.tsv", people)
    segments = Path(stem + ".segments.tsv.gz")
    with atomic_path(segments) as tmp:
        provenance.to_csv(tmp, sep="\t", index=False, compression={"method": "gzip", "mtime": 0})
    return [Path(stem + ext) for ext in (".bed", ".bim", ".fam", ".people.tsv")] + [segments]


# ---------------------------------------------------------------------------
# Recombination
# ---------------------------------------------------------------------------


def _labels_for(fileset: PlinkFileset, populations: Any) -> npt.NDArray[np.object_]:
    """Population label per fileset sample (None where unknown)."""
    n = fileset.n_samples
    if isinstance(populations, pd.DataFrame):
        cols = {c.lower(): c for c in populations.columns}
        if "iid" not in cols or "population" not in cols:
            raise GenoptError("population table needs IID and population columns")
        mapping = dict(zip(populations[cols["iid"]].astype(str), populations[cols["population"]], strict=True))
        labels = np.array([mapping.get(i) for i in fileset.samples["iid"].astype(str)], dtype=object)
    elif isinstance(populations, pd.Series | dict):
        mapping = dict(populations)
        labels = np.array([mapping.get(i) for i in fileset.samples["iid"].astype(str)], dtype=object)
    else:
        labels = np.asarray(populations, dtype=object)
        if labels.shape != (n,):
            raise GenoptError(f"{labels.size} population labels for {n} samples")
    bad = pd.isna(pd.Series(labels)).to_numpy() | (pd.Series(labels).astype(str) == "NA").to_numpy()
    labels[bad] = None
    return labels


def read_population_labels(path: str | Path) -> pd.DataFrame:
    """Read a ``FID IID population`` table (tab or spaces, header); ``NA`` = unknown."""
    path = Path(path)
    if not path.exists():
        raise GenoptError("population label file not found", path)
    table = pd.read_csv(path, sep=r"\s+", dtype=str, keep_default_na=False)
    cols = {c.lower(): c for c in table.columns}
    for need in ("iid", "population"):
        if need not in cols:
            raise GenoptError(f"header lacks a {need!r} column (found {' '.join(table.columns)})", path, 1)
    return table.rename(columns={cols["iid"]: "IID", cols["population"]: "population"})


def _donor_indices(fileset: PlinkFileset, donors: Any) -> npt.NDArray[np.intp]:
    if donors is None:
        return np.arange(fileset.n_samples, dtype=np.intp)
    arr = np.asarray(donors)
    if arr.dtype.kind in "iu":
        return np.unique(arr.astype(np.intp))
    if arr.dtype == bool:
        return np.flatnonzero(arr).astype(np.intp)
    index = pd.Index(fileset.samples["iid"].astype(str).to_numpy())
    idx = index.get_indexer(pd.Index(arr.astype(str)))
    if (idx < 0).any():
        raise GenoptError(f"donor IID {arr[idx < 0][0]!r} is not in the fileset", str(fileset.prefix) + ".fam")
    return np.unique(idx.astype(np.intp))


def genetic_positions(variants: pd.DataFrame) -> npt.NDArray[np.float64]:
    """Genetic position (cM) per variant: the .bim cM, or bp / 1e6 when a chromosome has none."""
    cm = variants["cm"].to_numpy(dtype=np.float64).copy()
    bp = variants["pos"].to_numpy(dtype=np.float64) / 1e6
    chrom = variants["chrom"].astype(str).to_numpy()
    for c in pd.unique(chrom):
        sel = chrom == c
        if not np.any(cm[sel] != 0):
            cm[sel] = bp[sel]
    return cm


def recombine(
    fileset: PlinkFileset,
    config: RecombineConfig,
    populations: Any = None,
    donors: Any = None,
    prefix: str = "sim",
) -> tuple[npt.NDArray[np.int8], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Make ``config.n_samples`` new people as mosaics of donors' diploid genotype segments.

    Method (see also the module docstring): along each chromosome a new
    segment starts at the first variant and, between adjacent variants ``d``
    cM apart, with probability ``1 - exp(-d / config.segment_cm)`` (a Poisson
    process of breakpoints along the genetic map; 1 cM per Mb when the .bim
    has no cM). Each segment copies the diploid genotypes (A1 counts, missing
    calls included) of one donor drawn uniformly from the donor pool, which
    is restricted to the new person's population when ``populations`` is
    given and ``config.within_population`` is true. Per chromosome, a donor
    index is built for every (new person, variant) from the cumulative
    breakpoints and the genotypes are gathered in one step: no loop over
    people or variants.

    Parameters
    ----------
    fileset
        Reference genotypes.
    config
        ``n_samples``, ``segment_cm``, ``within_population``, ``seed``.
    populations
        Labels per reference sample: a DataFrame with IID and population
        columns (as :func:`read_population_labels` returns), a mapping IID ->
        label, or an array aligned with the .fam. Unlabelled donors are not
        used when donors are drawn within populations.
    donors
        The donor pool: IIDs, integer indices or a boolean mask over the .fam
        (all samples when None).
    prefix
        New people are named ``{prefix}{k}`` (FID = IID), k from 1.

    Returns
    -------
    genotypes
        int8 ``(n_samples, n_variants)``, A1 counts of the reference .bim A1,
        -1 missing.
    variants
        The reference .bim table (unchanged).
    samples
        .fam table of the new people (sex 0 = unknown, phenotype -9) with an
        extra ``population`` column (None without labels).
    provenance
        One row per copied segment: ``FID IID chrom start_index end_index
        start_variant end_variant donor_fid donor_iid``; ``start_index`` and
        ``end_index`` are the .bim rows of the segment's first and last
        variant in genetic-position order (inclusive). Rows are ordered by
        chromosome, then person.
    """
    if config.n_samples < 1:
        raise GenoptError(f"n_samples must be at least 1, got {config.n_samples}")
    if not config.segment_cm > 0:
        raise GenoptError(f"segment_cm must be positive, got {config.segment_cm}")
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 3]))
    pool = _donor_indices(fileset, donors)
    n = config.n_samples
    if populations is not None and config.within_population:
        labels = _labels_for(fileset, populations)[pool]
        pool = pool[np.array([lab is not None for lab in labels], dtype=bool)]
        labels = np.array([lab for lab in labels if lab is not None], dtype=object)
        order = np.argsort(labels.astype(str), kind="stable")
        pool, labels = pool[order], labels[order]
        names, start, size = np.unique(labels.astype(str), return_index=True, return_counts=True)
        if names.size == 0:
            raise GenoptError("no donor has a population label")
        small = names[size < 2]
        if small.size:
            raise GenoptError(f"population {small[0]!r} has only 1 donor; need at least 2 to recombine")
        person_pop = rng.choice(names.size, size=n, p=size / size.sum())
        pop_names: npt.NDArray[Any] = names[person_pop]
    else:
        if pool.size < 2:
            raise GenoptError(f"need at least 2 donors, got {pool.size}")
        start, size = np.array([0]), np.array([pool.size])
        person_pop = np.zeros(n, dtype=np.intp)
        pop_names = np.full(n, None, dtype=object)
    p_start = start[person_pop][:, None]
    p_size = size[person_pop][:, None]

    vt = fileset.variants
    gpos = genetic_positions(vt)
    chrom = vt["chrom"].astype(str).to_numpy()
    out = np.empty((n, fileset.n_variants), dtype=np.int8)
    new_ids = np.array([f"{prefix}{k + 1}" for k in range(n)], dtype=object)
    ids = vt["id"].to_numpy()
    don_fid = fileset.samples["fid"].to_numpy()
    don_iid = fileset.samples["iid"].to_numpy()
    prov: list[pd.DataFrame] = []
    for c in pd.unique(chrom):
        cols = np.flatnonzero(chrom == c)
        order = cols[np.argsort(gpos[cols], kind="stable")]
        gap = np.diff(gpos[order], prepend=gpos[order][0])
        p_break = 1.0 - np.exp(-np.abs(gap) / config.segment_cm)
        ref = fileset.read_int8(variants=order)  # n_ref x m_c
        for lo in range(0, n, _PEOPLE_BLOCK):  # blocks of people bound the memory of the index arrays
            hi = min(n, lo + _PEOPLE_BLOCK)
            switch = rng.random((hi - lo, order.size)) < p_break[None, :]
            switch[:, 0] = True
            # A donor is drawn at every variant; the one drawn at a segment's first variant is carried forward.
            draw = pool[p_start[lo:hi] + np.floor(rng.random((hi - lo, order.size)) * p_size[lo:hi]).astype(np.intp)]
            last = np.maximum.accumulate(np.where(switch, np.arange(order.size)[None, :], 0), axis=1)
            donor = np.take_along_axis(draw, last, axis=1)
            out[lo:hi, order] = ref[donor, np.arange(order.size)[None, :]]
            person, seg_start = np.nonzero(switch)
            next_same = np.zeros(person.size, dtype=bool)
            next_same[:-1] = person[1:] == person[:-1]
            seg_next = np.append(seg_start[1:], 0)
            seg_end = np.where(next_same, seg_next - 1, order.size - 1)
            d = draw[person, seg_start]
            prov.append(
                pd.DataFrame(
                    {
                        "FID": new_ids[lo + person],
                        "IID": new_ids[lo + person],
                        "chrom": c,
                        "start_index": order[seg_start],
                        "end_index": order[seg_end],
                        "start_variant": ids[order[seg_start]],
                        "end_variant": ids[order[seg_end]],
                        "donor_fid": don_fid[d],
                        "donor_iid": don_iid[d],
                    }
                )
            )
    samples = pd.DataFrame(
        {
            "fid": new_ids,
            "iid": new_ids,
            "father": "0",
            "mother": "0",
            "sex": np.zeros(n, dtype=np.int8),
            "phenotype": "-9",
            "population": pop_names,
        }
    )
    provenance = pd.concat(prov, ignore_index=True) if prov else pd.DataFrame()
    return out, vt.copy(), samples, provenance


def shuffle_genotypes(genotypes: npt.NDArray[Any], seed: int = 0) -> npt.NDArray[Any]:
    """Negative control: permute each variant's genotypes independently across people.

    Keeps every allele and genotype frequency and destroys all LD.
    """
    rng = np.random.default_rng(seed)
    g = np.asarray(genotypes)
    perm = np.argsort(rng.random(g.shape), axis=0)
    return np.take_along_axis(g, perm, axis=0)


# ---------------------------------------------------------------------------
# LD decay
# ---------------------------------------------------------------------------

#: Default distance bins (bp) of :func:`ld_decay`.
LD_BINS = (0, 25_000, 50_000, 100_000, 200_000, 300_000, 500_000, 750_000, 1_000_000, 2_000_000)


def ld_decay(
    genotypes: Genotypes,
    variants: pd.DataFrame | None = None,
    bins: tuple[int, ...] | npt.ArrayLike = LD_BINS,
    max_offset: int = 20,
) -> pd.DataFrame:
    """Mean r^2 between variant pairs by base-pair distance bin.

    Pairs are variants on the same chromosome at most ``max_offset`` positions
    apart in .bim order (sorted by position) and at most ``bins[-1]`` bp apart;
    r is the Pearson correlation of A1 counts with missing calls set to the
    variant mean. Monomorphic variants are skipped.

    Returns
    -------
    DataFrame ``bin_start bin_end n_pairs mean_r2`` (bp; ``bin_start <=
    distance < bin_end``), one row per bin.
    """
    g, vt, _ = _resolve(genotypes, variants, None)
    edges = np.asarray(bins, dtype=np.float64)
    sums = np.zeros(edges.size - 1)
    counts = np.zeros(edges.size - 1, dtype=np.int64)
    chrom = vt["chrom"].astype(str).to_numpy()
    pos = vt["pos"].to_numpy(dtype=np.float64)
    for c in pd.unique(chrom):
        cols = np.flatnonzero(chrom == c)
        cols = cols[np.argsort(pos[cols], kind="stable")]
        x = _read(g, cols)
        mean = np.nanmean(x, axis=0)
        sd = np.nanstd(x, axis=0)
        keep = sd > 0
        x, cols = x[:, keep], cols[keep]
        z = np.where(np.isnan(x), 0.0, (x - mean[keep]) / sd[keep])
        sd2 = np.sqrt((z * z).mean(0))
        z = z / np.where(sd2 > 0, sd2, 1.0)
        p = pos[cols]
        for k in range(1, min(max_offset, cols.size - 1) + 1):
            r = (z[:, :-k] * z[:, k:]).mean(0)
            dist = p[k:] - p[:-k]
            b = np.searchsorted(edges, dist, side="right") - 1
            ok = (b >= 0) & (b < edges.size - 1)
            sums += np.bincount(b[ok], weights=r[ok] ** 2, minlength=edges.size - 1)
            counts += np.bincount(b[ok], minlength=edges.size - 1)
    with np.errstate(invalid="ignore"):
        mean_r2 = sums / counts
    return pd.DataFrame(
        {
            "bin_start": edges[:-1].astype(np.int64),
            "bin_end": edges[1:].astype(np.int64),
            "n_pairs": counts,
            "mean_r2": mean_r2,
        }
    )


def plot_ld_decay(curves: dict[str, pd.DataFrame], path: str | Path) -> None:
    """Write a PNG of LD decay curves (mean r^2 against bin midpoint, kb)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from genopt.io.atomic import atomic_path

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, curve in curves.items():
        mid = (curve["bin_start"] + curve["bin_end"]) / 2000.0
        ax.plot(mid, curve["mean_r2"], marker="o", label=name)
    ax.set_xscale("log")
    ax.set_xlabel("distance between variants (kb, bin midpoint)")
    ax.set_ylabel("mean r$^2$ (recombined/shuffled: minus 1/n)")
    ax.set_title("LD decay: donors vs recombined cohorts")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


# ---------------------------------------------------------------------------
# Relatedness check used to keep donor pools disjoint (KING-robust)
# ---------------------------------------------------------------------------


def king_kinship(a: npt.NDArray[np.int8], b: npt.NDArray[np.int8] | None = None) -> npt.NDArray[np.float64]:
    """KING-robust kinship between the rows of ``a`` and of ``b`` (``a`` itself when None).

    The between-family estimator of Manichaikul et al. (2010), as
    ``plink2 --make-king`` reports it: with counts over variants called in
    both people and ``h = min(N_het_a, N_het_b)``,
    ``phi = (N_hethet - 2 N_opposite_hom) / (2 h) + 1/2 - (N_het_a + N_het_b) / (4 h)``. Duplicates are near 0.5,
    first-degree relatives near 0.25, second-degree near 0.125.

    Parameters
    ----------
    a, b
        int8 A1 counts, samples x variants, -1 missing; same variants in the
        same order and allele orientation.

    Returns
    -------
    float64 ``(len(a), len(b))``; NaN where no variant is called in both.
    """

    def parts(g: npt.NDArray[np.int8]) -> tuple[npt.NDArray[np.float32], ...]:
        return (*((g == k).astype(np.float32) for k in (0, 1, 2)), (g >= 0).astype(np.float32))

    a0, a1, a2, am = parts(a)
    b0, b1, b2, bm = (a0, a1, a2, am) if b is None else parts(b)
    hethet = a1 @ b1.T
    opposite = a0 @ b2.T + a2 @ b0.T
    het_a = a1 @ bm.T
    het_b = am @ b1.T
    with np.errstate(invalid="ignore", divide="ignore"):
        h = np.minimum(het_a, het_b).astype(np.float64)
        phi = (hethet - 2.0 * opposite) / (2.0 * h) + 0.5 - (het_a + het_b.astype(np.float64)) / (4.0 * h)
    return np.asarray(phi)


# ---------------------------------------------------------------------------
# The bundled cohorts (data/)
# ---------------------------------------------------------------------------

#: Parameters of the bundled cohorts (see data/README.md for why).
BUNDLE_PHENOTYPE = PhenotypeSimConfig(
    h2=0.5, n_causal=30, causal_maf=0.05, prevalence=0.5, sex_effect=0.2, age_effect=0.1, ancestry_effect=0.05
)
#: Cohort name -> (number of people, donor source).
BUNDLE_COHORTS = {"discovery": (4000, "hm3"), "heldout_a": (2000, "hm3"), "heldout_b": (2000, "kg1")}
#: Fraction of (relatedness groups of) each hm3 population that donates to discovery.
BUNDLE_DISCOVERY_FRACTION = 0.6
#: KING-robust kinship at or above which two reference people are kept in one donor pool (second degree).
BUNDLE_KINSHIP = 0.0884
BUNDLE_SEGMENT_CM = 10.0


def _related_groups(kinship: npt.NDArray[np.float64], threshold: float) -> npt.NDArray[np.intp]:
    """Connected components of the graph 'kinship >= threshold' (component label per person)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    adj = np.nan_to_num(kinship, nan=0.0) >= threshold
    _, comp = connected_components(csr_matrix(adj.astype(np.int8)), directed=False)
    return np.asarray(comp, dtype=np.intp)


def split_donor_pools(
    hm3: PlinkFileset,
    kg1: PlinkFileset,
    hm3_labels: pd.DataFrame,
    kg1_labels: pd.DataFrame,
    seed: int = 0,
    discovery_fraction: float = BUNDLE_DISCOVERY_FRACTION,
    kinship_threshold: float = BUNDLE_KINSHIP,
) -> pd.DataFrame:
    """Disjoint donor pools: discovery and held-out A from hm3, held-out B from kg1.

    People of both sets are grouped by relatedness (KING-robust kinship >=
    ``kinship_threshold`` on the shared variants, matched by ID; duplicates,
    such as the 564 people in both sets, have kinship ~0.5). Within each hm3
    population, whole groups are assigned at random to discovery until
    ``discovery_fraction`` of the population is reached, the rest to held-out
    A. Held-out B takes kg1 people whose IID is not in hm3, who have a
    population label and whose group contains nobody from hm3. No real person,
    and no pair of relatives, is split across pools.

    Returns
    -------
    DataFrame ``pool source FID IID population`` (pool one of ``discovery``,
    ``heldout_a``, ``heldout_b``), sorted by pool then source order.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 4]))
    cols, flip = _match_variants(kg1.variants, hm3.variants, "hm3")
    g_hm3 = hm3.read_int8()
    g_kg1 = kg1.read_int8(variants=cols)
    g_kg1 = np.where(flip[None, :] & (g_kg1 >= 0), 2 - g_kg1, g_kg1).astype(np.int8)
    both = np.concatenate([g_hm3, g_kg1])
    comp = _related_groups(king_kinship(both), kinship_threshold)
    n_h = hm3.n_samples
    comp_h, comp_k = comp[:n_h], comp[n_h:]
    hl = _labels_for(hm3, hm3_labels)
    kl = _labels_for(kg1, kg1_labels)
    # Random order of groups; within each population fill discovery group by group.
    group_rank = rng.permutation(comp.max() + 1)
    to_disc = np.zeros(comp.max() + 1, dtype=bool)
    decided = np.zeros(comp.max() + 1, dtype=bool)
    hl_str = np.array(["" if x is None else str(x) for x in hl])
    for pop in np.unique(hl_str):
        members = np.flatnonzero(hl_str == pop)
        groups = np.unique(comp_h[members])
        groups = groups[np.argsort(group_rank[groups])]
        target = discovery_fraction * members.size
        taken = 0
        for grp in groups:  # a loop over groups of one population (tens), not over genotypes
            if decided[grp]:
                continue
            size = int(np.sum(comp_h[members] == grp))
            to_disc[grp] = taken + size / 2 <= target
            taken += size if to_disc[grp] else 0
            decided[grp] = True
    hm3_pool = np.where(to_disc[comp_h], "discovery", "heldout_a")
    hm3_iids = set(hm3.samples["iid"].astype(str))
    kg_iid = kg1.samples["iid"].astype(str).to_numpy()
    related_to_hm3 = np.isin(comp_k, comp_h)
    keep_k = ~np.isin(kg_iid, list(hm3_iids)) & ~related_to_hm3 & np.array([x is not None for x in kl])
    frames = [
        pd.DataFrame(
            {
                "pool": hm3_pool,
                "source": "hm3",
                "FID": hm3.samples["fid"].to_numpy(),
                "IID": hm3.samples["iid"].to_numpy(),
                "population": hl,
            }
        ),
        pd.DataFrame(
            {
                "pool": "heldout_b",
                "source": "kg1",
                "FID": kg1.samples["fid"].to_numpy()[keep_k],
                "IID": kg_iid[keep_k],
                "population": kl[keep_k],
            }
        ),
    ]
    pools = pd.concat(frames, ignore_index=True)
    pools = pools[pools["population"].notna()]
    order = {"discovery": 0, "heldout_a": 1, "heldout_b": 2}
    return pools.sort_values("pool", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)


def _assoc_chi2(
    genotypes: npt.NDArray[np.int8], y: npt.NDArray[Any], covars: npt.NDArray[np.float64] | None
) -> npt.NDArray[np.float64]:
    """Per-variant score-test chi-square (n r^2 of residualised y and genotype), vectorised."""
    x = genotypes.astype(np.float64)
    miss = x < 0
    mean = np.where(miss, 0.0, x).sum(0) / np.maximum((~miss).sum(0), 1)
    x = np.where(miss, mean[None, :], x)
    yy = y.astype(np.float64)
    design = np.ones((len(yy), 1)) if covars is None else np.column_stack([np.ones(len(yy)), covars])
    q, _ = np.linalg.qr(design)
    yr = yy - q @ (q.T @ yy)
    xr = x - q @ (q.T @ x)
    num = (xr * yr[:, None]).sum(0) ** 2
    den = (xr * xr).sum(0) * (yr @ yr)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = np.where(den > 0, num / den, 0.0)
    return np.asarray(len(yy) * r2)


#: Chi-square (1 df) at p = 5e-8.
GWS_CHI2 = 29.7168


def _top_pcs(genotypes: npt.NDArray[np.int8], k: int, thin: int = 3) -> npt.NDArray[np.float64]:
    """Top ``k`` principal-component scores of standardised genotypes (every ``thin``-th variant).

    A quick summary tool for the bundle's README figures, not the pipeline's PCA.
    """
    from scipy.sparse.linalg import svds

    x = genotypes[:, ::thin].astype(np.float64)
    x[x < 0] = np.nan
    mean = np.nanmean(x, axis=0)
    sd = np.nanstd(x, axis=0)
    sd[sd == 0] = 1.0
    z = np.where(np.isnan(x), 0.0, (x - mean) / sd)
    u, s, _ = svds(z, k=k, v0=np.ones(min(z.shape)) / np.sqrt(min(z.shape)))
    order = np.argsort(s)[::-1]
    return np.asarray(u[:, order] * s[order])


def genomic_lambda(chi2: npt.NDArray[np.float64]) -> float:
    """Genomic-control lambda: median chi-square / 0.4549 (median of chi-square, 1 df)."""
    from scipy.stats import chi2 as chi2_dist

    return float(np.median(chi2) / chi2_dist.ppf(0.5, 1))


def make_bundle(shared_data_dir: str | Path, out_dir: str | Path, seed: int = 2026) -> dict[str, Any]:
    """Regenerate the bundled cohorts of ``data/`` deterministically.

    Writes to ``out_dir``: ``{discovery,heldout_a,heldout_b}.bed/.bim/.fam``
    (A1 counts of each source's .bim A1; heldout_b keeps kg1's .bim, whose
    positions are on another build), ``<cohort>.pheno.tsv`` (``FID IID
    cooperate``, 1 = cooperate, 0 = defect), ``<cohort>.covar.tsv`` (``FID IID
    sex age``; sex 1 male, 2 female), ``truth.tsv`` (shared by all three),
    ``donors.tsv`` (the disjoint donor pools), ``people.tsv`` (per new person:
    cohort, population, number of segments and distinct donors),
    ``ld_decay.tsv`` and ``ld_decay.png`` (LD decay of references, recombined
    cohorts and a shuffled negative control) and ``summary.json``.

    Parameters
    ----------
    shared_data_dir
        Folder with ``hapmap3/hm3.*``, ``kg1/kg1.*`` and their
        ``population_labels.tsv``.
    out_dir
        Output folder (created).
    seed
        Drives every random choice (pool split, recombination, phenotypes).

    Returns
    -------
    The summary written to ``summary.json``.
    """
    import json

    shared = Path(shared_data_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    hm3 = open_plink(shared / "hapmap3" / "hm3")
    kg1 = open_plink(shared / "kg1" / "kg1")
    hm3_labels = read_population_labels(shared / "hapmap3" / "population_labels.tsv")
    kg1_labels = read_population_labels(shared / "kg1" / "population_labels.tsv")
    pools = split_donor_pools(hm3, kg1, hm3_labels, kg1_labels, seed=seed)
    write_tsv(out / "donors.tsv", pools)
    sources = {"hm3": hm3, "kg1": kg1}
    labels = {"hm3": hm3_labels, "kg1": kg1_labels}
    cohorts: dict[str, tuple[npt.NDArray[np.int8], pd.DataFrame, pd.DataFrame]] = {}
    people: list[pd.DataFrame] = []
    prefixes = {"discovery": "D", "heldout_a": "A", "heldout_b": "B"}
    for k, (name, (n, source)) in enumerate(BUNDLE_COHORTS.items()):
        fs = sources[source]
        donor_iids = pools.loc[pools["pool"] == name, "IID"].to_numpy()
        cfg = RecombineConfig(n_samples=n, segment_cm=BUNDLE_SEGMENT_CM, within_population=True, seed=seed + 1 + k)
        g, v, s, prov = recombine(fs, cfg, populations=labels[source], donors=donor_iids, prefix=prefixes[name])
        cohorts[name] = (g, v, s)
        per = prov.groupby("IID", sort=False).agg(n_segments=("donor_iid", "size"), n_donors=("donor_iid", "nunique"))
        people.append(
            pd.DataFrame(
                {
                    "cohort": name,
                    "FID": s["fid"].to_numpy(),
                    "IID": s["iid"].to_numpy(),
                    "population": s["population"].to_numpy(),
                    "donor_source": source,
                    "n_segments": per.loc[s["iid"], "n_segments"].to_numpy(),
                    "n_donors": per.loc[s["iid"], "n_donors"].to_numpy(),
                }
            )
        )
    write_tsv(out / "people.tsv", pd.concat(people, ignore_index=True))

    summary: dict[str, Any] = {
        "seed": seed,
        "phenotype": {k: getattr(BUNDLE_PHENOTYPE, k) for k in BUNDLE_PHENOTYPE.__dataclass_fields__ if k != "seed"},
        "phenotype_seeds": {"discovery": seed + 11, "heldout_a": seed + 12, "heldout_b": seed + 13},
        "recombine_seeds": {name: seed + 1 + k for k, name in enumerate(BUNDLE_COHORTS)},
        "segment_cm": BUNDLE_SEGMENT_CM,
        "discovery_fraction": BUNDLE_DISCOVERY_FRACTION,
        "kinship_threshold": BUNDLE_KINSHIP,
        "donors": {p: int((pools["pool"] == p).sum()) for p in BUNDLE_COHORTS},
        "cohorts": {},
    }
    disc_g, disc_v, disc_s = cohorts["discovery"]
    disc_cfg = replace(BUNDLE_PHENOTYPE, seed=seed + 11)
    disc = simulate_phenotype(disc_g, disc_cfg, variants=disc_v, samples=disc_s)
    truth = disc.truth
    write_tsv(out / "truth.tsv", truth, float_format="%.6g")
    sims = {"discovery": disc}
    for k, name in enumerate(["heldout_a", "heldout_b"]):
        g, v, s = cohorts[name]
        held_cfg = replace(BUNDLE_PHENOTYPE, seed=seed + 12 + k)
        sims[name] = apply_truth(g, truth, held_cfg, ancestry=disc.ancestry_axis, variants=v, samples=s)
    for name, sim in sims.items():
        g, v, s = cohorts[name]
        fam = s.drop(columns="population").copy()
        fam["sex"] = sim.covariates["sex"].to_numpy().astype(np.int8)
        write_plink(out / name, g, v, fam)
        write_phenotype_files(sim, out / name, truth=False)
        y = sim.cooperate
        chi_raw = _assoc_chi2(g, y, None)
        pcs = _top_pcs(g, 10)
        chi_pc1 = _assoc_chi2(g, y, pcs[:, :1])
        chi_pc = _assoc_chi2(g, y, pcs)
        causal = pd.Index(v["id"]).get_indexer(truth["rsid"])
        null = np.setdiff1d(np.arange(len(v)), causal)
        summary["cohorts"][name] = {
            "n": len(y),
            "cooperate": int(y.sum()),
            "defect": int((1 - y).sum()),
            "variants": len(v),
            "realised_h2_liability": round(sim.realised_h2, 4),
            "genetic_variance": round(float(sim.genetic.var()), 4),
            "lambda_no_pcs": round(genomic_lambda(chi_raw[null]), 3),
            "lambda_pc1": round(genomic_lambda(chi_pc1[null]), 3),
            "lambda_pc1_10": round(genomic_lambda(chi_pc[null]), 3),
            "causal_p_below_5e-8_no_pcs": int(np.sum(chi_raw[causal] > GWS_CHI2)),
            "causal_p_below_5e-8_pc1_10": int(np.sum(chi_pc[causal] > GWS_CHI2)),
            "null_p_below_5e-8_no_pcs": int(np.sum(chi_raw[null] > GWS_CHI2)),
            "null_p_below_5e-8_pc1_10": int(np.sum(chi_pc[null] > GWS_CHI2)),
        }
    # LD decay: references (donor pools), recombined cohorts, negative control.
    curves: dict[str, pd.DataFrame] = {}
    rows = []
    for name, (g, v, _) in cohorts.items():
        source = BUNDLE_COHORTS[name][1]
        fs = sources[source]
        donor_idx = _donor_indices(fs, pools.loc[pools["pool"] == name, "IID"].to_numpy())
        ref = ld_decay(fs.read_int8(samples=donor_idx), fs.variants)
        sim_curve = ld_decay(g, v)
        shuf = ld_decay(shuffle_genotypes(g, seed=seed), v)
        floor = 1.0 / len(g)
        curves[f"{name} donors (n={donor_idx.size})"] = ref
        curves[f"{name} recombined (n={len(g)}), r2 - 1/n"] = sim_curve.assign(mean_r2=sim_curve["mean_r2"] - floor)
        if name == "discovery":
            curves[f"{name} shuffled control, r2 - 1/n"] = shuf.assign(mean_r2=shuf["mean_r2"] - floor)
        for kind, curve in (("donors", ref), ("recombined", sim_curve), ("shuffled", shuf)):
            rows.append(curve.assign(cohort=name, kind=kind, n=donor_idx.size if kind == "donors" else len(g)))
    write_tsv(out / "ld_decay.tsv", pd.concat(rows, ignore_index=True), float_format="%.6g")
    plot_ld_decay(curves, out / "ld_decay.png")
    write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary
