"""Baselines of the search benchmarks: clumping + thresholding and the lasso, against hand computations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from genopt.assoc.clump import clump
from genopt.assoc.scan import scan
from genopt.cohort import Cohort
from genopt.config import AssocConfig, ClumpConfig
from genopt.errors import GenoptError
from genopt.io.plink import open_plink, write_plink
from genopt.search.baselines import clump_threshold, lasso
from genopt.search.fitness import make_folds

N, M = 600, 120
ASSOC = AssocConfig(n_pcs=0, exact_top=20, threads=1)
CLUMP = ClumpConfig(p1=0.5, p2=0.5, r2=0.1, kb=250)
ALLELES = ("A", "C", "G", "T")


def _tables(n: int, m: int, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    a1 = rng.integers(0, 4, size=m)
    a2 = (a1 + rng.integers(1, 3, size=m)) % 4  # never palindromic-by-index-2 issues: A/T, C/G avoided below
    a2 = np.where((a1 + a2) == 3, (a2 + 1) % 4, a2)  # A(0)/T(3) and C(1)/G(2) sum to 3
    a2 = np.where(a2 == a1, (a1 + 1) % 4, a2)
    variants = pd.DataFrame(
        {
            "chrom": np.repeat(["1", "2"], m // 2),
            "id": [f"rs{j}" for j in range(m)],
            "cm": 0.0,
            "pos": np.tile(np.arange(1, m // 2 + 1) * 20_000, 2),
            "a1": [ALLELES[i] for i in a1],
            "a2": [ALLELES[i] for i in a2],
        }
    )
    ids = [f"P{i}" for i in range(n)]
    samples = pd.DataFrame({"fid": ids, "iid": ids, "father": "0", "mother": "0", "sex": 1, "phenotype": "-9"})
    return variants, samples


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A 600 x 120 cohort with 6 causal variants and a target cohort whose .bim swaps A1/A2 of some variants."""
    rng = np.random.default_rng(11)
    tmp = tmp_path_factory.mktemp("baselines")
    freq = rng.uniform(0.1, 0.9, size=M)
    g = rng.binomial(2, freq, size=(N, M)).astype(np.float64)
    causal = np.array([3, 17, 40, 70, 88, 101])
    liability = g[:, causal] @ np.array([0.6, -0.5, 0.4, 0.5, -0.4, 0.3]) + rng.normal(size=N)
    y = (liability > np.median(liability)).astype(int)
    g[rng.random(g.shape) < 0.01] = np.nan
    variants, samples = _tables(N, M, rng)
    prefix = tmp / "disc"
    write_plink(prefix, g, variants, samples)
    covar = pd.DataFrame({"FID": samples["fid"], "IID": samples["iid"], "age": rng.normal(45, 13, N).round()})
    pd.DataFrame({"FID": samples["fid"], "IID": samples["iid"], "cooperate": y}).to_csv(
        tmp / "disc.pheno.tsv", sep="\t", index=False
    )
    covar.to_csv(tmp / "disc.covar.tsv", sep="\t", index=False)
    cohort = Cohort.from_files(prefix, tmp / "disc.pheno.tsv", None, tmp / "disc.covar.tsv")

    # target: new genotypes; every third variant written with A1/A2 swapped (values count the other allele)
    gt = rng.binomial(2, freq, size=(300, M)).astype(np.float64)
    gt[rng.random(gt.shape) < 0.01] = np.nan
    swap = np.arange(M) % 3 == 0
    vt = variants.copy()
    vt.loc[swap, ["a1", "a2"]] = variants.loc[swap, ["a2", "a1"]].to_numpy()
    _, st = _tables(300, M, rng)
    write_plink(tmp / "target", np.where(swap, 2.0 - gt, gt), vt, st)
    target = open_plink(tmp / "target")
    return {"cohort": cohort, "g": g, "target": target, "g_target": gt, "covar": covar["age"].to_numpy(float)}


def _hand_score(g: np.ndarray, cols: np.ndarray, weights: np.ndarray, freq: np.ndarray) -> np.ndarray:
    x = g[:, cols]
    x = np.where(np.isnan(x), 2.0 * freq, x)
    return x @ weights


def test_ct_score_is_sum_of_beta_times_a1_count_over_index_variants_below_threshold(data):
    cohort, g = data["cohort"], data["g"]
    fit = clump_threshold(cohort, thresholds=(1e-4, 1e-2, 0.5), folds=3, seed=1, assoc_config=ASSOC, clump_config=CLUMP)
    # independently: scan + clump of every row, index variants with p < threshold
    table = scan(cohort, ASSOC).table
    index = clump(table, cohort.fileset, CLUMP).index_variants
    rows = table.set_index("variant_index").loc[index]
    keep = rows[rows["p_value"] < fit.threshold]
    assert list(fit.score.variant_id) == keep["rsid"].tolist()
    np.testing.assert_allclose(fit.score.weights, keep["beta"].to_numpy(), rtol=1e-12)
    assert fit.score.n_variants == fit.n_variants[list(fit.thresholds).index(fit.threshold)]
    assert 0 < fit.score.n_variants < len(index)  # the threshold matters here
    cols = keep.index.to_numpy()
    freq = keep["effect_allele_frequency"].to_numpy()
    # discovery: the .bim as written
    np.testing.assert_allclose(fit.score.score(cohort).score, _hand_score(g, cols, keep["beta"].to_numpy(), freq))
    # target: swapped A1/A2 in its .bim are flipped back to the discovery A1
    scored = fit.score.score(data["target"])
    assert scored.harmonisation["swapped"] == int((cols % 3 == 0).sum()) > 0
    np.testing.assert_allclose(scored.score, _hand_score(data["g_target"], cols, keep["beta"].to_numpy(), freq))


