"""The frozen final model (genopt.search.final) and the hand-off files (genopt.export).

The PLINK round trip runs ``plink2 --score`` at test time (it checks genopt's
score.tsv against PLINK itself, so there is no fixture to read).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import require_executable

from genopt.assoc.scan import scan
from genopt.cohort import Cohort
from genopt.errors import GenoptError
from genopt.export import (
    VARIANTS_COLUMNS,
    read_model_json,
    write_extract,
    write_model_json,
    write_score_tsv,
    write_variants_tsv,
    write_variants_yaml,
)
from genopt.io.plink import open_plink, write_plink
from genopt.search.final import FinalModel, fit_final
from genopt.search.fitness import COVARIATE_SCALE
from genopt.search.types import Candidate

DATA = Path(__file__).resolve().parents[1] / "data"
PALINDROMIC = {("A", "T"), ("T", "A"), ("C", "G"), ("G", "C")}


@pytest.fixture(scope="module")
def discovery() -> Cohort:
    return Cohort.from_files(
        DATA / "discovery", DATA / "discovery.pheno.tsv", "cooperate", DATA / "discovery.covar.tsv"
    )


@pytest.fixture(scope="module")
def assoc_table(discovery: Cohort) -> pd.DataFrame:
    return scan(discovery).table


@pytest.fixture(scope="module")
def pool_and_subset(discovery: Cohort, assoc_table: pd.DataFrame) -> tuple[np.ndarray, tuple[int, ...]]:
    """Pool = 200 best non-palindromic variants (.bim order); subset = the 20 best of them."""
    bim = discovery.variants
    pal = np.array([(a, b) in PALINDROMIC for a, b in zip(bim["a1"].str.upper(), bim["a2"].str.upper(), strict=True)])
    t = assoc_table.assign(pal=pal[assoc_table["variant_index"].to_numpy()])
    t = t[~t["pal"] & t["p_value"].notna()].sort_values("p_value")
    pool = np.sort(t["variant_index"].to_numpy()[:200]).astype(np.intp)
    best = t["variant_index"].to_numpy()[:20]
    subset = tuple(int(i) for i in np.flatnonzero(np.isin(pool, best)))
    assert len(subset) == 20
    return pool, subset


@pytest.fixture(scope="module")
def ridge_model(discovery: Cohort, pool_and_subset: tuple[np.ndarray, tuple[int, ...]]) -> FinalModel:
    pool, subset = pool_and_subset
    return fit_final(discovery, pool, Candidate(subset, "ridge", (("alpha", 10.0),)), seed=3)


def _design(cohort: Cohort, model: FinalModel) -> tuple[np.ndarray, np.ndarray]:
    """Covariates and imputed genotypes of the model's variants, computed independently."""
    g = cohort.fileset.read(variants=model.bim_index, samples=cohort.sample_idx, dtype=np.float64)
    g = np.where(np.isnan(g), np.nanmean(g, axis=0), g)
    return cohort.covariates.to_numpy(dtype=np.float64), g


def _plink_score(tmp: Path, bfile: Path, score_file: Path, *modifiers: str) -> pd.DataFrame:
    plink2 = require_executable("plink2")
    out = tmp / f"plink_{bfile.name}"
    cmd = [plink2, "--bfile", str(bfile), "--score", str(score_file), "1", "2", "3", "header-read", *modifiers]
    cmd += ["--threads", "1", "--memory", "700", "--out", str(out)]
    subprocess.run(cmd, check=True, capture_output=True)
    return pd.read_csv(f"{out}.sscore", sep="\t")


# ---------------------------------------------------------------------------- the fit


