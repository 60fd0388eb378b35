"""``genopt run`` killed at random points and resumed writes what an uninterrupted run writes (issue 7).

A reduced copy of the bundled cohorts (every third variant plus the causal
ones; 1,500 discovery and 500 + 500 held-out people) keeps one whole run near
20 seconds. The same run is killed (SIGKILL, no clean-up) during the
discovery scan, the search, the replication and the report, resumed with
``--resume`` after each kill, and finally compared file by file with an
uninterrupted run: equal apart from timings, timestamps and the run
directory's path. After every kill every output file present must parse
completely (write then rename: nothing half-written is ever in place).
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

from genopt.io.plink import open_plink, write_plink
from genopt.resume import step_file_name
from genopt.simulate import read_truth

DATA = REPO / "data"

#: Steps killed in turn. Each kill comes a random fraction (5-45 %) of the step's duration in the reference run
#: after the step's log line appears.
KILL_STEPS = [
    "association scan and clumping on discovery",
    "search on discovery, final model, hand-off files",
    "replication on the held-out cohorts",
    "report",
]


@pytest.fixture(scope="module")
def workflow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small workflow on reduced copies of the bundled cohorts; returns its TOML."""
    folder = tmp_path_factory.mktemp("resume")
    causal = set(read_truth(DATA / "truth.tsv")["rsid"])
    for name, n in (("discovery", 1500), ("heldout_a", 500), ("heldout_b", 500)):
        fileset = open_plink(DATA / name)
        ids = fileset.variants["id"]
        keep = (np.arange(len(ids)) % 3 == 0) | ids.isin(causal).to_numpy()
        write_plink(folder / name, fileset, variant_idx=np.flatnonzero(keep), sample_idx=np.arange(n))
    cohorts = []
    for table, name in (("discovery", "discovery"), ("[heldout]", "heldout_a"), ("[heldout]", "heldout_b")):
        cohorts.append(
            f'[{table}]\nname = "{name}"\nbfile = "{folder / name}"\npheno = "{DATA / name}.pheno.tsv"\n'
            f'pheno_name = "cooperate"\ncovar = "{DATA / name}.covar.tsv"\ncovar_names = ["sex", "age"]\n'
            "allow_ungenotyped = true\n"  # the phenotype files list the people left out of the reduced copy
        )
    config = folder / "small.toml"
    config.write_text(
        f'out = "run"\nseed = 7\ntruth = "{DATA / "truth.tsv"}"\n\n'
        + "\n".join(cohorts)
        + '\n[qc]\nhwe = "off"\n\n[pca]\nn_pcs = 4\n\n[pool]\nmax_size = 60\n\n'
        '[search]\nbudget = 120\npopulation = 16\nfolds = 3\nfamilies = ["ridge", "logistic_l2"]\n'
        "checkpoint_every = 1\n",
        encoding="utf-8",
    )
    return config


def _command(config: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "genopt.cli", "run", str(config), "--out", str(out), *extra]


