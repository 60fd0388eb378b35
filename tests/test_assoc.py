"""Association scan: score screening, exact Wald/Firth tests against plink2 --glm, bad inputs, streaming, dask."""

from __future__ import annotations

import gzip
import importlib
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from conftest import FIXTURES, REPO

from genopt.assoc import (
    COLUMNS,
    ERROR_CODES,
    fit_null,
    fit_variants,
    lambda_gc,
    run_assoc,
    scan,
    score_test,
    write_assoc,
)
from genopt.assoc.logistic import MIN_P
from genopt.cohort import Cohort
from genopt.config import AssocConfig
from genopt.errors import GenoptError
from genopt.io.plink import open_plink, write_plink

FIX = FIXTURES / "assoc"
DATA = REPO / "data"
PHENO = DATA / "discovery.pheno.tsv"
PCS = [f"PC{i + 1}" for i in range(10)]


@pytest.fixture(scope="module")
def covar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sex, age and the 10 PCs that plink2 was given (decompressed)."""
    path = tmp_path_factory.mktemp("assoc") / "discovery.covar.tsv"
    with gzip.open(FIX / "discovery.covar.tsv.gz", "rb") as src, path.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    return path


@pytest.fixture(scope="module")
def cohort(covar: Path) -> Cohort:
    return Cohort.from_files(DATA / "discovery", PHENO, "cooperate", covar)


@pytest.fixture(scope="module")
def result(cohort: Cohort):  # type: ignore[no-untyped-def]
    return scan(cohort, AssocConfig(exact_top=1000))


def read_plink2(name: str) -> pd.DataFrame:
    return pd.read_csv(FIX / f"{name}.plink2.glm.logistic.hybrid.gz", sep="\t")


# ---------------------------------------------------------------- against plink2


def test_exact_wald_matches_plink2_on_discovery(result) -> None:  # type: ignore[no-untyped-def]
    ref = read_plink2("discovery")
    t = result.table
    assert (t["rsid"].to_numpy() == ref["ID"].to_numpy()).all()
    assert (t["effect_allele"].to_numpy() == ref["A1"].to_numpy()).all()  # A1 = .bim A1 in both
    exact = (t["test"] != "score").to_numpy()
    assert exact.sum() >= 1000 and set(t.loc[exact, "test"]) == {"wald"}
    assert (ref.loc[exact, "FIRTH?"] == "N").all()
    r = ref[exact]
    e = t[exact]
    # plink2 prints 6 significant digits: ~5e-6 relative is the resolution
    or_rel = np.abs(e["odds_ratio"].to_numpy() / np.exp(r["BETA"].to_numpy()) - 1)
    assert or_rel.max() < 1e-4
    assert (e["n"].to_numpy() == r["OBS_CT"].to_numpy()).all()
    se_rel = np.abs(e["standard_error"].to_numpy() / r["SE"].to_numpy() - 1)
    assert np.median(se_rel) < 1e-5 and se_rel.max() < 2e-3  # see test docstring in the report: plink2 float SE
    small = r["P"].to_numpy() < 1e-3
    assert small.sum() >= 20
    lp = np.log10(e["p_value"].to_numpy()[small])
    lq = np.log10(r["P"].to_numpy()[small])
    assert np.abs(lp / lq - 1).max() < 0.01
    assert np.abs(t["effect_allele_frequency"] - ref["A1_FREQ"]).max() < 1e-6


def test_screening_agrees_with_wald_over_all_variants(result) -> None:  # type: ignore[no-untyped-def]
    ref = read_plink2("discovery")
    ls = -np.log10(result.screen_p)
    lw = -np.log10(ref["P"].to_numpy())
    assert np.isfinite(ls).all()
    assert np.corrcoef(ls, lw)[0, 1] >= 0.99
    assert scipy.stats.spearmanr(ls, lw)[0] >= 0.99
    # score rows carry a one-step effect estimate with the sign of plink2's Wald beta
    sc = (result.table["test"] == "score").to_numpy()
    beta = result.table.loc[sc, "beta"].to_numpy()
    big = np.abs(ref.loc[sc, "Z_STAT"].to_numpy()) > 1
    assert (np.sign(beta[big]) == np.sign(ref.loc[sc, "BETA"].to_numpy()[big])).all()


def test_lambda_gc(result) -> None:  # type: ignore[no-untyped-def]
    assert result.lambda_gc == pytest.approx(np.median(result.screen_chi2) / 0.454936423, rel=1e-9)
    assert 0.9 < result.lambda_gc < 1.1
    assert lambda_gc([0.454936423, 0.454936423, np.nan]) == pytest.approx(1.0, rel=1e-8)


def test_firth_fallback_matches_plink2_on_rare_variants(covar: Path) -> None:
    cohort = Cohort.from_files(FIX / "rare", PHENO, "cooperate", covar)
    res = scan(cohort, AssocConfig(exact_top=100))
    ref = read_plink2("rare")
    t = res.table
    assert (t["rsid"].to_numpy() == ref["ID"].to_numpy()).all()
    firth = (ref["FIRTH?"] == "Y").to_numpy()
    assert firth.sum() == 12
    assert (t.loc[firth, "test"] == "firth").all()
    ok = (ref["ERRCODE"] == ".").to_numpy()
    assert (t.loc[ok & ~firth, "test"] == "wald").all()
    assert (t.loc[ok, "n"].to_numpy() == ref.loc[ok, "OBS_CT"].to_numpy()).all()
    # Firth: plink2 iterates in single precision to |delta| <= 1e-4, so it is
    # only that close to the penalised MLE; logistic Wald: printing precision.
    d_firth = np.abs(t.loc[firth, "beta"].to_numpy() - ref.loc[firth, "BETA"].to_numpy())
    assert d_firth.max() < 1e-3
    se_firth = np.abs(t.loc[firth, "standard_error"].to_numpy() / ref.loc[firth, "SE"].to_numpy() - 1)
    assert se_firth.max() < 5e-4
    wald = ok & ~firth
    or_rel = np.abs(t.loc[wald, "odds_ratio"].to_numpy() / np.exp(ref.loc[wald, "BETA"].to_numpy()) - 1)
    assert or_rel.max() < 1e-4
    p_rel = np.abs(t.loc[ok, "p_value"].to_numpy() / ref.loc[ok, "P"].to_numpy() - 1)
    assert p_rel.max() < 1e-3
    # degenerate variants: the same error codes as plink2, no numbers
    bad = ~ok
    assert list(t.loc[bad, "error_code"]) == list(ref.loc[bad, "ERRCODE"])
    assert t.loc[bad, ["beta", "standard_error", "p_value"]].isna().all().all()
    assert set(t["error_code"]) <= set(ERROR_CODES)


def test_firth_off_gives_error_code(covar: Path) -> None:
    cohort = Cohort.from_files(FIX / "rare", PHENO, "cooperate", covar)
    res = scan(cohort, AssocConfig(exact_top=100, firth_fallback=False), variants=np.arange(4))
    assert list(res.table["error_code"]) == ["LOGISTIC_CONVERGE_FAIL"] * 4
    assert res.table["p_value"].isna().all()


# ---------------------------------------------------------------- the maths, independently


def _simulated(n: int = 600, m: int = 8, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    cov = np.column_stack([rng.integers(1, 3, n), rng.normal(45, 13, n), rng.normal(size=n)])
    g = rng.binomial(2, rng.uniform(0.1, 0.5, m), size=(n, m)).astype(float)
    g[rng.random((n, m)) < 0.03] = np.nan
    eta = -0.3 + 0.02 * (cov[:, 1] - 45) + 0.4 * np.nan_to_num(g[:, 0], nan=1.0)
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    return y, cov, g


def test_fit_variants_equals_statsmodels() -> None:
    sm = pytest.importorskip("statsmodels.api")
    y, cov, g = _simulated()
    null = fit_null(y, cov, ["sex", "age", "z"])
    fit = fit_variants(y, null.X, g, start=null.beta)
    for j in range(g.shape[1]):
        ok = ~np.isnan(g[:, j])
        x = np.column_stack([np.ones(ok.sum()), g[ok, j], cov[ok]])
        ref = sm.Logit(y[ok], x).fit(disp=0, tol=1e-12)
        assert fit.beta[j] == pytest.approx(ref.params[1], rel=1e-7, abs=1e-10)
        assert fit.se[j] == pytest.approx(ref.bse[1], rel=1e-7)
        assert fit.p[j] == pytest.approx(ref.pvalues[1], rel=1e-6)
        assert fit.n[j] == ok.sum()
    assert set(fit.test) == {"wald"} and set(fit.error) == {"."}


def test_score_test_equals_explicit_formula() -> None:
    y, cov, g = _simulated()
    null = fit_null(y, cov)
    st = score_test(g, null)
    X = np.column_stack([np.ones(len(y)), cov])
    w = null.mu * (1 - null.mu)
    for j in range(g.shape[1]):
        gj = np.where(np.isnan(g[:, j]), np.nanmean(g[:, j]), g[:, j])  # mean imputation
        u = gj @ (y - null.mu)
        xwg = X.T @ (w * gj)
        v = gj @ (w * gj) - xwg @ np.linalg.solve(X.T @ (w[:, None] * X), xwg)
        assert st.chi2[j] == pytest.approx(u * u / v, rel=1e-9)
        assert st.beta[j] == pytest.approx(u / v, rel=1e-9)
        assert st.se[j] == pytest.approx(1 / np.sqrt(v), rel=1e-9)
    # int8 input (-1 = missing) gives the same as float with NaN
    g8 = np.where(np.isnan(g), -1, g).astype(np.int8)
    assert np.allclose(score_test(g8, null).chi2, st.chi2, rtol=1e-12)


# ---------------------------------------------------------------- bad input


def test_outcome_with_one_class() -> None:
    y, cov, _ = _simulated()
    with pytest.raises(GenoptError, match="one class only: all 600 samples are 0"):
        fit_null(np.zeros_like(y), cov)
    with pytest.raises(GenoptError, match="one class only"):
        fit_null(np.ones_like(y), cov)


def test_constant_covariate_is_named() -> None:
    y, cov, _ = _simulated()
    cov[:, 2] = 7.0
    with pytest.raises(GenoptError, match="covariate 'batch' is constant"):
        fit_null(y, cov, ["sex", "age", "batch"])


def test_collinear_covariate_is_named() -> None:
    y, cov, _ = _simulated()
    cov[:, 2] = 2 * cov[:, 1] - 3 * cov[:, 0]
    with pytest.raises(GenoptError, match=r"covariate 'age2' is collinear with .*'sex'.*'age'"):
        fit_null(y, cov, ["sex", "age", "age2"])


def test_more_covariates_than_samples() -> None:
    rng = np.random.default_rng(0)
    y = np.array([0, 1] * 5, dtype=float)
    with pytest.raises(GenoptError, match="more covariates than samples: 12 covariates"):
        fit_null(y, rng.normal(size=(10, 12)))


def test_null_model_separation_is_an_error() -> None:
    y, cov, _ = _simulated()
    cov[:, 2] = y  # a covariate that is the outcome
    with pytest.raises(GenoptError, match="did not converge"):
        fit_null(y, cov, ["sex", "age", "leak"])


def test_bad_covariate_through_scan_names_file(cohort: Cohort) -> None:
    with pytest.raises(GenoptError, match=r"discovery.*covariate 'PC11' is constant"):
        scan(cohort, covariates=np.ones((cohort.n, 1)), covariate_names=["PC11"], variants=np.arange(10))


def test_monomorphic_and_missing_variants_get_error_codes(tmp_path: Path) -> None:
    y, cov, g = _simulated()
    n = len(y)
    g = np.column_stack([g[:, :2], np.zeros(n), np.where(np.arange(n) < 300, 1.0, np.nan), np.full(n, np.nan)])
    null = fit_null(y, cov)
    st = score_test(g, null)
    assert list(st.error) == [".", ".", "CONST_OMITTED_ALLELE", "CONST_OMITTED_ALLELE", "SAMPLE_CT<=PREDICTOR_CT"]
    assert np.isfinite(st.p[:2]).all() and np.isnan(st.p[2:]).all()
    fit = fit_variants(y, null.X, g)
    assert list(fit.error) == list(st.error)
    # a variant equal to a covariate: collinear, not a crash
    fit2 = fit_variants(y, null.X, cov[:, :1])
    assert list(fit2.error) == ["VIF_INFINITE"]
    # through the whole scan and the writer: NA only with an error code
    variants = pd.DataFrame(
        {"chrom": "1", "id": [f"v{i}" for i in range(5)], "cm": 0.0, "pos": np.arange(5) + 1, "a1": "A", "a2": "C"}
    )
    samples = pd.DataFrame(
        {"fid": [f"S{i}" for i in range(n)], "iid": [f"S{i}" for i in range(n)], "father": "0", "mother": "0"}
    ).assign(sex=0, phenotype=-9)
    write_plink(tmp_path / "g", g, variants, samples)
    pd.DataFrame({"FID": samples.fid, "IID": samples.iid, "y": y.astype(int)}).to_csv(
        tmp_path / "p.tsv", sep="\t", index=False
    )
    cohort = Cohort.from_files(tmp_path / "g", tmp_path / "p.tsv", "y")
    res = scan(cohort, AssocConfig(exact_top=2))
    write_assoc(res, tmp_path / "out.tsv")
    out = pd.read_csv(tmp_path / "out.tsv", sep="\t", keep_default_na=False)
    assert list(out.columns) == list(COLUMNS)
    na_rows = (out[["beta", "standard_error", "p_value"]] == "NA").any(axis=1)
    assert list(na_rows) == [False, False, True, True, True]
    assert (out.loc[na_rows, "error_code"] != ".").all()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# ---------------------------------------------------------------- streaming, subsets, dask


def test_training_fold_never_reads_other_samples(cohort: Cohort, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    fold = np.sort(rng.choice(cohort.n, 2500, replace=False))
    variants = np.arange(0, 14079, 7)
    cov = rng.normal(size=(cohort.n, 2))
    conf = AssocConfig(exact_top=50, chunk_size=600)
    a = scan(cohort, conf, samples=fold, covariates=cov, variants=variants)
    # the same fold of a cohort whose held-out genotypes are scrambled
    g = cohort.fileset.read(variants=variants)
    held = np.setdiff1d(np.arange(cohort.fileset.n_samples), cohort.sample_idx[fold])
    g[held] = rng.permutation(g[held].ravel()).reshape(g[held].shape)
    write_plink(tmp_path / "scrambled", g, cohort.variants.iloc[variants], cohort.fileset.samples)
    other = replace(cohort, fileset=open_plink(tmp_path / "scrambled"))
    b = scan(other, conf, samples=fold, covariates=cov)
    cols = ["beta", "standard_error", "p_value", "effect_allele_frequency", "n", "test"]
    pd.testing.assert_frame_equal(a.table[cols], b.table[cols])
    # and equal to scanning the subset cohort
    mask = np.zeros(cohort.n, dtype=bool)
    mask[fold] = True
    c = scan(cohort.subset(mask, "held out"), conf, covariates=cov[fold], variants=variants)
    pd.testing.assert_frame_equal(a.table[cols], c.table[cols])
    assert a.null.n == 2500 and (a.table["n"] <= 2500).all()


def test_chunk_size_does_not_change_results(cohort: Cohort) -> None:
    v = np.arange(3000)
    a = scan(cohort, AssocConfig(exact_top=20, chunk_size=3000), variants=v)
    b = scan(cohort, AssocConfig(exact_top=20, chunk_size=257), variants=v)
    np.testing.assert_allclose(a.screen_p, b.screen_p, rtol=1e-12)
    pd.testing.assert_frame_equal(a.table, b.table, check_exact=False, rtol=1e-12)


def test_dask_cluster_gives_identical_results(cohort: Cohort) -> None:
    distributed = pytest.importorskip("distributed")
    v = np.arange(2000)
    conf = AssocConfig(exact_top=10, chunk_size=300)
    local = scan(cohort, conf, variants=v)
    with distributed.LocalCluster(processes=False, n_workers=2, threads_per_worker=1, dashboard_address=None) as lc:
        with distributed.Client(lc) as client:
            remote = scan(cohort, conf, variants=v, client=client)
    pd.testing.assert_frame_equal(local.table, remote.table, check_exact=True)
    assert np.array_equal(local.screen_p, remote.screen_p, equal_nan=True)


def test_run_assoc_writes_table(tmp_path: Path) -> None:
    out = tmp_path / "assoc.tsv"
    res = run_assoc(DATA / "discovery", PHENO, "cooperate", DATA / "discovery.covar.tsv", None, 0, out, exact_top=5)
    t = pd.read_csv(out, sep="\t")
    assert list(t.columns) == list(COLUMNS) and len(t) == 14079
    assert (t["test"] == "wald").sum() >= 5
    assert res.covariate_names == ("sex", "age")
    bim = open_plink(DATA / "discovery").variants
    assert (t["effect_allele"] == bim["a1"]).all() and (t["variant_index"] == np.arange(14079)).all()


@pytest.mark.slow
def test_run_assoc_with_pcs_and_full_exact(tmp_path: Path) -> None:
    """All 14,079 variants exact (Wald/Firth) vs screening and vs plink2 (PCs recomputed by run_assoc)."""
    res = run_assoc(
        DATA / "discovery", PHENO, "cooperate", DATA / "discovery.covar.tsv", None, 10, tmp_path / "a.tsv", 14079
    )
    ref = read_plink2("discovery")
    t = res.table
    assert (t["test"] == "wald").all()
    lw = -np.log10(t["p_value"].to_numpy())
    assert np.corrcoef(-np.log10(res.screen_p), lw)[0, 1] >= 0.99
    assert np.corrcoef(lw, -np.log10(ref["P"].to_numpy()))[0, 1] >= 0.9999


def test_memory_does_not_grow_with_variant_count(cohort: Cohort) -> None:
    import tracemalloc

    # one thread: with T threads T chunks are in flight, so the peak is T times one chunk's (still flat in m)
    conf = AssocConfig(exact_top=10, chunk_size=1024, threads=1)
    peaks = []
    for v in (np.arange(2048), np.arange(14079)):
        tracemalloc.start()
        scan(cohort, conf, variants=v)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    # 7x the variants: the peak is set by one chunk (~11 n c bytes = 45 MB here), not by the variant count
    assert peaks[1] < 1.5 * peaks[0]
    assert peaks[1] < 200 * 2**20


def test_tiny_p_values_stay_positive() -> None:
    rng = np.random.default_rng(2)
    n = 20000
    g = rng.binomial(2, 0.5, n).astype(float)
    y = (rng.random(n) < 1 / (1 + np.exp(-3 * (g - 1)))).astype(float)
    null = fit_null(y, rng.normal(size=(n, 1)))
    st = score_test(g[:, None], null)
    fit = fit_variants(y, null.X, g[:, None])
    assert st.chi2[0] > 2000 and st.p[0] == MIN_P  # chi2.sf underflows to 0 here
    assert fit.z[0] > 40 and fit.p[0] == MIN_P


def test_thread_count_does_not_change_results(cohort: Cohort) -> None:
    """Chunks and exact blocks on 1 or 3 threads give bit-identical tables."""
    v = np.arange(3000)
    one = scan(cohort, AssocConfig(exact_top=300, chunk_size=256, threads=1), variants=v)
    three = scan(cohort, AssocConfig(exact_top=300, chunk_size=256, threads=3), variants=v)
    pd.testing.assert_frame_equal(one.table, three.table, check_exact=True)
    assert (one.table["test"] == "wald").sum() >= 300


def test_exact_block_is_capped_in_cells(cohort: Cohort, monkeypatch: pytest.MonkeyPatch) -> None:
    """The exact refit's block shrinks as samples grow (bounded memory); its size changes only rounding.

    (The batched Newton fits share BLAS calls across a block's variants, so the last bits may differ.)
    """
    scan_module = importlib.import_module("genopt.assoc.scan")
    assert [scan_module.exact_block(n) for n in (500, 10_000, 50_000, 10**7)] == [256, 256, 51, 16]
    v = np.arange(3000)
    conf = AssocConfig(exact_top=300, chunk_size=1024, threads=1)
    default = scan(cohort, conf, variants=v)
    monkeypatch.setattr(scan_module, "EXACT_BLOCK_CELLS", 17 * cohort.n)  # blocks of 17 variants instead of 256
    small = scan(cohort, conf, variants=v)
    pd.testing.assert_frame_equal(default.table, small.table, check_exact=False, rtol=1e-12)
    assert (small.table["test"] != "score").sum() >= 300


def test_genopt_assoc_on_a_local_dask_cluster_writes_the_same_table(tmp_path: Path) -> None:
    """``--scheduler local``: chunks tested by 2 worker processes reading the .bed; byte-identical output."""
    pytest.importorskip("distributed")
    import subprocess
    import sys

    def assoc(out: Path, *extra: str) -> None:
        cmd = [sys.executable, "-m", "genopt.cli", "-q", "assoc", "--bfile", str(DATA / "discovery"), "--pheno",
               str(PHENO), "--covar", str(DATA / "discovery.covar.tsv"), "--pcs", "0", "--exact-top", "20",
               "--no-plots", "--out", str(out), *extra]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr

    assoc(tmp_path / "here.tsv")
    assoc(tmp_path / "dask.tsv", "--scheduler", "local")
    assert (tmp_path / "here.tsv").read_bytes() == (tmp_path / "dask.tsv").read_bytes()