def test_ridge_weights_reproduce_sklearn_fit_on_discovery(discovery: Cohort, ridge_model: FinalModel) -> None:
    """Genetic score on discovery = genetic part of the fitted linear predictor (independent sklearn Ridge)."""
    from sklearn.linear_model import Ridge

    m = ridge_model
    c, g = _design(discovery, m)
    x = np.column_stack([c, g])
    mu, sd = x.mean(axis=0), x.std(axis=0)
    z = (x - mu) / sd
    z[:, : c.shape[1]] *= COVARIATE_SCALE
    ref = Ridge(alpha=10.0, solver="cholesky").fit(z, discovery.y.astype(float))
    k = c.shape[1]
    genetic_part = ((g - mu[k:]) / sd[k:]) @ ref.coef_[k:]  # centred genetic part of eta
    score = m.genetic_score(g).score
    offset = float(m.weights @ m.std_mean)  # type: ignore[operator]
    np.testing.assert_allclose(score - offset, genetic_part, rtol=0, atol=1e-9)
    # Whole linear predictor: intercept + genetic + covariate parts.
    eta = m.intercept + score + c @ m.covariate_coef  # type: ignore[operator]
    np.testing.assert_allclose(eta, ref.predict(z), rtol=0, atol=1e-9)
    cov_sd = discovery.covariates.std(ddof=0).to_numpy()
    np.testing.assert_allclose(m.covariate_coef * cov_sd, ref.coef_[:k] * COVARIATE_SCALE, rtol=1e-9)
    # Frozen metadata.
    assert m.n_samples == 4000 and m.n_cases == 2000 and m.n_controls == 2000
    assert m.covariate_names == ("sex", "age")
    assert m.params == {"alpha": 10.0} and m.seed == 3
    assert list(m.a1) == discovery.variants["a1"].to_numpy()[m.bim_index].tolist()
    np.testing.assert_allclose(m.impute_mean, 2 * m.a1_freq)
    np.testing.assert_allclose(m.a1_freq, np.nanmean(g, axis=0) / 2)


@pytest.mark.parametrize("family", ["logistic_l2", "logistic_l1"])
def test_logistic_linear_predictor(
    discovery: Cohort, pool_and_subset: tuple[np.ndarray, tuple[int, ...]], family: str
) -> None:
    """intercept + weights . g + covariate_coef . c equals the decision function of the fitness's own
    estimator fitted on all samples (CVFitness.fitted_models with one all-sample fold), and is close to an
    independent scikit-learn fit (solver tolerance apart)."""
    from sklearn.linear_model import LogisticRegression

    from genopt.search.fitness import CVFitness

    pool, subset = pool_and_subset
    cand = Candidate(subset, family, (("C", 0.05),))
    m = fit_final(discovery, pool, cand)
    c, g = _design(discovery, m)
    eta = m.intercept + m.genetic_score(g).score + c @ m.covariate_coef  # type: ignore[operator]
    everyone = np.arange(discovery.n)
    fit = CVFitness(g, c, discovery.y, [(everyone, np.empty(0, dtype=np.intp))])
    own = Candidate(tuple(range(m.n_variants)), family, cand.params)
    est = fit.fitted_models(own)[0]
    xt = fit._fold_design(own.subset, 0, COVARIATE_SCALE)[0]
    np.testing.assert_allclose(eta, est.decision_function(xt), rtol=0, atol=1e-9)
    x = np.column_stack([c, g])
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    z[:, : c.shape[1]] *= COVARIATE_SCALE
    kw = (
        {"solver": "lbfgs"}
        if family == "logistic_l2"
        else {"solver": "liblinear", "l1_ratio": 1.0, "intercept_scaling": 100.0}
    )
    ref = LogisticRegression(C=0.05, max_iter=5000, tol=1e-8, random_state=0, **kw).fit(z, discovery.y)
    np.testing.assert_allclose(eta, ref.decision_function(z), rtol=0, atol=2e-3)


def test_gbm_has_no_weights_and_refuses_score(
    discovery: Cohort, pool_and_subset: tuple[np.ndarray, tuple[int, ...]], tmp_path: Path
) -> None:
    pool, subset = pool_and_subset
    m = fit_final(discovery, pool, Candidate(subset[:5], "gbm", (("max_iter", 5.0),)))
    assert m.weights is None and m.intercept is None and not m.is_linear
    assert m.n_variants == 5 and m.params["max_iter"] == 5.0
    with pytest.raises(GenoptError, match=r"gbm.*no per-allele weights"):
        write_score_tsv(m, tmp_path / "score.tsv")
    assert not (tmp_path / "score.tsv").exists()
    with pytest.raises(GenoptError, match="no per-allele weights"):
        m.genetic_score(np.zeros((2, 5)))
    write_model_json(m, tmp_path / "model.json")  # the rest is still frozen
    back = read_model_json(tmp_path / "model.json")
    assert back.weights is None and back.variant_id == m.variant_id


