"""The foundation run on the bundled data: every step's output exists and says what it should."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from genopt.errors import GenoptError
from genopt.pipeline import run_foundation

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo workflow as it is, but with a small search budget (the full one is `make demo`)."""
    tmp = tmp_path_factory.mktemp("demo")
    text = (REPO / "workflows" / "demo.toml").read_text()
    assert "budget = 2000" in text
    config = tmp / "demo.toml"
    config.write_text(text.replace('"../data/', f'"{REPO}/data/').replace("budget = 2000", "budget = 150"))
    out = tmp / "run"
    report = run_foundation(config, out=out)
    assert report == out / "summary.md"
    return out


def test_workflow_search_writes_the_handoff_files(demo_run: Path) -> None:
    summary = json.loads((demo_run / "summary.json").read_text())
    search = summary["search"]
    assert search["n_evaluations"] == 150
    for name in ("model.json", "score.tsv", "variants.tsv", "pareto.tsv", "history.tsv", "pca_model.json"):
        assert (demo_run / name).stat().st_size > 0, name
    variants = pd.read_csv(demo_run / "variants.tsv", sep="\t")
    assert len(variants) == search["chosen_n_variants"] > 0
    # the search used only discovery's QC-passed variants
    qc = pd.read_csv(demo_run / "qc" / "discovery" / "variants_qc.tsv", sep="\t")
    assert set(variants["rsid"]) <= set(qc.loc[qc["PASS"].astype(bool), "ID"])
    assert "Search on discovery" in (demo_run / "summary.md").read_text()


def test_workflow_replicates_on_every_heldout_cohort(demo_run: Path) -> None:
    summary = json.loads((demo_run / "summary.json").read_text())
    assert list(summary["replication"]) == ["heldout_a", "heldout_b"]
    text = (demo_run / "summary.md").read_text()
    for name, r in summary["replication"].items():
        written = json.loads((demo_run / "replication" / name / "summary.json").read_text())
        assert written["verdict"] == r["verdict"] in ("replicated", "not replicated")
        assert written["n_samples"] == summary["cohorts"][name]["outcome"]["n_samples"]
        assert f"**{name}: {r['verdict']}**" in text
    assert (demo_run / "replication" / "meta.tsv").stat().st_size > 0


def test_summary_counts_match_the_inputs(demo_run: Path) -> None:
    summary = json.loads((demo_run / "summary.json").read_text())
    assert list(summary["cohorts"]) == ["discovery", "heldout_a", "heldout_b"]
    for name, cohort in summary["cohorts"].items():
        pheno = pd.read_csv(REPO / "data" / f"{name}.pheno.tsv", sep="\t")
        assert cohort["outcome"]["n_samples"] == len(pheno)
        assert cohort["outcome"]["n_cooperate"] == int(pheno["cooperate"].sum())
        # The demo switches HWE off: only MAF/missingness can remove variants.
        assert cohort["qc"]["removed_variants_hwe"] == 0
        assert 0.8 < cohort["oracle"]["auc_true_genetic_score"] < 0.95
    # Disjoint donor pools: no person of a held-out cohort is in discovery.
    for name in ("heldout_a", "heldout_b"):
        overlap = summary["cohorts"][name]["overlap_with_discovery"]
        assert overlap["duplicate"] == 0 and overlap["shared IID"] == 0
        assert summary["cohorts"][name]["harmonisation"]["as-is"] > 10_000


def test_pca_fitted_on_discovery_and_projected(demo_run: Path) -> None:
    disc = pd.read_csv(demo_run / "pca" / "discovery.eigenvec.tsv", sep="\t")
    held = pd.read_csv(demo_run / "pca" / "heldout_b.eigenvec.tsv", sep="\t")
    assert len(disc) == 4000 and len(held) == 2000
    assert {"PC1", "PC10"} <= set(disc.columns)
    model = json.loads((demo_run / "pca" / "model.json").read_text())
    # The model's samples are discovery people only.
    assert "D1" in json.dumps(model) and '"B1"' not in json.dumps(model)


def test_manifest_hashes_inputs(demo_run: Path) -> None:
    manifest = json.loads((demo_run / "manifest.json").read_text())
    bed = str((REPO / "data" / "discovery.bed").resolve())
    assert manifest["inputs"][bed] == hashlib.sha256(Path(bed).read_bytes()).hexdigest()
    assert manifest["seed"] == 2026
    assert set(manifest["timings_seconds"]) >= {"QC", "harmonise and overlap"}
    summary_md = (demo_run / "summary.md").read_text()
    assert "cooperate" in summary_md and "AUC" in summary_md


