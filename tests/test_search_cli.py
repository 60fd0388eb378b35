"""`genopt search` end to end on the bundled discovery cohort (small budget): files and the PLINK round trip."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from conftest import require_executable

from genopt.export import read_model_json
from genopt.io.plink import open_plink

DATA = Path(__file__).resolve().parent.parent / "data"


def test_search_writes_handoff_files_that_plink_scores(tmp_path: Path) -> None:
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "genopt.cli", "-q", "search", "--bfile", str(DATA / "discovery"),
           "--pheno", str(DATA / "discovery.pheno.tsv"), "--covar", str(DATA / "discovery.covar.tsv"),
           "--out", str(out), "--budget", "150", "--population", "20", "--seed", "3"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "validation AUC" in proc.stdout and "pool rebuilt inside each fold's training rows" in proc.stdout
    for name in ("model.json", "extract.txt", "variants.tsv", "variants.yaml", "history.tsv", "pareto.tsv",
                 "pool.tsv", "search_summary.json"):  # fmt: skip
        assert (out / name).stat().st_size > 0, name
    model = read_model_json(out / "model.json")
    summary = json.loads((out / "search_summary.json").read_text())
    assert summary  # every number with its "how"
    variants = pd.read_csv(out / "variants.tsv", sep="\t")
    assert list(variants["rsid"]) == list(model.variant_id)
    assert (out / "extract.txt").read_text().split() == list(model.variant_id)
    if not model.is_linear:
        return
    # plink2 scores a held-out cohort with score.tsv as sum(weight x A1 count): heldout_b carries the same
    # IDs and A1/A2 strings as discovery (data/README.md), so the plain sum over its genotypes is the reference.
    # genopt's own genetic_score may differ where harmonisation drops palindromic SNPs it cannot orient (their
    # mean is used instead; DESIGN.md's rule), which PLINK never does.
    plink2 = require_executable("plink2")
    prefix = tmp_path / "plink_score"
    cmd = [plink2, "--bfile", str(DATA / "heldout_b"), "--score", str(out / "score.tsv"), "1", "2", "3",
           "header-read", "cols=+scoresums", "--out", str(prefix)]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True)
    theirs = pd.read_csv(str(prefix) + ".sscore", sep="\t")["WEIGHT_SUM"].to_numpy()
    fs = open_plink(DATA / "heldout_b")
    cols = pd.Index(fs.variants["id"]).get_indexer(list(model.variant_id))
    assert (cols >= 0).all() and (fs.variants["a1"].to_numpy()[cols] == np.asarray(model.a1)).all()
    g = fs.read(variants=cols).astype(np.float64)
    g = np.where(np.isnan(g), np.nanmean(g, axis=0), g)  # PLINK imputes the target cohort's mean
    manual = g @ np.asarray(model.weights)
    assert np.allclose(theirs, manual, rtol=1e-5, atol=1e-5 * np.abs(manual).max())
    ours = model.genetic_score(fs)
    if ours.harmonisation.get("palindromic, MAF too high to tell strand", 0) == 0 and ours.n_missing_calls == 0:
        assert np.allclose(ours.score, manual, rtol=1e-9, atol=1e-12)
    assert np.corrcoef(ours.score, manual)[0, 1] > 0.95


def test_replicate_and_export_commands(tmp_path: Path) -> None:
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "genopt.cli", "-q", "search", "--bfile", str(DATA / "discovery"),
           "--pheno", str(DATA / "discovery.pheno.tsv"), "--covar", str(DATA / "discovery.covar.tsv"),
           "--out", str(out), "--budget", "60", "--population", "12", "--seed", "4"]  # fmt: skip
    cfg = tmp_path / "linear.toml"
    cfg.write_text('[search]\nfamilies = ["ridge", "logistic_l1"]\n[pca]\nn_pcs = 3\n')
    assert subprocess.run([*cmd, "--config", str(cfg)], capture_output=True, timeout=600).returncode == 0

    base = [sys.executable, "-m", "genopt.cli", "replicate", "--run", str(out)]
    cohorts = []
    for name in ("heldout_a", "heldout_b"):
        cohorts += ["--bfile", str(DATA / name), "--name", name.upper(), "--pheno", str(DATA / f"{name}.pheno.tsv"),
                    "--covar", str(DATA / f"{name}.covar.tsv")]  # fmt: skip
    proc = subprocess.run([*base, *cohorts], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    for name in ("HELDOUT_A", "HELDOUT_B"):
        summary = json.loads((out / "replication" / name / "summary.json").read_text())
        assert summary["cohort"] == name and f"{name}: {summary['verdict']}" in proc.stdout
    assert (out / "replication" / "meta.tsv").exists()

    # one name for two cohorts is a user error, and nothing is written for it
    bad = subprocess.run([*base, "--bfile", str(DATA / "heldout_a"), "--bfile", str(DATA / "heldout_b"),
                          "--name", "X"], capture_output=True, text=True, timeout=600)  # fmt: skip
    assert bad.returncode == 1 and "--name given 1 times for 2" in bad.stderr
    assert not (out / "replication" / "X").exists()

    export = subprocess.run([sys.executable, "-m", "genopt.cli", "export", "--run", str(out), "--format", "pgs",
                             "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert export.returncode == 0, export.stderr
    text = (tmp_path / "score.pgs.txt").read_text().splitlines()
    assert text[0].startswith("###PGS CATALOG SCORING FILE") and "#format_version=2.0" in text
    model = read_model_json(out / "model.json")
    assert f"#variants_number={model.n_variants}" in text
    table = pd.read_csv(tmp_path / "score.pgs.txt", sep="\t", comment="#")
    score = pd.read_csv(out / "score.tsv", sep="\t")
    assert list(table["rsID"]) == list(score["ID"]) and list(table["effect_allele"]) == list(score["A1"])
    np.testing.assert_array_equal(table["effect_weight"].to_numpy(), score["WEIGHT"].to_numpy())
    np.testing.assert_allclose(table["allelefrequency_effect"].to_numpy(), model.a1_freq)