def test_user_errors(discovery: Cohort) -> None:
    with pytest.raises(GenoptError, match="outside the pool of 3"):
        fit_final(discovery, [0, 1, 2], Candidate((1, 3), "ridge"))
    with pytest.raises(GenoptError, match="'ridge' has no hyperparameter 'C'"):
        fit_final(discovery, [0, 1, 2], Candidate((1,), "ridge", (("C", 1.0),)))
    with pytest.raises(GenoptError, match="extra covariates have 3 rows"):
        fit_final(discovery, [0, 1, 2], Candidate((1,), "ridge"), covariates=np.zeros((3, 2)))


def test_covariates_only_model_and_extra_covariates(discovery: Cohort) -> None:
    pcs = np.random.default_rng(1).normal(size=(discovery.n, 2))
    m = fit_final(discovery, [0, 1, 2], Candidate((), "logistic_l2"), covariates=pcs, covariate_names=["PC1", "PC2"])
    assert m.n_variants == 0 and m.weights is not None and m.weights.size == 0
    assert m.covariate_names == ("sex", "age", "PC1", "PC2") and m.covariate_coef is not None
    assert m.covariate_coef.shape == (4,)
    assert np.array_equal(m.genetic_score(discovery).score, np.zeros(discovery.n))


def test_discovery_cohort_scored_through_harmonisation(discovery: Cohort, ridge_model: FinalModel) -> None:
    """Scoring the discovery Cohort (matched to itself by ID) equals scoring its imputed genotype array."""
    res = ridge_model.genetic_score(discovery)
    _, g = _design(discovery, ridge_model)
    assert res.n_unmatched == 0 and res.n_missing_calls == int(
        np.isnan(discovery.genotypes(variants=ridge_model.bim_index)).sum()
    )
    assert res.n_missing_calls > 0  # discovery has missing calls: they get 2p
    np.testing.assert_allclose(res.score, g @ ridge_model.weights, rtol=0, atol=1e-12)
    assert res.sample_ids["iid"].tolist() == discovery.samples["iid"].astype(str).tolist()


# ---------------------------------------------------------------------------- PLINK round trip


@pytest.mark.parametrize("cohort", ["heldout_a", "heldout_b"])
def test_plink_score_matches_genetic_score(ridge_model: FinalModel, tmp_path: Path, cohort: str) -> None:
    """plink2 --score score.tsv reproduces FinalModel.genetic_score (heldout_b: other positions, rows reordered).

    The held-out cohorts have a few missing calls: genopt imputes them with the discovery mean 2p, PLINK by
    default with the target's mean, and with ``no-mean-imputation`` not at all (they add 0).
    """
    m = ridge_model
    w = m.weights
    assert w is not None
    score_file = tmp_path / "score.tsv"
    write_score_tsv(m, score_file)
    bfile = DATA / cohort
    fs = open_plink(bfile)
    ours = m.genetic_score(fs)
    assert ours.n_unmatched == 0 and ours.harmonisation["as-is"] == m.n_variants
    rows = pd.Index(fs.variants["id"]).get_indexer(list(m.variant_id))
    missing = np.isnan(fs.read(variants=rows, dtype=np.float64))  # model order
    assert ours.n_missing_calls == int(missing.sum())
    imputed_part = missing.astype(float) @ (w * m.impute_mean)

    skip = _plink_score(tmp_path, bfile, score_file, "cols=+scoresums", "no-mean-imputation")
    assert skip["#FID"].astype(str).tolist() == ours.sample_ids["fid"].tolist()
    plink_sum = skip["WEIGHT_SUM"].to_numpy()
    # PLINK prints 6 significant digits.
    np.testing.assert_allclose(plink_sum, ours.score - imputed_part, rtol=6e-6, atol=1e-12)
    assert (skip["ALLELE_CT"].to_numpy() == 2 * (m.n_variants - missing.sum(axis=1))).all()
    np.testing.assert_allclose(skip["WEIGHT_AVG"] * skip["ALLELE_CT"], plink_sum, rtol=1e-5, atol=1e-9)

    default = _plink_score(tmp_path, bfile, score_file, "cols=+scoresums")
    r = np.corrcoef(default["WEIGHT_SUM"], ours.score)[0, 1]
    assert r >= 0.9999
    complete = ~missing.any(axis=1)
    assert complete.sum() > 0.9 * len(complete)
    np.testing.assert_allclose(default["WEIGHT_SUM"].to_numpy()[complete], ours.score[complete], rtol=6e-6, atol=1e-12)
    # Default column: SUM / (2 x variants); ALLELE_CT counts the called alleles only.
    assert (default["ALLELE_CT"].to_numpy() == 2 * (m.n_variants - missing.sum(axis=1))).all()
    np.testing.assert_allclose(default["WEIGHT_AVG"] * 2 * m.n_variants, default["WEIGHT_SUM"], rtol=1e-5, atol=1e-9)
    print(
        f"{cohort}: r(plink default, genopt) = {r:.8f}; max |diff| no-mean-imputation "
        f"{np.abs(plink_sum - (ours.score - imputed_part)).max():.2e}; "
        f"people with a missing call {int((~complete).sum())}"
    )