def _genopt(config: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    """``genopt run`` in the background, its step log lines on a pipe."""
    return subprocess.Popen(
        _command(config, out, *extra), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=REPO
    )


def _run(config: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``genopt -q run`` to the end (errors still on stderr)."""
    cmd = _command(config, out, *extra)
    return subprocess.run([*cmd[:3], "-q", *cmd[3:]], capture_output=True, text=True, cwd=REPO, timeout=600)


def _run_and_kill(config: Path, out: Path, step: str, delay: float, resume: bool) -> bool:
    """Run (or resume) until ``step`` starts, SIGKILL ``delay`` seconds later; False if it finished first."""
    proc = _genopt(config, out, *(["--resume"] if resume else []))
    assert proc.stderr is not None
    lines = []
    for line in proc.stderr:
        lines.append(line.rstrip("\n"))
        if line.startswith(f"- {step}"):
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=600)
    assert proc.returncode in (0, -signal.SIGKILL), "\n".join(lines)
    return proc.returncode == -signal.SIGKILL


def _finished(out: Path, step: str) -> bool:
    return (out / "checkpoints" / "pipeline" / step_file_name(step)).is_file()


def _check_complete(path: Path) -> None:
    """Fail if a file in place is truncated or half-written (it must parse whole)."""
    data = path.read_bytes()
    if path.suffix == ".json":
        json.loads(data)
    elif path.suffix in (".tsv", ".txt"):
        assert data.endswith(b"\n"), path
        if path.suffix == ".tsv":
            table = pd.read_csv(path, sep="\t")
            assert len(table.columns) >= 1, path
    elif path.suffix == ".png":
        assert data.startswith(b"\x89PNG") and data.endswith(b"IEND\xaeB`\x82"), path
    elif path.suffix == ".html":
        assert data.rstrip().endswith(b"</html>"), path
    elif path.suffix == ".pkl":
        pickle.loads(data)
    elif path.suffix in (".bed", ".toml", ".yaml", ".md"):
        assert data, path


def _outputs(out: Path) -> dict[str, Path]:
    """Output files by path relative to the run directory (checkpoints and temporaries left out)."""
    return {
        str(p.relative_to(out)): p
        for p in out.rglob("*")
        if p.is_file() and p.relative_to(out).parts[0] != "checkpoints" and not p.name.endswith(".tmp")
    }


def _drop_times(doc: object) -> object:
    if isinstance(doc, dict):
        drop = {"timings_seconds", "started", "finished", "resumed_steps", "how", "scheduler"}
        return {k: _drop_times(v) for k, v in doc.items() if k not in drop}
    if isinstance(doc, list):
        return [_drop_times(v) for v in doc]
    return doc


def _normalised(path: Path, run_dir: Path) -> object:
    """The file's content without timings, timestamps, the scheduler used and the run directory's own path."""
    text = path.read_bytes()
    if path.suffix in (".png", ".bed", ".pkl"):
        return text
    content = text.decode("utf-8").replace(str(run_dir), "RUN")
    if path.suffix == ".json":
        return _drop_times(json.loads(content))
    if path.name == "history.tsv":
        return pd.read_csv(path, sep="\t").drop(columns="seconds").to_csv(sep="\t")
    if path.name == "summary.md":
        return content.split("## Timings")[0]
    if path.suffix == ".toml":  # where the work ran is not a result
        return [line for line in content.splitlines() if not line.startswith("scheduler")]
    return content


@pytest.fixture(scope="module")
def reference(workflow: Path) -> Path:
    """The workflow run once, uninterrupted, on this machine without dask."""
    out = workflow.parent / "uninterrupted"
    done = _run(workflow, out)
    assert done.returncode == 0, done.stderr
    return out


def _differing_files(reference: Path, other: Path) -> list[str]:
    ref_files, got_files = _outputs(reference), _outputs(other)
    assert sorted(ref_files) == sorted(got_files)
    return [
        name for name in ref_files
        if _normalised(ref_files[name], reference) != _normalised(got_files[name], other)
    ]  # fmt: skip


def test_killed_run_resumes_to_the_uninterrupted_outputs(workflow: Path, reference: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(int(os.environ.get("GENOPT_KILL_SEED", "2026")))
    took = json.loads((reference / "summary.json").read_text())["timings_seconds"]
    killed = tmp_path / "killed"
    kills = []
    for i, step in enumerate(KILL_STEPS):
        delay = float(rng.uniform(0.05, 0.45)) * took[step]
        was_killed = _run_and_kill(workflow, killed, step, delay, resume=i > 0)
        kills.append((step, round(delay, 2), was_killed and not _finished(killed, step)))
        for path in killed.rglob("*"):
            if path.is_file() and not path.name.endswith(".tmp"):
                _check_complete(path)
    # A kill can come after its step finished when this run is much faster than the reference; it then
    # interrupts a later step. At most one may.
    assert sum(inside for _, _, inside in kills) >= len(KILL_STEPS) - 1, kills
    final = _run(workflow, killed, "--resume")
    assert final.returncode == 0, final.stderr
    assert not list(killed.rglob("*.tmp")), "temporaries of the killed writers are left"

    manifest = json.loads((killed / "manifest.json").read_text())
    reused = manifest["resumed_steps"]
    assert "QC" in reused and "search on discovery, final model, hand-off files" in reused, kills
    differ = _differing_files(reference, killed)
    assert not differ, f"files differ from the uninterrupted run: {differ} (kills: {kills})"


def test_run_on_an_external_dask_cluster_writes_the_local_outputs(
    workflow: Path, reference: Path, tmp_path: Path
) -> None:
    """The README's recipe: ``dask scheduler`` + ``dask worker`` processes, then ``genopt run --scheduler``."""
    pytest.importorskip("distributed")
    dask = Path(sys.executable).parent / "dask"
    if not dask.exists():
        pytest.skip("the dask command is not installed beside this Python")
    info = tmp_path / "scheduler.json"
    scheduler = subprocess.Popen(
        [str(dask), "scheduler", "--port", "0", "--no-dashboard", "--scheduler-file", str(info)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    workers = None
    try:
        deadline = time.monotonic() + 60
        while not info.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(info.read_text())["address"]
        workers = subprocess.Popen(
            [str(dask), "worker", address, "--nworkers", "2", "--nthreads", "1", "--no-dashboard"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        out = tmp_path / "on_dask"
        done = _run(workflow, out, "--scheduler", address)
        assert done.returncode == 0, done.stderr
    finally:
        for proc in (workers, scheduler):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=60)
    used = [line for line in (out / "config.toml").read_text().splitlines() if line.startswith("scheduler")]
    assert used == [f'scheduler = "{address}"'] * 3, used  # [assoc], [pool.assoc] and [search]
    differ = _differing_files(reference, out)
    assert not differ, f"files differ from the local run: {differ}"


def test_resume_refuses_a_run_directory_of_other_settings(workflow: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert _run_and_kill(workflow, out, "PCA on discovery", 0.0, resume=False)
    other = tmp_path / "other.toml"
    other.write_text(workflow.read_text().replace("seed = 7", "seed = 8"))
    done = _run(other, out, "--resume")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("genopt: error:") and "other inputs or settings" in lines[-1], done.stderr
    assert "fingerprint.json" in lines[-1] and "Traceback" not in done.stderr
