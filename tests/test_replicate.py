"""Replication of a frozen model on the bundled held-out cohorts (genopt.replicate).

The run directory is built by tests/fixtures/replicate/make_run.py (a ridge
model on 28 causal variants with sex, age and 4 discovery PCs); the PLINK
round trip compares with tests/fixtures/replicate/heldout_a.plink2.sscore.gz,
made by tests/fixtures/replicate/COMMANDS.sh.
"""

from __future__ import annotations

import dataclasses
import gzip
import importlib.util
import json
import math
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from conftest import require_executable
from scipy import stats as sps
from sklearn.metrics import roc_auc_score

from genopt.cohort import Cohort
from genopt.config import OverlapConfig, ReplicationConfig
from genopt.errors import GenoptError
from genopt.io.plink import open_plink, write_plink
from genopt.replicate import analyse, apply_model, load_run, replicate, replicate_many
from genopt.replicate import stats as rstats

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
FIX = Path(__file__).resolve().parent / "fixtures" / "replicate"
SUMMARY_KEYS = (
    "cohort n_samples n_cases n_controls n_variants_listed n_variants_used n_variants_dropped variants_dropped "
    "auc auc_ci95 auc_p score_or_per_sd score_p nagelkerke_r2_incremental n_replicated_bonferroni "
    "n_replicated_fdr sign_concordance sign_test_p verdict rule"
).split()