def test_allele_swapped_copy_scores_the_same(ridge_model: FinalModel, tmp_path: Path) -> None:
    """Swap A1/A2 in the .bim and recode the .bed (2 - g): same score, every variant counted as swapped;
    dropping variants imputes them with the discovery mean and counts them."""
    m = ridge_model
    fs = open_plink(DATA / "heldout_a")
    rows = np.flatnonzero(fs.variants["id"].isin(set(m.variant_id)).to_numpy())
    g = fs.read(variants=rows, dtype=np.float64)
    bim = fs.variants.iloc[rows].reset_index(drop=True)
    swapped = bim.assign(a1=bim["a2"], a2=bim["a1"])
    write_plink(tmp_path / "swapped", 2.0 - g, swapped, fs.samples)
    base = m.genetic_score(fs)
    sw = m.genetic_score(open_plink(tmp_path / "swapped"))
    assert sw.harmonisation["swapped"] == m.n_variants and sw.n_unmatched == 0
    np.testing.assert_allclose(sw.score, base.score, rtol=0, atol=1e-12)
    # Three variants absent and some calls missing.
    keep = np.ones(len(rows), dtype=bool)
    keep[[0, 5, 7]] = False
    g2 = g[:, keep].copy()
    g2[:10, 0] = np.nan
    write_plink(tmp_path / "partial", g2, bim[keep], fs.samples)
    part = m.genetic_score(open_plink(tmp_path / "partial"))
    assert part.n_unmatched == 3 and part.harmonisation["not in other cohort"] == 3
    assert part.n_missing_calls == int(np.isnan(g2).sum())
    order = pd.Index(bim["id"]).get_indexer(list(m.variant_id))  # model order -> rows of g
    full = g[:, order]
    gone = np.isin(order, np.flatnonzero(~keep))
    full[:, gone] = m.impute_mean[gone]
    first_kept = list(m.variant_id).index(bim["id"][np.flatnonzero(keep)[0]])
    full[:10, first_kept] = m.impute_mean[first_kept]
    full = np.where(np.isnan(full), m.impute_mean, full)
    np.testing.assert_allclose(part.score, full @ m.weights, rtol=0, atol=1e-12)  # type: ignore[operator]


def test_palindromic_ambiguous_variant_is_dropped_and_imputed(discovery: Cohort, tmp_path: Path) -> None:
    bim = discovery.variants
    pair = list(zip(bim["a1"].str.upper(), bim["a2"].str.upper(), strict=True))
    freq = np.nanmean(discovery.genotypes(variants=np.arange(2000)), axis=0) / 2
    pal = [i for i in range(2000) if pair[i] in PALINDROMIC and abs(freq[i] - 0.5) < 0.08][:1]
    plain = [i for i in range(2000) if pair[i] not in PALINDROMIC][:4]
    pool = np.sort(np.array(pal + plain))
    m = fit_final(discovery, pool, Candidate(tuple(range(5)), "ridge"))
    res = m.genetic_score(discovery)
    assert res.harmonisation["palindromic, MAF too high to tell strand"] == 1 and res.n_unmatched == 1


# ---------------------------------------------------------------------------- files


