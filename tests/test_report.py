"""The run report: replication's scores.tsv, the HTML's numbers and images, and rendering in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from test_search_pipeline import SMALL, SPEC

from genopt.cohort import Cohort
from genopt.config import ReplicationConfig
from genopt.pipeline import search_discovery
from genopt.replicate import replicate_many
from genopt.report import build_report

DATA = Path(SPEC.bfile).parent


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    search_discovery(SPEC, SMALL, out)
    heldout = Cohort.from_files(
        DATA / "heldout_a", DATA / "heldout_a.pheno.tsv", "cooperate", DATA / "heldout_a.covar.tsv"
    )
    replicate_many(out, {"heldout_a": heldout}, ReplicationConfig(permutations=0), seed=1)
    build_report(out)
    return out


def _key_numbers(run: Path) -> list[str]:
    """Validation AUC, the verdict, the number of listed variants and the held-out AUC as the report prints them."""
    search = json.loads((run / "search_summary.json").read_text())
    rep = json.loads((run / "replication" / "heldout_a" / "summary.json").read_text())
    n_variants = len(pd.read_csv(run / "variants.tsv", sep="\t"))
    return [
        f"{search['validation_auc']['value']:.3f}",
        rep["verdict"],
        f"{n_variants} variants",
        f"AUC {rep['auc']:.3f}",
    ]


def test_scores_tsv_gives_the_summary_auc(run: Path) -> None:
    scores = pd.read_csv(run / "replication" / "heldout_a" / "scores.tsv", sep="\t")
    summary = json.loads((run / "replication" / "heldout_a" / "summary.json").read_text())
    assert list(scores.columns) == ["FID", "IID", "outcome", "score"]
    assert len(scores) == summary["n_samples"]
    assert int(scores["outcome"].sum()) == summary["n_cases"]
    assert scores["IID"].is_unique
    assert roc_auc_score(scores["outcome"], scores["score"]) == pytest.approx(summary["auc"], abs=1e-12)


def test_html_shows_key_numbers_and_embeds_every_image(run: Path) -> None:
    text = (run / "report.html").read_text()
    for number in _key_numbers(run):
        assert number in text, number
    sources = re.findall(r"<img[^>]*\ssrc=\"([^\"]*)\"", text)
    assert len(re.findall(r"<img\b", text)) == len(sources) >= 4  # convergence, Pareto, effects, ROC, ...
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert "ROC curve in heldout_a" in text and "Score distributions in heldout_a" in text


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path is not None:
            return path
    # .ci/run installs chromium (and stops if it cannot), so this skip happens only on a developer's machine
    pytest.skip("chromium not on PATH: install Debian's chromium package (make chromium)")


def test_report_renders_in_headless_chromium(run: Path, tmp_path: Path) -> None:
    browser = _chromium()
    url = (run / "report.html").resolve().as_uri()
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}"]
    shot = tmp_path / "report.png"
    subprocess.run(
        [*flags, f"--screenshot={shot}", "--window-size=1200,3000", url], check=True, capture_output=True, timeout=120
    )
    assert shot.stat().st_size > 20_000
    pixels = mpimg.imread(shot)
    assert pixels.shape[:2] == (3000, 1200)
    assert np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0).shape[0] > 10  # not a blank page
    dom = subprocess.run([*flags, "--dump-dom", url], check=True, capture_output=True, text=True, timeout=120).stdout
    for number in _key_numbers(run):
        assert number in dom, number
    assert dom.count("data:image/png;base64,") >= 4