def _make_run_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("replicate_make_run", FIX / "make_run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_run = _make_run_module()


def heldout(name: str, pheno: Path | None = None, covar: bool = True) -> Cohort:
    return Cohort.from_files(
        DATA / name,
        pheno or DATA / f"{name}.pheno.tsv",
        "cooperate",
        DATA / f"{name}.covar.tsv" if covar else None,
        pheno_coding="01",
    )


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    make_run.build_run(out)
    return out


@pytest.fixture(scope="module")
def cohorts() -> dict[str, Cohort]:
    return {name: heldout(name) for name in ("heldout_a", "heldout_b")}


@pytest.fixture(scope="module")
def replicated(run_dir: Path, cohorts: dict[str, Cohort], tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("out")
    results = replicate_many(run_dir, cohorts, ReplicationConfig(permutations=200), out, seed=1)
    return out, results


# ---------------------------------------------------------------------------- applying the model


def test_apply_matches_final_model_score_and_pca_projection(run_dir: Path, cohorts: dict[str, Cohort]) -> None:
    run = load_run(run_dir)
    cohort = cohorts["heldout_b"]  # other build's positions, 190 variants in another order: matched by ID
    applied = apply_model(run.model, cohort, run.pca_model)
    assert applied.n_used == 28 and applied.harmonisation["as-is"] == 28
    np.testing.assert_allclose(applied.score, run.model.genetic_score(cohort).score, rtol=1e-12)
    assert run.pca_model is not None
    pcs = run.pca_model.transform(cohort).scores[:, :4]
    np.testing.assert_allclose(applied.covariates, np.column_stack([cohort.covariates.to_numpy(), pcs]))
    rows = cohort.variants.reset_index(drop=True).set_index("id").index.get_indexer(list(run.model.variant_id))
    raw = cohort.fileset.read(variants=np.sort(rows), dtype=np.float64)[:, np.argsort(np.argsort(rows))]
    np.testing.assert_array_equal(applied.genotypes, raw)  # same A1 in both .bim files: counts as read


def test_harmonisation_of_swapped_complemented_and_absent_variants(run_dir: Path, tmp_path: Path) -> None:
    run = load_run(run_dir)
    fs = open_plink(DATA / "heldout_a")
    keep = np.arange(0, 2000, 4)  # 500 people
    g = fs.read_int8(samples=keep)
    bim = fs.variants.copy()
    comp = {"A": "T", "T": "A", "C": "G", "G": "C"}
    model_rows = bim.index[bim["id"].isin(run.model.variant_id)].to_numpy()
    r_swap, r_comp, r_gone = model_rows[:3]
    g[:, r_swap] = np.where(g[:, r_swap] < 0, -1, 2 - g[:, r_swap])
    bim.loc[r_swap, ["a1", "a2"]] = bim.loc[r_swap, ["a2", "a1"]].to_numpy()
    bim.loc[r_comp, ["a1", "a2"]] = [comp[bim.loc[r_comp, "a1"]], comp[bim.loc[r_comp, "a2"]]]
    bim.loc[r_gone, "id"] = "renamed"
    samples = fs.samples.iloc[keep].reset_index(drop=True)
    write_plink(tmp_path / "mod", g, bim, samples)
    pheno = tmp_path / "pheno.tsv"
    pd.read_csv(DATA / "heldout_a.pheno.tsv", sep="\t").iloc[keep].to_csv(pheno, sep="\t", index=False)
    mod = Cohort.from_files(tmp_path / "mod", pheno, "cooperate", DATA / "heldout_a.covar.tsv")
    orig = heldout("heldout_a").subset(np.isin(np.arange(2000), keep), "not in the copy")
    a_mod = apply_model(run.model, mod, run.pca_model)
    a_orig = apply_model(run.model, orig, run.pca_model)
    counts = {k: v for k, v in a_mod.harmonisation.items() if v}
    assert counts == {"as-is": 25, "swapped": 1, "strand-flipped": 1, "not in other cohort": 1}
    j_gone = run.model.variant_id.index(str(fs.variants.loc[r_gone, "id"]))
    w = np.asarray(run.model.weights)
    imputed_orig = np.where(
        np.isnan(a_orig.genotypes[:, j_gone]), run.model.impute_mean[j_gone], a_orig.genotypes[:, j_gone]
    )
    expected = a_orig.score - w[j_gone] * (imputed_orig - run.model.impute_mean[j_gone])
    np.testing.assert_allclose(a_mod.score, expected, rtol=1e-10, atol=1e-12)
    used = np.arange(28) != j_gone
    np.testing.assert_array_equal(a_mod.genotypes[:, used], a_orig.genotypes[:, used])
    assert np.isnan(a_mod.genotypes[:, j_gone]).all() and a_mod.status[j_gone] == "not in other cohort"
    # too few harmonised variants: says how many and why
    with pytest.raises(GenoptError, match=r"only 27 of the model's 28 variants .* 1 not in other cohort"):
        analyse(a_mod, run.model, run.discovery, ReplicationConfig(min_variants_used=28))


# ---------------------------------------------------------------------------- files and numbers


def test_files_hold_the_summary_keys_and_tables(replicated) -> None:  # type: ignore[no-untyped-def]
    out, results = replicated
    for name in ("heldout_a", "heldout_b"):
        summary = json.loads((out / "replication" / name / "summary.json").read_text())
        assert set(SUMMARY_KEYS) <= set(summary)
        assert summary["cohort"] == name and summary["n_samples"] == 2000
        assert summary["n_variants_listed"] == 28 == summary["n_variants_used"]
        assert summary["verdict"] == "replicated"  # the simulated signal is real
        assert summary["rule"].startswith("replicated if")
        assert summary["auc_ci95"][0] < summary["auc"] < summary["auc_ci95"][1]
        assert summary["auc_permutation_p"] == pytest.approx(1 / 201)
        variants = pd.read_csv(out / "replication" / name / "variants.tsv", sep="\t")
        assert list(variants["rsid"]) == list(results[name].variants["rsid"])
        assert summary["n_replicated_bonferroni"] == int((variants["p_value_one_sided"] * 28 < 0.05).sum())
        concordant = np.sign(variants["beta"]) == np.sign(variants["beta_discovery"])
        assert summary["sign_concordance"] == pytest.approx(concordant.mean())
        assert summary["sign_test_p"] == pytest.approx(
            sps.binomtest(int(concordant.sum()), 28, alternative="greater").pvalue
        )
    meta = pd.read_csv(out / "replication" / "meta.tsv", sep="\t")
    assert len(meta) == 28
    # replication-only IVW and all-studies IVW for one variant, by hand
    row = meta.iloc[5]
    b = np.array([row["beta_heldout_a"], row["beta_heldout_b"]])
    s = np.array([row["standard_error_heldout_a"], row["standard_error_heldout_b"]])
    w = 1 / s**2
    assert row["beta_replication"] == pytest.approx((w * b).sum() / w.sum(), rel=1e-8)
    assert row["standard_error_replication"] == pytest.approx(w.sum() ** -0.5, rel=1e-8)
    b3 = np.append(b, row["beta_discovery"])
    w3 = np.append(w, row["standard_error_discovery"] ** -2)
    pooled = (w3 * b3).sum() / w3.sum()
    q = (w3 * (b3 - pooled) ** 2).sum()
    assert row["beta_meta"] == pytest.approx(pooled, rel=1e-8)
    assert row["q"] == pytest.approx(q, rel=1e-6)
    assert row["i2"] == pytest.approx(max(0.0, (q - 2) / q) if q > 0 else 0.0, abs=1e-9)
    assert (meta["n_studies"] == 3).all()
    # the score's meta-analysis across the two cohorts, by hand
    score = json.loads((out / "replication" / "meta.json").read_text())
    sb = np.array([results[c].summary["score_beta_per_sd"] for c in ("heldout_a", "heldout_b")])
    ws = np.array([results[c].summary["score_se"] ** -2 for c in ("heldout_a", "heldout_b")])
    pooled = (ws * sb).sum() / ws.sum()
    assert score["cohorts"] == ["heldout_a", "heldout_b"]
    assert score["or_per_sd"] == pytest.approx(math.exp(pooled), rel=1e-10)
    assert score["standard_error"] == pytest.approx(ws.sum() ** -0.5, rel=1e-10)
    assert score["q"] == pytest.approx((ws * (sb - pooled) ** 2).sum(), rel=1e-8)


def test_summary_numbers_recomputed_independently(run_dir: Path, replicated) -> None:  # type: ignore[no-untyped-def]
    """AUC (sklearn), OR per SD (statsmodels formula API) and the per-variant Logit, from files and plink2's score."""
    _, results = replicated
    summary = results["heldout_a"].summary
    run = load_run(run_dir)
    cohort = heldout("heldout_a")
    assert run.pca_model is not None
    pcs = run.pca_model.transform(cohort).scores[:, :4]
    score = run.model.genetic_score(cohort).score
    frame = pd.read_csv(DATA / "heldout_a.covar.tsv", sep="\t").assign(
        y=pd.read_csv(DATA / "heldout_a.pheno.tsv", sep="\t")["cooperate"],
        z=(score - score.mean()) / score.std(ddof=1),
        **{f"PC{i + 1}": pcs[:, i] for i in range(4)},
    )
    assert summary["auc"] == pytest.approx(roc_auc_score(frame["y"], score), abs=1e-12)
    import statsmodels.formula.api as smf

    fit = smf.logit("y ~ sex + age + PC1 + PC2 + PC3 + PC4 + z", frame).fit(disp=0)
    assert summary["score_or_per_sd"] == pytest.approx(math.exp(fit.params["z"]), rel=1e-6)
    assert summary["score_p"] == pytest.approx(fit.pvalues["z"] / 2, rel=1e-4)
    null = smf.logit("y ~ sex + age + PC1 + PC2 + PC3 + PC4", frame).fit(disp=0)
    n, ll0 = len(frame), fit.llnull

    def nk(ll: float) -> float:
        return (1 - math.exp(2 * (ll0 - ll) / n)) / (1 - math.exp(2 * ll0 / n))

    assert summary["nagelkerke_r2_incremental"] == pytest.approx(nk(fit.llf) - nk(null.llf), rel=1e-6)
    # one variant's test, with the genotype read afresh (missing calls dropped)
    v = results["heldout_a"].variants.iloc[3]
    bim_row = int(np.flatnonzero(cohort.variants["id"] == v["rsid"])[0])
    g = cohort.fileset.read(variants=[bim_row], dtype=np.float64)[:, 0]
    ok = ~np.isnan(g)
    x = sm.add_constant(frame.loc[ok, ["sex", "age", "PC1", "PC2", "PC3", "PC4"]].assign(g=g[ok]))
    one = sm.Logit(frame.loc[ok, "y"], x).fit(disp=0)
    assert v["beta"] == pytest.approx(one.params["g"], rel=1e-6)
    assert v["standard_error"] == pytest.approx(one.bse["g"], rel=1e-6)
    assert v["n"] == ok.sum()


def test_plink_score_round_trip_fixture(run_dir: Path) -> None:
    """plink2 --score score.tsv 1 2 3 header-read cols=+scoresums (COMMANDS.sh) reproduces genopt's score.

    WEIGHT_SUM = sum of WEIGHT x A1 count, the same scale as genopt's score (no
    division by the allele count: that is WEIGHT_AVG). They differ only at missing
    calls: plink2 imputes the held-out cohort's own A1 frequency, genopt the
    discovery mean 2p (model.json impute_mean).
    """
    ours = pd.read_csv(run_dir / "score.tsv", sep="\t")
    committed = pd.read_csv(FIX / "score.tsv", sep="\t")
    assert list(ours["ID"]) == list(committed["ID"]) and list(ours["A1"]) == list(committed["A1"])
    np.testing.assert_allclose(ours["WEIGHT"], committed["WEIGHT"], rtol=1e-12)
    with gzip.open(FIX / "heldout_a.plink2.sscore.gz", "rt") as handle:
        plink = pd.read_csv(handle, sep="\t")
    run = load_run(run_dir)
    applied = apply_model(run.model, heldout("heldout_a"), run.pca_model)
    assert list(plink["IID"]) == list(applied.sample_ids["iid"])
    assert np.corrcoef(plink["WEIGHT_SUM"], applied.score)[0, 1] >= 0.9999
    missing = np.isnan(applied.genotypes)
    complete = ~missing.any(axis=1)
    assert complete.sum() > 1900 and (~complete).sum() > 0
    np.testing.assert_allclose(plink["WEIGHT_SUM"][complete], applied.score[complete], rtol=5e-6, atol=5e-6)
    freq = pd.read_csv(FIX / "heldout_a.plink2.afreq", sep="\t").set_index("ID").loc[list(run.model.variant_id)]
    w = np.asarray(run.model.weights)
    shift = (missing * (w * (2 * freq["ALT_FREQS"].to_numpy() - run.model.impute_mean))).sum(axis=1)
    np.testing.assert_allclose(plink["WEIGHT_SUM"], applied.score + shift, rtol=5e-6, atol=5e-6)


@pytest.mark.plink
def test_plink_fixture_is_what_plink2_prints(tmp_path: Path) -> None:
    plink2 = require_executable("plink2")
    cmd = [plink2, "--bfile", str(DATA / "heldout_a"), "--score", str(FIX / "score.tsv"), "1", "2", "3",
           "header-read", "cols=+scoresums", "--threads", "1", "--out", str(tmp_path / "a")]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True)
    live = pd.read_csv(tmp_path / "a.sscore", sep="\t")
    with gzip.open(FIX / "heldout_a.plink2.sscore.gz", "rt") as handle:
        fixture = pd.read_csv(handle, sep="\t")
    pd.testing.assert_frame_equal(live, fixture)


# ---------------------------------------------------------------------------- bad input


def _write_pheno(path: Path, name: str, values: np.ndarray | None = None) -> Path:
    table = pd.read_csv(DATA / f"{name}.pheno.tsv", sep="\t")
    if values is not None:
        table["cooperate"] = values
    table.to_csv(path, sep="\t", index=False)
    return path


def test_bad_cohorts_are_refused_and_nothing_is_written(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    one_class = heldout("heldout_a", _write_pheno(tmp_path / "p.tsv", "heldout_a", np.ones(2000, dtype=int)))
    with pytest.raises(GenoptError, match=r"one class only .*2000 cooperate, 0 defect"):
        replicate(run_dir, one_class, "a", out_dir=out)
    small = heldout("heldout_a").subset(np.arange(2000) < 60, "test")
    with pytest.raises(GenoptError, match=r"too few samples for the covariates: .* needs at least 40 in each class"):
        replicate(run_dir, small, "a", out_dir=out)
    with pytest.raises(GenoptError, match=r"lacks the model's covariates \['sex', 'age'\]"):
        replicate(run_dir, heldout("heldout_a", covar=False), "a", out_dir=out)
    with pytest.raises(GenoptError, match="must be letters"):
        replicate(run_dir, heldout("heldout_a"), "../x", out_dir=out)
    assert not out.exists()
    # a good cohort and a bad one together: neither is written
    with pytest.raises(GenoptError, match="one class"):
        replicate_many(run_dir, {"b": heldout("heldout_b"), "a": one_class}, out_dir=out)
    assert not (out / "replication").exists()
    # an earlier result is left as it was by a failing rerun
    replicate(run_dir, heldout("heldout_b").subset(np.arange(2000) % 4 == 0, "test"), "b", out_dir=out)
    before = (out / "replication" / "b" / "summary.json").read_bytes()
    wrong = heldout("heldout_b", _write_pheno(tmp_path / "q.tsv", "heldout_b", np.zeros(2000, dtype=int)))
    with pytest.raises(GenoptError):
        replicate(run_dir, wrong, "b", out_dir=out)
    assert (out / "replication" / "b" / "summary.json").read_bytes() == before
    written = sorted(p.name for p in (out / "replication" / "b").iterdir())
    assert written == ["scores.tsv", "summary.json", "variants.tsv"]


@pytest.fixture(scope="module")
def overlapping(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A held-out cohort of 200 held-out A people, 3 discovery people under their own IDs
    and 2 discovery people under new IDs (genotype duplicates)."""
    tmp = tmp_path_factory.mktemp("overlap")
    a, d = open_plink(DATA / "heldout_a"), open_plink(DATA / "discovery")
    ga = a.read_int8(samples=np.arange(200))
    gd = d.read_int8(samples=np.arange(5))
    sa = a.samples.iloc[:200]
    sd = d.samples.iloc[:5].copy()
    sd.loc[sd.index[3:], ["fid", "iid"]] = [["X4", "X4"], ["X5", "X5"]]
    samples = pd.concat([sa, sd], ignore_index=True)
    write_plink(tmp / "mix", np.vstack([ga, gd]), a.variants, samples)
    pa = pd.read_csv(DATA / "heldout_a.pheno.tsv", sep="\t").iloc[:200]
    pd_ = pd.read_csv(DATA / "discovery.pheno.tsv", sep="\t").iloc[:5].assign(FID=list(sd["fid"]), IID=list(sd["iid"]))
    pd.concat([pa, pd_]).to_csv(tmp / "mix.pheno.tsv", sep="\t", index=False)
    ca = pd.read_csv(DATA / "heldout_a.covar.tsv", sep="\t").iloc[:200]
    cd = pd.read_csv(DATA / "discovery.covar.tsv", sep="\t").iloc[:5].assign(FID=list(sd["fid"]), IID=list(sd["iid"]))
    pd.concat([ca, cd]).to_csv(tmp / "mix.covar.tsv", sep="\t", index=False)
    return tmp / "mix", tmp / "mix.pheno.tsv", tmp / "mix.covar.tsv"


def test_overlap_with_discovery_is_refused_or_dropped(
    run_dir: Path, overlapping: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    bfile, pheno, covar = overlapping
    cohort = Cohort.from_files(bfile, pheno, "cooperate", covar)
    ov = OverlapConfig(n_variants=1000)
    with pytest.raises(GenoptError) as err:
        replicate(run_dir, cohort, "mix", out_dir=tmp_path, discovery=DATA / "discovery", overlap_config=ov)
    text = str(err.value)
    assert "5 held-out samples are discovery samples" in text
    for pair in ("D1 ~ D1 (same IID)", "D3 ~ D3 (same IID)", "D4 ~ X4 (kinship", "D5 ~ X5 (kinship"):
        assert pair in text
    assert "drop_overlap" in text and not (tmp_path / "replication").exists()
    res = replicate(
        run_dir, cohort, "mix", ReplicationConfig(drop_overlap=True), tmp_path, DATA / "discovery", overlap_config=ov
    )
    assert res.summary["n_samples"] == 200
    assert res.summary["overlap_with_discovery"]["n_dropped"] == 5
    assert res.summary["samples_dropped"]["overlaps discovery"] == 5
    # without the discovery fileset: IDs against pca_model.json only, the renamed duplicates pass (and it says so)
    with pytest.raises(GenoptError, match="3 held-out samples are discovery samples") as err:
        replicate(run_dir, cohort, "mix", out_dir=tmp_path / "x")
    assert "X4" not in str(err.value)
    # the run's manifest.json names the discovery fileset: used by default
    run2 = tmp_path / "run2"
    shutil.copytree(run_dir, run2)
    (run2 / "manifest.json").write_text(json.dumps({"inputs": {str(DATA / "discovery.bed"): "sha"}}))
    with pytest.raises(GenoptError, match="5 held-out samples are discovery samples"):
        replicate(run2, cohort, "mix", out_dir=tmp_path / "y", overlap_config=ov)


# ---------------------------------------------------------------------------- null calibration


def test_null_calibration_of_the_verdict(tmp_path: Path) -> None:
    """Outcomes without genetic signal (sex, age and ancestry effects kept) are called replicated in <= 5%.

    R = 80 outcomes are simulated on 500 held-out A people from a liability
    0.2 sex + 0.1 z(age) + sqrt(0.3) z(PC1) + noise, cut at the median, and
    replicated with a 6-variant model (sign test active: >= 5 variants). With a
    true rate of at most 0.05, the count exceeds the 0.999 binomial quantile
    with probability < 0.001. The same outcomes analysed without the PC
    covariates are called replicated far more often (the ancestry confounding
    the PCs remove), which shows the test can fail.
    """
    make_run.build_run(tmp_path, n_variants=6)
    run = load_run(tmp_path)
    cohort = heldout("heldout_a").subset(np.arange(2000) % 4 == 0, "calibration subsample")
    applied = apply_model(run.model, cohort, run.pca_model)
    rng = np.random.default_rng(20261204)
    reps, n = 80, applied.n
    cov = applied.covariates

    def z(x: np.ndarray) -> np.ndarray:
        return (x - x.mean()) / x.std()

    fixed = 0.1 * z(cov[:, 0]) + 0.1 * z(cov[:, 1]) + math.sqrt(0.3) * z(cov[:, 2])
    liability = fixed[None, :] + rng.normal(0.0, math.sqrt(0.68), (reps, n))
    ys = (liability > np.median(liability, axis=1, keepdims=True)).astype(np.int8)
    config = ReplicationConfig()
    calls = [analyse(dataclasses.replace(applied, y=y), run.model, run.discovery, config).verdict for y in ys]
    limit = int(sps.binom.ppf(0.999, reps, config.alpha))
    assert sum(c == "replicated" for c in calls) <= limit
    no_pcs = sum(rstats.score_effect(y, applied.score, cov[:, :2]).p_one_sided < config.alpha for y in ys)
    assert no_pcs > limit
