"""`genopt search` as a whole: QC before anything else, config and flags, user errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

from genopt.cohort import Cohort
from genopt.config import (
    AssocConfig,
    ClumpConfig,
    CohortSpec,
    PCAConfig,
    PoolConfig,
    QCConfig,
    RunConfig,
    SearchConfig,
)
from genopt.io.plink import allele_frequencies, open_plink
from genopt.pipeline import search_discovery

DATA = REPO / "data"
SPEC = CohortSpec(
    name="discovery",
    bfile=str(DATA / "discovery"),
    pheno=str(DATA / "discovery.pheno.tsv"),
    covar=str(DATA / "discovery.covar.tsv"),
)
SMALL = RunConfig(
    seed=5,
    qc=QCConfig(maf=0.3, hwe=None),  # a strict MAF filter, so the QC visibly restricts the pool
    pca=PCAConfig(n_pcs=2),
    pool=PoolConfig(max_size=40, assoc=AssocConfig(n_pcs=0, exact_top=10), clump=ClumpConfig(p1=0.05, p2=0.1)),
    search=SearchConfig(budget=40, population=10, parents_mating=4, families=("ridge",), max_variants=10, folds=3),
)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("search_pipeline")
    summary, study = search_discovery(SPEC, SMALL, out)
    return out, summary, study


def test_qc_runs_first_and_failing_variants_never_reach_the_pool(run) -> None:
    out, summary, study = run
    qc = pd.read_csv(out / "qc" / "discovery" / "variants_qc.tsv", sep="\t")
    assert summary["qc"]["variants_pass"] < summary["qc"]["variants"]  # the filter bit
    fs = open_plink(DATA / "discovery")
    freq, _ = allele_frequencies(fs, founders_only=True)  # as QC counts (no sample fails --mind here)
    maf = np.minimum(freq, 1 - freq)
    pool_idx = study.outcome.pool.variant_idx
    assert (maf[pool_idx] >= 0.3 - 1e-9).all()
    assert qc.shape[0] == fs.n_variants
    chosen = set(study.model.variant_id)
    assert chosen <= set(fs.variants["id"].to_numpy()[maf >= 0.3 - 1e-9])


def test_resamples_outer_cv_and_importance_are_written(tmp_path: Path) -> None:
    from dataclasses import replace

    config = replace(SMALL, search=replace(SMALL.search, resamples=2, resample_budget=20, outer_folds=2))
    _, study = search_discovery(SPEC, config, tmp_path)
    variants = pd.read_csv(tmp_path / "variants.tsv", sep="\t")
    freq = pd.read_csv(tmp_path / "selection_frequency.tsv", sep="\t").set_index("id")["selection_frequency"]
    resamples = pd.read_csv(tmp_path / "resamples.tsv", sep="\t")
    assert len(resamples) == 2
    # selection_frequency in variants.tsv: the resamples' count / 2 (0 for a variant no resample chose)
    chosen = [set(str(v).split(";")) for v in resamples["chosen_ids"].fillna("")]
    expected = [sum(rsid in c for c in chosen) / 2 for rsid in variants["rsid"]]
    np.testing.assert_allclose(variants["selection_frequency"].to_numpy(), expected)
    for rsid, value in zip(variants["rsid"], variants["selection_frequency"], strict=True):
        assert freq.get(rsid, 0.0) == value
    outer = pd.read_csv(tmp_path / "outer_cv.tsv", sep="\t")
    n_discovery = study.outcome.search_idx.size + study.outcome.validation_idx.size
    assert len(outer) == 2 and outer["n_test"].sum() == n_discovery
    summary = json.loads((tmp_path / "search_summary.json").read_text())
    assert summary["outer_cv"]["optimism"]["value"] == pytest.approx(
        summary["outer_cv"]["mean_inner_cv_auc"]["value"] - summary["outer_cv"]["mean_outer_auc"]["value"]
    )
    importance = pd.read_csv(tmp_path / "hyperparameter_importance.tsv", sep="\t")
    assert {"parameter", "importance", "how"} <= set(importance.columns)


def test_run_directory_records_config_and_inputs(run) -> None:
    out, _, _ = run
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 5
    assert manifest["config"]["qc"]["maf"] == 0.3
    assert str(DATA / "discovery.bed") in manifest["inputs"]
    assert "search" in manifest["timings_seconds"]
    assert "[search]" in (out / "config.toml").read_text()


def _genopt(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "genopt.cli", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--budget", "0"], "budget = 0 is out of range"),
        (["--engine", "annealing"], "engine = 'annealing' is out of range"),
        (["--jobs", "0"], "jobs = 0 is out of range"),
    ],
)
def test_bad_search_settings_are_user_errors(tmp_path: Path, flags: list[str], expected: str) -> None:
    out = tmp_path / "run"
    proc = _genopt("search", "--bfile", str(DATA / "discovery"), "--out", str(out), *flags)
    assert proc.returncode == 1, proc.stderr
    assert expected in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists() or not any(out.iterdir())


def test_bad_config_key_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[search]\nbudgett = 10\n")
    out = tmp_path / "run"
    proc = _genopt("search", "--bfile", str(DATA / "discovery"), "--out", str(out), "--config", str(config))
    assert proc.returncode == 1
    assert str(config) in proc.stderr and "budgett" in proc.stderr


KILL_CONFIG = """seed = 11
[qc]
maf = 0.3
hwe = "off"
[pca]
n_pcs = 2
[pool]
max_size = 60
[pool.assoc]
n_pcs = 0
exact_top = 10
[search]
budget = 400
population = 20
parents_mating = 8
families = ["logistic_l2", "ridge"]
max_variants = 15
folds = 3
"""


def _search_cmd(config: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "genopt.cli", "-q", "search", "--bfile", str(DATA / "discovery"),
            "--pheno", str(DATA / "discovery.pheno.tsv"), "--covar", str(DATA / "discovery.covar.tsv"),
            "--config", str(config), "--out", str(out), *extra]  # fmt: skip


def _generation(checkpoint: Path) -> int:
    try:
        return int(json.loads(checkpoint.read_text())["generation"])
    except (OSError, ValueError, KeyError):  # not written yet (it is replaced atomically, never half-written)
        return -1


def test_search_killed_mid_run_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    import signal
    import time

    config = tmp_path / "search.toml"
    config.write_text(KILL_CONFIG)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_search_cmd(config, killed), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    checkpoint = killed / "checkpoints" / "search.json"
    deadline = time.monotonic() + 240
    while _generation(checkpoint) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the search ended before it could be killed; make it longer"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    state = json.loads(checkpoint.read_text())
    assert not state["complete"] and 0 < len(state["evaluations"]) < 400
    assert not (killed / "model.json").exists()  # the hand-off files come only at the end

    resumed = subprocess.run(_search_cmd(config, killed, "--resume"), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    straight = tmp_path / "straight"
    whole = subprocess.run(_search_cmd(config, straight), capture_output=True, text=True, timeout=600)
    assert whole.returncode == 0, whole.stderr
    for name in ("variants.tsv", "score.tsv", "pareto.tsv", "model.json", "extract.txt", "pool.tsv"):
        assert (killed / name).read_bytes() == (straight / name).read_bytes(), name
    history = [pd.read_csv(d / "history.tsv", sep="\t").drop(columns="seconds") for d in (killed, straight)]
    pd.testing.assert_frame_equal(*history)
    assert json.loads(checkpoint.read_text())["complete"]


def test_resume_refuses_a_checkpoint_of_other_settings(tmp_path: Path) -> None:
    config = tmp_path / "search.toml"
    config.write_text(KILL_CONFIG.replace("budget = 400", "budget = 40"))
    out = tmp_path / "run"
    assert subprocess.run(_search_cmd(config, out), capture_output=True, timeout=600).returncode == 0
    config.write_text(config.read_text().replace("max_variants = 15", "max_variants = 9"))
    proc = subprocess.run(_search_cmd(config, out, "--resume"), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1
    # The run directory's record of finished steps refuses first (the search checkpoint would refuse too).
    assert "checkpoints/pipeline/fingerprint.json" in proc.stderr and "other inputs or settings" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_same_seed_same_files_for_one_or_two_workers(tmp_path: Path) -> None:
    from dataclasses import replace

    config = replace(SMALL, search=replace(SMALL.search, families=("ridge", "logistic_l1"), budget=60))
    search_discovery(SPEC, config, tmp_path / "one")
    search_discovery(SPEC, replace(config, search=replace(config.search, jobs=2)), tmp_path / "two")
    for name in ("variants.tsv", "score.tsv", "pareto.tsv", "model.json", "pool.tsv"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name


def test_variants_tsv_effects_are_discovery_logistic_regressions(run) -> None:
    import statsmodels.api as sm

    out, _, study = run
    variants = pd.read_csv(out / "variants.tsv", sep="\t")
    assert variants[["beta", "standard_error", "p_value"]].notna().all().all()
    model, cohort = study.model, study.outcome
    disc = Cohort.from_files(SPEC.bfile, pheno=SPEC.pheno, covar=SPEC.covar)
    pcs = cohort.discovery_pcs()
    row = variants.iloc[0]
    j = list(model.variant_id).index(row["rsid"])
    g = disc.genotypes(variants=[int(model.bim_index[j])]).astype(float)[:, 0]
    ok = ~np.isnan(g)
    x = sm.add_constant(np.column_stack([disc.covariates.to_numpy(float), pcs, g])[ok])
    fit = sm.Logit(disc.y[ok], x).fit(disp=0)
    assert row["beta"] == pytest.approx(fit.params[-1], rel=1e-4)
    assert row["standard_error"] == pytest.approx(fit.bse[-1], rel=1e-4)
