"""Replication statistics: score-level and variant-level evidence, meta-analysis, the verdict.

Every function works on plain arrays (no files, no cohorts), so the null
calibration can call them many times on simulated outcomes. Outcomes are 0/1
(1 = cooperate); genotypes count the **discovery .bim A1** allele; a positive
effect means more copies of it (or a higher score) go with cooperate.

Score level
-----------
* :func:`auc_test`: ROC AUC, DeLong (1988) standard error, 95% Wald CI and
  the one-sided p of ``AUC > 0.5`` (``z = (AUC - 0.5) / SE``).
* :func:`score_effect`: odds ratio per SD of the score from a logistic
  regression (statsmodels ``Logit``) of the outcome on intercept, covariates
  and the standardised score; Wald p, one-sided in the direction of a
  positive effect.
* :func:`nagelkerke_r2`: Nagelkerke's R2 from two log-likelihoods; the
  increment is R2(covariates + score) - R2(covariates), both against the
  intercept-only model.
* :func:`liability_r2`: Lee, Goddard, Wray and Visscher (2012), observed-scale
  R2 of a case-control sample to the liability scale.
* :func:`permutation_auc_p`: empirical p of the AUC over outcome permutations.

Variant level
-------------
* :func:`variant_tests`: per-variant logistic regression with the covariates
  (complete cases per variant).
* :func:`one_sided_p`, :func:`adjust_p`, :func:`sign_test`,
  :func:`ivw_meta`, :func:`winners_curse`.

References
----------
DeLong ER, DeLong DM, Clarke-Pearson DL (1988). Biometrics 44:837-845.
Nagelkerke NJD (1991). Biometrika 78:691-692.
Lee SH, Goddard ME, Wray NR, Visscher PM (2012). Genet Epidemiol 36:214-224.
Cochran WG (1954). Biometrics 10:101-129; Higgins JPT, Thompson SG (2002).
Stat Med 21:1539-1558.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from genopt.errors import GenoptError
from genopt.search.run import auc_delong_se

__all__ = [
    "Z975",
    "AucResult",
    "ScoreEffect",
    "adjust_p",
    "auc_test",
    "fit_logit",
    "ivw_meta",
    "liability_r2",
    "min_sign_test_variants",
    "nagelkerke_r2",
    "observed_r2_increment",
    "one_sided_p",
    "permutation_auc_p",
    "score_effect",
    "sign_test",
    "variant_tests",
    "verdict",
    "winners_curse",
]

#: 97.5% quantile of the standard normal (95% Wald intervals).
Z975 = float(stats.norm.ppf(0.975))


# ---------------------------------------------------------------------------- score level


@dataclass(frozen=True)
class AucResult:
    """AUC of a score and its DeLong inference.

    Attributes
    ----------
    auc
        ROC AUC (ties count one half).
    se
        DeLong standard error.
    ci95
        ``(auc - 1.96 se, auc + 1.96 se)`` clipped to [0, 1].
    p
        One-sided p of ``AUC > 0.5``: ``1 - Phi((auc - 0.5) / se)``.
    """

    auc: float
    se: float
    ci95: tuple[float, float]
    p: float


def auc_test(y: npt.ArrayLike, score: npt.ArrayLike) -> AucResult:
    """AUC, DeLong SE, 95% CI and one-sided p (``AUC > 0.5``) of ``score`` for 0/1 ``y`` (both ``(n,)``)."""
    auc, se = auc_delong_se(y, score)
    if not (se > 0):
        p = 0.0 if auc > 0.5 else 1.0
        return AucResult(auc, se, (auc, auc), p)
    lo, hi = max(0.0, auc - Z975 * se), min(1.0, auc + Z975 * se)
    return AucResult(auc, se, (lo, hi), float(stats.norm.sf((auc - 0.5) / se)))


def fit_logit(y: npt.ArrayLike, x: npt.ArrayLike, what: str = "logistic regression") -> Any:
    """statsmodels ``Logit(y, [1, x])`` fitted by Newton's method.

    Parameters
    ----------
    y
        0/1 outcome ``(n,)``.
    x
        Predictors ``(n, k)`` (``k`` may be 0); an intercept is added as column 0.
    what
        Named in the error message.

    Raises
    ------
    GenoptError
        The fit fails (singular design, perfect separation) or does not converge.
    """
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

    xx = np.asarray(x, dtype=np.float64)
    xx = xx.reshape(len(xx), -1)
    design = np.column_stack([np.ones(len(xx)), xx])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PerfectSeparationWarning)
            warnings.simplefilter("error", ConvergenceWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            result = sm.Logit(np.asarray(y, dtype=np.float64), design).fit(disp=0, maxiter=100)
    except (np.linalg.LinAlgError, PerfectSeparationWarning, ConvergenceWarning, ValueError) as exc:
        raise GenoptError(f"{what} cannot be fitted ({type(exc).__name__}: {exc})") from None
    if not np.all(np.isfinite(result.bse)):
        raise GenoptError(f"{what} cannot be fitted: the design is singular (a constant or collinear covariate?)")
    return result


@dataclass(frozen=True)
class ScoreEffect:
    """The score's effect in a logistic regression with the covariates.

    Attributes
    ----------
    beta, se
        Log odds ratio per SD of the score (SD over the cohort, ``ddof=1``) and its SE.
    odds_ratio, ci95
        ``exp(beta)`` and ``exp(beta -/+ 1.96 se)``.
    p, p_one_sided
        Wald p, two-sided and one-sided (``beta > 0``).
    ll_full, ll_covariates, ll_intercept
        Log-likelihoods of the models with covariates + score, covariates
        only, intercept only (for :func:`nagelkerke_r2`).
    """

    beta: float
    se: float
    odds_ratio: float
    ci95: tuple[float, float]
    p: float
    p_one_sided: float
    ll_full: float
    ll_covariates: float
    ll_intercept: float


def score_effect(y: npt.ArrayLike, score: npt.ArrayLike, covariates: npt.ArrayLike) -> ScoreEffect:
    """Odds ratio per SD of ``score`` adjusted for ``covariates`` ``(n, k)`` (statsmodels Logit).

    Raises
    ------
    GenoptError
        The score is constant, or a model cannot be fitted.
    """
    s = np.asarray(score, dtype=np.float64)
    sd = float(s.std(ddof=1)) if s.size > 1 else 0.0
    if not sd > 0:
        raise GenoptError("the genetic score is the same for every sample (no model variant varies in this cohort)")
    z = (s - s.mean()) / sd
    c = np.asarray(covariates, dtype=np.float64).reshape(len(s), -1)
    full = fit_logit(y, np.column_stack([c, z]), "logistic regression of the outcome on covariates and score")
    cov_only = fit_logit(y, c, "logistic regression of the outcome on the covariates")
    beta, se = float(full.params[-1]), float(full.bse[-1])
    return ScoreEffect(
        beta=beta,
        se=se,
        odds_ratio=math.exp(beta),
        ci95=(math.exp(beta - Z975 * se), math.exp(beta + Z975 * se)),
        p=float(2.0 * stats.norm.sf(abs(beta / se))),
        p_one_sided=float(stats.norm.sf(beta / se)),
        ll_full=float(full.llf),
        ll_covariates=float(cov_only.llf),
        ll_intercept=float(full.llnull),
    )


def nagelkerke_r2(ll_model: float, ll_intercept: float, n: int) -> float:
    """Nagelkerke's R2 of a logistic model.

    ``R2_CS = 1 - exp(2 (ll_intercept - ll_model) / n)`` (Cox-Snell), divided by
    its maximum ``1 - exp(2 ll_intercept / n)``.
    """
    cox_snell = -math.expm1(2.0 * (ll_intercept - ll_model) / n)
    return cox_snell / -math.expm1(2.0 * ll_intercept / n)


def observed_r2_increment(y: npt.ArrayLike, score: npt.ArrayLike, covariates: npt.ArrayLike) -> float:
    """R2 increment of the 0/1 outcome from adding ``score`` to ``covariates`` in least squares.

    ``R2(y ~ 1 + covariates + score) - R2(y ~ 1 + covariates)``: the
    observed-scale R2 that :func:`liability_r2` converts (Lee et al. 2012 use
    the linear-model R2).
    """
    yy = np.asarray(y, dtype=np.float64)
    c = np.asarray(covariates, dtype=np.float64).reshape(len(yy), -1)
    ones = np.ones((len(yy), 1))
    tss = float(((yy - yy.mean()) ** 2).sum())

    def r2(x: npt.NDArray[np.float64]) -> float:
        coef = np.linalg.lstsq(x, yy, rcond=None)[0]
        return 1.0 - float(((yy - x @ coef) ** 2).sum()) / tss

    return r2(np.column_stack([ones, c, np.asarray(score, dtype=np.float64)])) - r2(np.column_stack([ones, c]))


def liability_r2(r2_observed: float, prevalence: float, case_fraction: float) -> float:
    """Observed-scale R2 of a case-control sample on the liability scale (Lee et al. 2012, eq. 15).

    Parameters
    ----------
    r2_observed
        R2 of the 0/1 outcome (linear model) in the sample.
    prevalence
        ``K``: population proportion with outcome 1.
    case_fraction
        ``P``: proportion with outcome 1 in the sample.

    Returns
    -------
    ``R2_l = R2_o C / (1 + R2_o theta C)`` with threshold ``t = Phi^-1(1 - K)``,
    ``z = phi(t)``, ``i = z / K``, ``C = K(1-K)/z^2 * K(1-K)/(P(1-P))`` and
    ``theta = i (P-K)/(1-K) * (i (P-K)/(1-K) - t)``. With ``P = K`` this is
    the Dempster-Lerner conversion ``R2_o K(1-K) / z^2``.
    """
    k, p = prevalence, case_fraction
    t = float(stats.norm.isf(k))
    z = float(stats.norm.pdf(t))
    i = z / k
    c = k * (1 - k) / z**2 * k * (1 - k) / (p * (1 - p))
    a = i * (p - k) / (1 - k)
    theta = a * (a - t)
    return r2_observed * c / (1 + r2_observed * theta * c)


def permutation_auc_p(y: npt.ArrayLike, score: npt.ArrayLike, n_perm: int, seed: int, block: int = 256) -> float:
    """Empirical one-sided p of the AUC over ``n_perm`` permutations of ``y``.

    ``(1 + #{AUC_perm >= AUC}) / (1 + n_perm)`` (Phipson and Smyth 2010).
    AUCs come from the ranks of the score (Mann-Whitney), computed for
    ``block`` permutations at a time; the covariates are not involved.
    """
    yy = np.asarray(y).astype(bool)
    ranks = stats.rankdata(np.asarray(score, dtype=np.float64))
    m, n = int(yy.sum()), int((~yy).sum())
    shift = m * (m + 1) / 2.0

    def auc_of(rank_sums: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        out: npt.NDArray[np.float64] = (rank_sums - shift) / (m * n)
        return out

    observed = float(auc_of(np.asarray([ranks[yy].sum()]))[0])
    rng = np.random.default_rng(seed)
    hits = 0
    for start in range(0, n_perm, block):
        b = min(block, n_perm - start)
        perm = rng.permuted(np.broadcast_to(yy, (b, yy.size)), axis=1)
        hits += int((auc_of(perm @ ranks) >= observed - 1e-12).sum())
    return (1 + hits) / (1 + n_perm)


# ---------------------------------------------------------------------------- variant level


def variant_tests(y: npt.ArrayLike, genotypes: npt.ArrayLike, covariates: npt.ArrayLike) -> pd.DataFrame:
    """Logistic regression of ``y`` on each variant with the covariates (statsmodels Logit).

    Parameters
    ----------
    y
        0/1 outcome ``(n,)``.
    genotypes
        ``(n, m)`` counts of the discovery A1 allele, NaN missing; each
        variant is tested on the samples called for it (complete cases).
    covariates
        ``(n, k)``.

    Returns
    -------
    DataFrame with ``m`` rows: ``n`` (samples used), ``beta`` (log odds ratio
    per A1 copy), ``standard_error``, ``p_value`` (two-sided Wald),
    ``error`` (why a variant could not be tested, e.g. monomorphic; empty
    when tested; its statistics are NaN).
    """
    yy = np.asarray(y, dtype=np.float64)
    g = np.asarray(genotypes, dtype=np.float64).reshape(len(yy), -1)
    c = np.asarray(covariates, dtype=np.float64).reshape(len(yy), -1)
    m = g.shape[1]
    out = {k: np.full(m, np.nan) for k in ("beta", "standard_error", "p_value")}
    n_used = np.zeros(m, dtype=np.int64)
    errors = np.full(m, "", dtype=object)
    for j in range(m):
        called = ~np.isnan(g[:, j])
        n_used[j] = int(called.sum())
        gj = g[called, j]
        if gj.size == 0 or np.all(gj == gj[0]):
            errors[j] = "monomorphic or uncalled"
            continue
        try:
            fit = fit_logit(yy[called], np.column_stack([c[called], gj]))
        except GenoptError as exc:
            errors[j] = str(exc)
            continue
        beta, se = float(fit.params[-1]), float(fit.bse[-1])
        out["beta"][j], out["standard_error"][j] = beta, se
        out["p_value"][j] = 2.0 * stats.norm.sf(abs(beta / se))
    return pd.DataFrame({"n": n_used, **out, "error": errors})


def one_sided_p(beta: npt.ArrayLike, se: npt.ArrayLike, direction: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """One-sided Wald p in the given direction: ``1 - Phi(sign(direction) * beta / se)`` (NaN where undefined)."""
    b, s = np.asarray(beta, dtype=np.float64), np.asarray(se, dtype=np.float64)
    d = np.sign(np.asarray(direction, dtype=np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        p: npt.NDArray[np.float64] = stats.norm.sf(d * b / s)
    p[(d == 0) | ~np.isfinite(p)] = np.nan
    return p


def adjust_p(p: npt.ArrayLike, n_listed: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Bonferroni and Benjamini-Hochberg adjusted p over ``n_listed`` hypotheses.

    ``p`` holds the tested variants' p-values (NaN = not tested); every listed
    variant that was not tested counts as a hypothesis with p = 1 (so the
    correction is over the whole list, as if untested variants had failed).
    Uses ``statsmodels.stats.multitest.multipletests``. Returns arrays shaped
    like ``p`` (NaN where ``p`` is NaN).
    """
    from statsmodels.stats.multitest import multipletests

    pp = np.asarray(p, dtype=np.float64)
    ok = np.isfinite(pp)
    n_pad = n_listed - int(ok.sum())
    if n_pad < 0:
        raise ValueError(f"{int(ok.sum())} p-values for {n_listed} listed hypotheses")
    bonf, bh = np.full(pp.shape, np.nan), np.full(pp.shape, np.nan)
    if ok.any():
        padded = np.concatenate([pp[ok], np.ones(n_pad)])
        bonf[ok] = multipletests(padded, method="bonferroni")[1][: ok.sum()]
        bh[ok] = multipletests(padded, method="fdr_bh")[1][: ok.sum()]
    return bonf, bh


def sign_test(beta_replication: npt.ArrayLike, beta_discovery: npt.ArrayLike) -> tuple[int, int, float]:
    """Sign concordance between replication and discovery effects, with a one-sided binomial test.

    Variants where either effect is NaN or exactly 0 are left out. Returns
    ``(n_concordant, n_compared, p)`` with ``p`` = P(X >= n_concordant),
    ``X ~ Binomial(n_compared, 1/2)`` (``scipy.stats.binomtest``,
    ``alternative="greater"``); p = 1 when nothing is compared.
    """
    r = np.sign(np.asarray(beta_replication, dtype=np.float64))
    d = np.sign(np.asarray(beta_discovery, dtype=np.float64))
    ok = np.isfinite(r) & np.isfinite(d) & (r != 0) & (d != 0)
    n = int(ok.sum())
    k = int((r[ok] == d[ok]).sum())
    if n == 0:
        return 0, 0, 1.0
    return k, n, float(stats.binomtest(k, n, 0.5, alternative="greater").pvalue)


def min_sign_test_variants(alpha: float) -> int:
    """Fewest variants with which a one-sided sign test can reach ``p < alpha`` (all concordant: ``0.5**n``)."""
    return math.floor(math.log2(1.0 / alpha)) + 1


def ivw_meta(betas: npt.ArrayLike, ses: npt.ArrayLike) -> pd.DataFrame:
    """Inverse-variance-weighted fixed-effect meta-analysis, row by row.

    Parameters
    ----------
    betas, ses
        ``(m, k)``: effect and standard error of ``m`` variants in ``k``
        studies (NaN = not available; a study is used for a variant when both
        are finite and ``se > 0``).

    Returns
    -------
    DataFrame with ``m`` rows: ``n_studies``, ``beta`` (``sum w b / sum w``,
    ``w = 1/se^2``), ``standard_error`` (``1/sqrt(sum w)``), ``z``,
    ``p_value`` (two-sided), ``q`` (Cochran's ``sum w (b - beta)^2``),
    ``q_p_value`` (chi-square, ``n_studies - 1`` df), ``i2``
    (``max(0, (Q - df) / Q)``; 0 when ``Q = 0``). Rows with fewer than one
    study are NaN; Q, its p and I2 need two.
    """
    b = np.atleast_2d(np.asarray(betas, dtype=np.float64))
    s = np.atleast_2d(np.asarray(ses, dtype=np.float64))
    ok = np.isfinite(b) & np.isfinite(s) & (s > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(ok, 1.0 / s**2, 0.0)
        bz = np.where(ok, b, 0.0)
        sw = w.sum(axis=1)
        beta = (w * bz).sum(axis=1) / sw
        se = 1.0 / np.sqrt(sw)
        q = (w * (bz - beta[:, None]) ** 2).sum(axis=1)
        k = ok.sum(axis=1)
        df = k - 1
        i2 = np.where(q > 0, np.maximum(0.0, (q - df) / q), 0.0)
    z = beta / se
    multi = k >= 2
    return pd.DataFrame(
        {
            "n_studies": k,
            "beta": beta,
            "standard_error": se,
            "z": z,
            "p_value": 2.0 * stats.norm.sf(np.abs(z)),
            "q": np.where(multi, q, np.nan),
            "q_p_value": np.where(multi, stats.chi2.sf(q, np.maximum(df, 1)), np.nan),
            "i2": np.where(multi, i2, np.nan),
        }
    )


def winners_curse(
    beta_replication: npt.ArrayLike, beta_discovery: npt.ArrayLike, se_replication: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], float, float]:
    """Winner's-curse ratios: how much of the discovery effects held up.

    Returns
    -------
    ratio
        Per variant ``beta_replication / beta_discovery`` (NaN where undefined).
    median_ratio
        Median of the finite per-variant ratios (NaN if none).
    slope
        Weighted least-squares slope through the origin of replication on
        discovery effects, weights ``1/se_replication^2``:
        ``sum(w bd br) / sum(w bd^2)`` (1 = no shrinkage, < 1 = discovery
        effects inflated; NaN if nothing to fit).
    """
    br = np.asarray(beta_replication, dtype=np.float64)
    bd = np.asarray(beta_discovery, dtype=np.float64)
    sr = np.asarray(se_replication, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = br / bd
        ok = np.isfinite(br) & np.isfinite(bd) & np.isfinite(sr) & (sr > 0)
        w = 1.0 / sr[ok] ** 2
        denom = float((w * bd[ok] ** 2).sum())
    ratio[~np.isfinite(ratio)] = np.nan
    finite = ratio[np.isfinite(ratio)]
    median = float(np.median(finite)) if finite.size else float("nan")
    slope = float((w * bd[ok] * br[ok]).sum()) / denom if denom > 0 else float("nan")
    return ratio, median, slope


# ---------------------------------------------------------------------------- verdict


def verdict(
    score_beta: float, score_p_one_sided: float, sign_p: float, n_compared: int, alpha: float
) -> tuple[str, str]:
    """The study-level verdict and the rule it follows.

    Returns
    -------
    ``("replicated" | "not replicated", rule text)``. Replicated when the
    score's odds ratio per SD is above 1 with one-sided p < ``alpha`` and,
    when at least :func:`min_sign_test_variants` variants are compared, the
    one-sided sign test has p < ``alpha``. The score test alone bounds the
    false-positive rate by ``alpha``; the sign test only makes the rule
    stricter.
    """
    k_min = min_sign_test_variants(alpha)
    rule = (
        f"replicated if the genetic score's odds ratio per SD (logistic regression with the covariates) "
        f"is > 1 with one-sided p < {alpha:g}, and, when at least {k_min} variants are compared (the fewest "
        f"with which a sign test can reach p < {alpha:g}), the one-sided sign test of replication vs "
        f"discovery effect directions has p < {alpha:g}; otherwise not replicated"
    )
    ok = score_beta > 0 and score_p_one_sided < alpha
    if n_compared >= k_min:
        ok = ok and sign_p < alpha
    return ("replicated" if ok else "not replicated"), rule