def test_model_json_round_trip_is_exact(ridge_model: FinalModel, tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    write_model_json(ridge_model, path)
    doc = json.loads(path.read_text())
    assert doc["format"] == "genopt-final-model" and doc["format_version"] == 1
    back = read_model_json(path)
    assert back.to_dict() == ridge_model.to_dict()
    for name in ("weights", "beta_std", "a1_freq", "impute_mean", "std_mean", "std_sd", "covariate_coef"):
        a, b = getattr(back, name), getattr(ridge_model, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name
    assert back.intercept == ridge_model.intercept
    g = np.random.default_rng(0).integers(0, 3, (50, ridge_model.n_variants)).astype(float)
    assert np.array_equal(back.genetic_score(g).score, ridge_model.genetic_score(g).score)


def test_model_json_errors(ridge_model: FinalModel, tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    write_model_json(ridge_model, path)
    doc = json.loads(path.read_text())
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**doc, "format_version": 99}))
    with pytest.raises(GenoptError, match="format_version 99"):
        read_model_json(bad)
    del doc["variants"]["weight"]
    bad.write_text(json.dumps(doc))
    with pytest.raises(GenoptError, match="lacks the field 'weight'"):
        read_model_json(bad)
    bad.write_text('{"format":\n nope}')
    with pytest.raises(GenoptError) as info:
        read_model_json(bad)
    assert info.value.line == 2 and "bad.json" in str(info.value)


def test_score_and_extract_files(ridge_model: FinalModel, tmp_path: Path) -> None:
    write_score_tsv(ridge_model, tmp_path / "score.tsv")
    write_extract(ridge_model, tmp_path / "extract.txt")
    score = pd.read_csv(tmp_path / "score.tsv", sep="\t", float_precision="round_trip")
    assert score.columns.tolist() == ["ID", "A1", "WEIGHT"]
    assert score["ID"].tolist() == list(ridge_model.variant_id) and score["A1"].tolist() == list(ridge_model.a1)
    assert ridge_model.weights is not None
    assert np.array_equal(score["WEIGHT"].to_numpy(), ridge_model.weights)  # shortest repr: exact
    assert (tmp_path / "extract.txt").read_text().split("\n") == [*ridge_model.variant_id, ""]


def test_variants_tsv_and_yaml(ridge_model: FinalModel, assoc_table: pd.DataFrame, tmp_path: Path) -> None:
    m = ridge_model
    sel = {m.variant_id[0]: 0.75, m.variant_id[3]: 0.1}
    write_variants_tsv(m, tmp_path / "variants.tsv", assoc_table, sel)
    t = pd.read_csv(tmp_path / "variants.tsv", sep="\t")
    assert tuple(t.columns) == VARIANTS_COLUMNS
    rows = assoc_table.set_index("variant_index").loc[m.bim_index]
    np.testing.assert_allclose(t["beta"], rows["beta"], rtol=1e-9)
    np.testing.assert_allclose(t["p_value"], rows["p_value"], rtol=1e-9)
    np.testing.assert_allclose(t["odds_ratio"], rows["odds_ratio"], rtol=1e-9)
    assert (t["n"].to_numpy() == rows["n"].to_numpy()).all() and t["rsid"].tolist() == list(m.variant_id)
    assert t["effect_allele"].tolist() == rows["effect_allele"].tolist()
    np.testing.assert_allclose(t["model_weight"], m.weights, rtol=1e-9)  # type: ignore[arg-type]
    np.testing.assert_allclose(t["effect_allele_frequency"], rows["effect_allele_frequency"], rtol=1e-6)
    assert t["selection_frequency"][0] == 0.75 and t["selection_frequency"][3] == 0.1
    assert t["selection_frequency"].isna().sum() == m.n_variants - 2
    # Without association statistics: NA.
    write_variants_tsv(m, tmp_path / "bare.tsv")
    bare = pd.read_csv(tmp_path / "bare.tsv", sep="\t")
    assert bare[["beta", "standard_error", "p_value", "odds_ratio", "n", "selection_frequency"]].isna().all().all()
    text = write_variants_yaml(m, tmp_path / "variants.yaml", genome_build="GRCh36")
    assert (tmp_path / "variants.yaml").read_text() == text
    lines = text.splitlines()
    assert "sample_size: 4000" in lines and "case_count: 2000" in lines and "control_count: 2000" in lines
    assert 'genome_assembly: "GRCh36"' in lines and '  - "cooperate vs defect"' in lines
    assert any(line.startswith('analysis_software: "genopt ') for line in lines)
    yaml = pytest.importorskip("yaml")
    doc = yaml.safe_load(text)
    assert doc["model"]["family"] == "ridge" and doc["model"]["covariates"] == ["sex", "age"]