def _cohort_toml(table: str, name: str, bfile: Path, data_name: str) -> str:
    data = REPO / "data"
    return (
        f'[{table}]\nname = "{name}"\nbfile = "{bfile}"\npheno = "{data / data_name}.pheno.tsv"\n'
        f'covar = "{data / data_name}.covar.tsv"\n'
    )


def test_overlapping_heldout_is_reported(tmp_path: Path) -> None:
    """A held-out cohort that is a copy of discovery people is flagged as duplicates."""
    for ext in (".bed", ".bim", ".fam"):
        shutil.copy(REPO / "data" / f"discovery{ext}", tmp_path / f"copy{ext}")
    path = tmp_path / "overlap.toml"
    path.write_text(
        'seed = 1\n[qc]\nhwe = "off"\n'
        + _cohort_toml("discovery", "discovery", REPO / "data" / "discovery", "discovery")
        + _cohort_toml("[heldout]", "copy", tmp_path / "copy", "discovery")
    )
    run_foundation(path, out=tmp_path / "run")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    overlap = summary["cohorts"]["copy"]["overlap_with_discovery"]
    assert overlap["shared IID"] == 4000
    assert overlap["duplicate"] == 4000
    text = (tmp_path / "run" / "summary.md").read_text()
    assert "4000 duplicate" in text and "would not be independent" in text


def test_duplicate_cohort_names_are_refused(tmp_path: Path) -> None:
    config = (REPO / "workflows" / "demo.toml").read_text().replace('name = "heldout_b"', 'name = "heldout_a"')
    path = tmp_path / "dup.toml"
    path.write_text(config.replace("../data/", str(REPO / "data") + "/"))
    with pytest.raises(GenoptError, match="cohort names must be unique"):
        run_foundation(path, out=tmp_path / "run")


def test_discovery_scan_finds_causal_variants_without_false_positives(demo_run: Path) -> None:
    summary = json.loads((demo_run / "summary.json").read_text())
    a = summary["assoc"]
    # With sex, age and 10 PCs the ancestry confounding is removed (README of data/: lambda 3.96 without PCs).
    assert 0.95 < a["lambda_gc"] < 1.06
    assert a["truth"]["n_causal_genome_wide"] >= 8
    assert a["truth"]["n_null_genome_wide"] <= 2
    table = pd.read_csv(demo_run / "assoc" / "discovery.tsv", sep="\t")
    assert len(table) == a["n_variants"] and (table["test"] == "wald").sum() >= 1000
    for name in ("discovery.manhattan.png", "discovery.qq.png"):
        assert (demo_run / "assoc" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    clumps = pd.read_csv(demo_run / "assoc" / "discovery.clumps.tsv", sep="\t")
    assert len(clumps) == a["n_clumps"] and (clumps["p_value"] < 1e-4).all()


def test_workflow_report_is_self_contained_and_says_the_key_numbers(demo_run: Path, tmp_path: Path) -> None:
    import re

    from genopt.cli import main

    page = (demo_run / "report.html").read_text()
    summary = json.loads((demo_run / "summary.json").read_text())
    assert page.count('src="data:image/png;base64,') >= 6  # figures embedded, no external files
    assert not re.search(r'src="(?!data:)', page)
    assert f"{summary['search']['chosen_n_variants']} variants" in page
    assert f"Validation AUC  <b>{summary['search']['validation_auc']:.3f}</b>".replace("  ", " ") in page
    for name, r in summary["replication"].items():
        assert f"<b>{name}</b>: <span class='verdict'>{r['verdict']}</span>" in page
    assert "How every number was computed" in page
    copy = tmp_path / "run"
    shutil.copytree(demo_run, copy)
    (copy / "report.html").unlink()
    assert main(["-q", "report", "--run", str(copy)]) == 0
    assert (copy / "report.html").read_text().count("data:image/png") == page.count("data:image/png")
    assert main(["-q", "report", "--run", str(tmp_path)]) == 1  # not a run directory: a user error


def test_genopt_track_logs_a_workflow_run_to_mlflow(demo_run: Path, tmp_path: Path, capsys) -> None:
    from mlflow.tracking import MlflowClient

    from genopt.cli import main

    copy = tmp_path / "run"
    shutil.copytree(demo_run, copy)
    store = (tmp_path / "store").as_uri()
    assert main(["track", "--run", str(copy), "--tracking-uri", store, "--experiment", "demo"]) == 0
    run_id = capsys.readouterr().out.split()[-1]
    run = MlflowClient(tracking_uri=store).get_run(run_id)
    summary = json.loads((copy / "summary.json").read_text())
    # step names with commas are logged under names MLflow accepts
    assert "timing.PCA on discovery_ projection of held-out cohorts" in run.data.metrics
    for name, r in summary["replication"].items():
        assert run.data.tags[f"verdict.{name}"] == r["verdict"]
