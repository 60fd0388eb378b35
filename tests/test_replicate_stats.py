"""Replication statistics (genopt.replicate.stats) against independent computations.

Each statistic is checked against a hand-worked case, a different library
(scikit-learn, statsmodels' other APIs, scipy) or plink2 (committed fixture
of tests/fixtures/assoc, made by its COMMANDS.sh).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from genopt.errors import GenoptError
from genopt.io.plink import open_plink
from genopt.replicate import stats

REPO = Path(__file__).resolve().parents[1]
ASSOC = REPO / "tests" / "fixtures" / "assoc"


def _logit_data(seed: int, n: int = 600) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    cov = np.column_stack([rng.integers(1, 3, n), rng.normal(45, 13, n)]).astype(float)
    score = rng.normal(size=n) + 0.3 * (cov[:, 0] - 1.5)
    eta = -0.2 + 0.4 * (cov[:, 0] - 1.5) + 0.02 * (cov[:, 1] - 45) + 0.5 * score
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(np.int8)
    return y, score, cov


def _sk_fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Unpenalised logistic regression by scikit-learn: (coefficients with intercept first, log-likelihood)."""
    if x.shape[1] == 0:
        p = np.full(len(y), y.mean())
        return np.array([math.log(y.mean() / (1 - y.mean()))]), float(np.sum(y * np.log(p) + (1 - y) * np.log(1 - p)))
    est = LogisticRegression(C=np.inf, solver="newton-cg", tol=1e-12, max_iter=1000).fit(x, y)
    p = est.predict_proba(x)[:, 1]
    ll = float(np.sum(y * np.log(p) + (1 - y) * np.log(1 - p)))
    return np.concatenate([est.intercept_, est.coef_[0]]), ll


# ---------------------------------------------------------------------------- AUC