def test_ct_threshold_is_the_argmax_of_the_fold_aucs_it_reports(data):
    cohort = data["cohort"]
    thresholds = (1e-6, 1e-3, 0.05, 0.5)
    fit = clump_threshold(cohort, thresholds=thresholds, folds=3, seed=2, assoc_config=ASSOC, clump_config=CLUMP)
    assert fit.cv_auc.shape == (3, 4)
    assert fit.threshold == thresholds[int(np.argmax(fit.cv_auc.mean(axis=0)))]
    assert fit.table()["chosen"].sum() == 1
    # one fold by hand: scan and clump on its training rows only, score its validation rows, sklearn AUC
    t, v = make_folds(cohort.y, 3, 2)[1]
    table = scan(cohort, ASSOC, samples=t).table
    index = clump(table, cohort.fileset, CLUMP, samples=cohort.sample_idx[t]).index_variants
    rows = table.set_index("variant_index").loc[index]
    for j, thr in enumerate(thresholds):
        keep = rows[rows["p_value"] < thr]
        score = _hand_score(
            data["g"][v], keep.index.to_numpy(), keep["beta"].to_numpy(), keep["effect_allele_frequency"].to_numpy()
        )
        expected = roc_auc_score(cohort.y[v], score) if len(keep) else 0.5
        assert fit.cv_auc[1, j] == pytest.approx(expected, abs=1e-12)
        assert fit.cv_n_variants[1, j] == len(keep)


def _design(g: np.ndarray, cov: np.ndarray) -> np.ndarray:
    gi = np.where(np.isnan(g), np.nanmean(g, axis=0), g)
    x = StandardScaler().fit_transform(np.column_stack([cov, gi]))
    x[:, : cov.shape[1]] *= 1e3
    return x


def _l1(c: float) -> LogisticRegression:
    return LogisticRegression(
        C=c, l1_ratio=1.0, solver="liblinear", intercept_scaling=100.0, max_iter=5000, random_state=3
    )


def test_lasso_coefficients_match_sklearn_with_the_chosen_c(data):
    cohort, g = data["cohort"], data["g"]
    cov = data["covar"][:, None]
    fit = lasso(cohort, Cs=(0.01, 0.05, 0.3), folds=3, seed=3)
    assert fit.C == (0.01, 0.05, 0.3)[int(np.argmax(fit.cv_auc.mean(axis=0)))]
    ref = _l1(fit.C).fit(_design(g, cov), cohort.y)
    beta = ref.coef_.ravel()[1:]
    np.testing.assert_allclose(fit.model.beta_std, beta, atol=1e-6)
    nz = np.flatnonzero(beta != 0)
    assert 0 < nz.size < M
    assert list(fit.score.variant_id) == [f"rs{j}" for j in nz]
    sd = np.nanstd(np.where(np.isnan(g), np.nanmean(g, axis=0), g), axis=0)
    np.testing.assert_allclose(fit.score.weights, beta[nz] / sd[nz], rtol=1e-5, atol=1e-9)
    freq = np.nanmean(g[:, nz], axis=0) / 2.0
    np.testing.assert_allclose(
        fit.score.score(data["target"]).score, _hand_score(data["g_target"], nz, beta[nz] / sd[nz], freq), rtol=1e-5
    )


def test_lasso_fold_aucs_are_sklearn_fits_on_each_training_fold(data):
    cohort, g = data["cohort"], data["g"]
    cov = data["covar"][:, None]
    fit = lasso(cohort, Cs=(0.05,), folds=3, seed=4)
    gi = np.where(np.isnan(g), np.nanmean(g, axis=0), g)  # lasso imputes with the training rows' mean
    for f, (t, v) in enumerate(make_folds(cohort.y, 3, 4)):
        x = np.column_stack([cov, gi])
        scaler = StandardScaler().fit(x[t])
        xt, xv = scaler.transform(x[t]), scaler.transform(x[v])
        xt[:, 0] *= 1e3
        xv[:, 0] *= 1e3
        model = LogisticRegression(
            C=0.05, l1_ratio=1.0, solver="liblinear", intercept_scaling=100.0, max_iter=5000, random_state=4
        ).fit(xt, cohort.y[t])
        assert fit.cv_auc[f, 0] == pytest.approx(roc_auc_score(cohort.y[v], model.decision_function(xv)), abs=1e-9)


def test_baselines_reject_bad_input(data, tmp_path: Path):
    cohort = data["cohort"]
    with pytest.raises(GenoptError, match="thresholds"):
        clump_threshold(cohort, thresholds=(0.0, 0.1), assoc_config=ASSOC)
    with pytest.raises(GenoptError, match="Cs"):
        lasso(cohort, Cs=(-1.0,))
    with pytest.raises(GenoptError, match="training rows"):
        lasso(cohort, train_idx=[0, 0, 1])