def test_auc_delong_hand_worked() -> None:
    # y = 0 0 1 1, scores 0.1 0.4 0.35 0.8: AUC 3/4. Placements of the positives
    # among the negatives: 0.35 -> 1/2, 0.8 -> 1; of the negatives among the
    # positives (fraction above): 0.1 -> 1, 0.4 -> 1/2. var = 0.125/2 + 0.125/2.
    res = stats.auc_test([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert res.auc == pytest.approx(0.75)
    assert res.se == pytest.approx(math.sqrt(0.125))
    assert res.ci95 == pytest.approx((max(0.0, 0.75 - 1.959964 * math.sqrt(0.125)), 1.0), abs=1e-6)
    assert res.p == pytest.approx(sps.norm.sf(0.25 / math.sqrt(0.125)))


def test_auc_delong_matches_pairwise_kernel_and_bootstrap() -> None:
    rng = np.random.default_rng(1)
    n = 300
    y = rng.integers(0, 2, n)
    score = np.round(rng.normal(size=n) + 0.6 * y, 1)  # rounding makes ties
    res = stats.auc_test(y, score)
    assert res.auc == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    # DeLong by the O(mn) kernel psi(x, y) = 1, 1/2, 0 (an independent implementation)
    pos, neg = score[y == 1], score[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    se = math.sqrt(v10.var(ddof=1) / pos.size + v01.var(ddof=1) / neg.size)
    assert res.se == pytest.approx(se, rel=1e-12)
    # bootstrap SE (stratified by class, as DeLong conditions on the class sizes)
    b = 2000
    ip = rng.integers(0, pos.size, (b, pos.size))
    ineg = rng.integers(0, neg.size, (b, neg.size))
    boot = np.array([(psi[ip[i]][:, ineg[i]]).mean() for i in range(b)])
    assert res.se == pytest.approx(boot.std(ddof=1), rel=0.08)
    lo, hi = res.ci95
    assert lo == pytest.approx(res.auc - 1.959964 * res.se, abs=1e-6)
    assert hi == pytest.approx(res.auc + 1.959964 * res.se, abs=1e-6)


def test_permutation_p_matches_mann_whitney() -> None:
    rng = np.random.default_rng(2)
    n = 200
    y = rng.integers(0, 2, n)
    score = rng.normal(size=n) + 0.2 * y
    b = 4000
    p = stats.permutation_auc_p(y, score, b, seed=5)
    exact = sps.mannwhitneyu(score[y == 1], score[y == 0], alternative="greater").pvalue
    assert abs(p - exact) < 4 * math.sqrt(exact * (1 - exact) / b) + 1 / b
    # the same seed gives the same p; a strong signal gives the smallest possible p
    assert stats.permutation_auc_p(y, score, b, seed=5) == p
    assert stats.permutation_auc_p(y, 5.0 * y + score, 99, seed=0) == pytest.approx(1 / 100)


# ---------------------------------------------------------------------------- score effect, R2


def test_score_effect_matches_sklearn_and_fisher_information() -> None:
    y, score, cov = _logit_data(3)
    eff = stats.score_effect(y, score, cov)
    z = (score - score.mean()) / score.std(ddof=1)
    x = np.column_stack([cov, z])
    coef, ll = _sk_fit(x, y)
    assert eff.beta == pytest.approx(coef[-1], rel=1e-6)
    assert eff.odds_ratio == pytest.approx(math.exp(coef[-1]), rel=1e-6)
    design = np.column_stack([np.ones(len(y)), x])
    p = 1 / (1 + np.exp(-design @ coef))
    info = design.T @ (design * (p * (1 - p))[:, None])
    se = math.sqrt(np.linalg.inv(info)[-1, -1])
    assert eff.se == pytest.approx(se, rel=1e-5)
    assert eff.p_one_sided == pytest.approx(sps.norm.sf(coef[-1] / se), rel=1e-4)
    assert eff.p == pytest.approx(2 * sps.norm.sf(abs(coef[-1]) / se), rel=1e-4)
    assert eff.ci95 == pytest.approx((math.exp(coef[-1] - 1.959964 * se), math.exp(coef[-1] + 1.959964 * se)), rel=1e-5)
    assert eff.ll_full == pytest.approx(ll, rel=1e-8)
    assert eff.ll_covariates == pytest.approx(_sk_fit(cov, y)[1], rel=1e-8)
    assert eff.ll_intercept == pytest.approx(_sk_fit(np.zeros((len(y), 0)), y)[1], rel=1e-10)


def test_nagelkerke_by_hand_from_log_likelihoods() -> None:
    y, score, cov = _logit_data(4)
    n = len(y)
    ll0 = _sk_fit(np.zeros((n, 0)), y)[1]
    ll_c = _sk_fit(cov, y)[1]
    ll_f = _sk_fit(np.column_stack([cov, score]), y)[1]

    def nk(ll: float) -> float:
        return (1 - math.exp(2 * (ll0 - ll) / n)) / (1 - math.exp(2 * ll0 / n))

    eff = stats.score_effect(y, score, cov)
    inc = stats.nagelkerke_r2(eff.ll_full, eff.ll_intercept, n) - stats.nagelkerke_r2(
        eff.ll_covariates, eff.ll_intercept, n
    )
    assert inc == pytest.approx(nk(ll_f) - nk(ll_c), rel=1e-6)
    assert 0 < inc < 1
    # a model no better than the intercept has R2 0; the maximum possible likelihood (0) has R2 1
    assert stats.nagelkerke_r2(ll0, ll0, n) == 0.0
    assert stats.nagelkerke_r2(0.0, ll0, n) == pytest.approx(1.0)


def test_observed_r2_increment_matches_linear_regressions() -> None:
    y, score, cov = _logit_data(5)
    from sklearn.linear_model import LinearRegression

    full = np.column_stack([cov, score])
    r2_full = LinearRegression().fit(full, y).score(full, y)
    r2_cov = LinearRegression().fit(cov, y).score(cov, y)
    assert stats.observed_r2_increment(y, score, cov) == pytest.approx(r2_full - r2_cov, rel=1e-10)


def test_liability_r2_dempster_lerner_case() -> None:
    # P = K: theta = 0, R2_l = R2_o K(1-K) / z^2 (Dempster and Lerner 1950)
    k = 0.3
    z = sps.norm.pdf(sps.norm.isf(k))
    assert stats.liability_r2(0.05, k, k) == pytest.approx(0.05 * k * (1 - k) / z**2, rel=1e-12)


def test_liability_r2_recovers_simulated_liability_variance() -> None:
    # Liability L = g + e with var(g) = 0.2; cases = top 10% (K = 0.1); a case-control
    # sample with P = 0.5 (all cases, as many controls). Lee et al. 2012 converts the
    # sample's observed-scale R2 of g back to ~0.2 on the liability scale.
    rng = np.random.default_rng(6)
    n, h2, k = 400_000, 0.2, 0.1
    g = rng.normal(0, math.sqrt(h2), n)
    liability = g + rng.normal(0, math.sqrt(1 - h2), n)
    case = liability > sps.norm.isf(k)
    cases = np.flatnonzero(case)
    controls = rng.choice(np.flatnonzero(~case), cases.size, replace=False)
    idx = np.concatenate([cases, controls])
    yy = case[idx].astype(float)
    r2_o = np.corrcoef(yy, g[idx])[0, 1] ** 2
    est = stats.liability_r2(r2_o, k, 0.5)
    assert est == pytest.approx(h2, abs=0.015)
    # ignoring the ascertainment (K = P) gets it visibly wrong
    assert abs(stats.liability_r2(r2_o, 0.5, 0.5) - h2) > 0.03


def test_logit_errors_are_user_errors() -> None:
    y = np.array([0, 0, 0, 1, 1, 1] * 5)
    with pytest.raises(GenoptError, match="cannot be fitted"):
        stats.fit_logit(y, y.astype(float)[:, None], "separated model")  # perfect separation
    with pytest.raises(GenoptError, match="same for every sample"):
        stats.score_effect(y, np.ones(y.size), np.zeros((y.size, 0)))


# ---------------------------------------------------------------------------- variant level


def test_variant_tests_match_plink2_glm() -> None:
    """Per-variant Logit with sex, age and 10 PCs vs plink2 --glm (fixture of tests/fixtures/assoc)."""
    glm = pd.read_csv(ASSOC / "discovery.plink2.glm.logistic.hybrid.gz", sep="\t")
    glm = glm[(glm["FIRTH?"] == "N") & (glm["ERRCODE"] == ".")]
    fs = open_plink(REPO / "data" / "discovery")
    bim = fs.variants
    # 8 variants: the strongest few, some with missing calls, some null
    picks = list(glm.nsmallest(4, "P")["ID"]) + list(glm[glm["OBS_CT"] < 4000]["ID"][:2]) + list(glm["ID"][100:102])
    rows = bim.index[bim["id"].isin(picks)].to_numpy()
    cov = pd.read_csv(ASSOC / "discovery.covar.tsv.gz", sep="\t")
    pheno = pd.read_csv(REPO / "data" / "discovery.pheno.tsv", sep="\t")
    assert (cov["IID"].to_numpy() == fs.samples["iid"].to_numpy()).all()
    assert (pheno["IID"].to_numpy() == fs.samples["iid"].to_numpy()).all()
    g = fs.read(variants=rows, dtype=np.float64)
    res = stats.variant_tests(pheno["cooperate"].to_numpy(), g, cov.iloc[:, 2:].to_numpy(dtype=float))
    ref = glm.set_index("ID").loc[bim["id"].to_numpy()[rows]]
    assert (res["n"].to_numpy() == ref["OBS_CT"].to_numpy()).all()
    # plink2 prints 6 significant digits and computes its SE in single precision (see tests/test_assoc.py)
    np.testing.assert_allclose(res["beta"], ref["BETA"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(res["standard_error"], ref["SE"], rtol=2e-3)
    np.testing.assert_allclose(np.log(res["p_value"]), np.log(ref["P"]), rtol=2e-3)
    assert (res["error"] == "").all()


def test_variant_tests_flag_untestable_variants() -> None:
    y, _, cov = _logit_data(7, 100)
    g = np.column_stack([np.ones(100), np.full(100, np.nan), np.random.default_rng(0).integers(0, 3, 100)])
    res = stats.variant_tests(y, g, cov)
    assert list(res["error"][:2]) == ["monomorphic or uncalled"] * 2
    assert res["beta"][:2].isna().all() and np.isfinite(res["beta"][2])


def test_one_sided_p_and_multiple_testing_by_hand() -> None:
    p = stats.one_sided_p([0.2, 0.2, -0.1, 0.1], [0.1, 0.1, 0.1, np.nan], [1, -1, -1, 1])
    np.testing.assert_allclose(p[:3], [sps.norm.sf(2), sps.norm.sf(-2), sps.norm.sf(1)])
    assert np.isnan(p[3])
    bonf, bh = stats.adjust_p([0.01, np.nan, 0.02, 0.03], n_listed=5)
    # padded with two p = 1: Bonferroni x5; BH: p_(i) m / i = .05 .05 .05 1.25 1 -> step-up minimum
    np.testing.assert_allclose(bonf[[0, 2, 3]], [0.05, 0.10, 0.15])
    np.testing.assert_allclose(bh[[0, 2, 3]], [0.05, 0.05, 0.05])
    assert np.isnan(bonf[1]) and np.isnan(bh[1])


def test_sign_test_by_hand() -> None:
    rep = [1, 2, 3, 4, 5, 6, 7, 8, -1, -2, 0.0, np.nan]
    disc = [1] * 10 + [1, 1]
    k, n, p = stats.sign_test(rep, disc)
    assert (k, n) == (8, 10)  # the 0 and the NaN are not compared
    assert p == pytest.approx((45 + 10 + 1) / 1024)
    assert stats.sign_test([np.nan], [1.0]) == (0, 0, 1.0)
    assert stats.min_sign_test_variants(0.05) == 5
    assert stats.min_sign_test_variants(0.0625) == 5  # 0.5**4 is not < 0.0625
    assert stats.min_sign_test_variants(0.01) == 7


def test_ivw_meta_by_hand_and_against_statsmodels() -> None:
    res = stats.ivw_meta([[0.2, 0.4], [0.1, 0.9], [0.3, np.nan]], [[0.1, 0.2], [0.1, 0.1], [0.05, 0.1]])
    # row 0: w = 100, 25; beta = 30/125; Q = 100 * .04^2 + 25 * .16^2 = 0.8 < df -> I2 = 0
    assert res.loc[0, "beta"] == pytest.approx(0.24)
    assert res.loc[0, "standard_error"] == pytest.approx(1 / math.sqrt(125))
    assert res.loc[0, "q"] == pytest.approx(0.8)
    assert res.loc[0, "i2"] == 0.0
    # row 1: beta 0.5, Q = 2 * 100 * 0.4^2 = 32, I2 = 31/32
    assert res.loc[1, "beta"] == pytest.approx(0.5)
    assert res.loc[1, "q"] == pytest.approx(32.0)
    assert res.loc[1, "i2"] == pytest.approx(31 / 32)
    assert res.loc[1, "q_p_value"] == pytest.approx(sps.chi2.sf(32, 1))
    # row 2: one study: itself, no heterogeneity statistics
    assert res.loc[2, "n_studies"] == 1 and res.loc[2, "beta"] == pytest.approx(0.3)
    assert np.isnan(res.loc[2, "q"]) and np.isnan(res.loc[2, "i2"])
    # three studies vs statsmodels' meta-analysis module
    from statsmodels.stats.meta_analysis import combine_effects

    b, s = np.array([0.12, 0.30, -0.05]), np.array([0.05, 0.08, 0.1])
    ref = combine_effects(b, s**2, method_re="chi2")
    mine = stats.ivw_meta(b[None, :], s[None, :]).iloc[0]
    assert mine["beta"] == pytest.approx(ref.mean_effect_fe)
    assert mine["standard_error"] == pytest.approx(ref.sd_eff_w_fe)
    assert mine["q"] == pytest.approx(ref.q)
    assert mine["i2"] == pytest.approx(ref.i2)


def test_winners_curse_by_hand() -> None:
    ratio, median, slope = stats.winners_curse([0.1, 0.3, np.nan], [0.2, 0.4, 0.1], [0.1, 0.2, 0.1])
    np.testing.assert_allclose(ratio[:2], [0.5, 0.75])
    assert np.isnan(ratio[2])
    assert median == pytest.approx(0.625)
    # weights 100, 25: (100 * .2 * .1 + 25 * .4 * .3) / (100 * .04 + 25 * .16) = 5 / 8
    assert slope == pytest.approx(5 / 8)


def test_verdict_rule() -> None:
    word, rule = stats.verdict(0.3, 0.01, 0.02, 10, 0.05)
    assert word == "replicated" and "one-sided p < 0.05" in rule and "at least 5 variants" in rule
    assert stats.verdict(0.3, 0.01, 0.20, 10, 0.05)[0] == "not replicated"  # sign test fails
    assert stats.verdict(0.3, 0.01, 0.50, 4, 0.05)[0] == "replicated"  # too few variants for a sign test
    assert stats.verdict(0.3, 0.06, 0.001, 10, 0.05)[0] == "not replicated"  # score test fails
    assert stats.verdict(-0.3, 0.01, 0.001, 10, 0.05)[0] == "not replicated"  # wrong direction
