"""Association-scan benchmark: `genopt assoc` vs `plink2 --glm` on the same files and covariates.

Data (made by this script when absent, into benchmarks/work/, git-ignored):

- ``cohort_6000x100000``: 6,000 people x 100,000 variants (``make_bench_cohort.py --samples 6000
  --variants 100000 --seed 3``: real HapMap 3 genotype segments recombined and tiled, 1% missing);
- ``assoc6000.pheno.tsv`` / ``assoc6000.covar.tsv``: ``genopt simulate phenotype`` (50 causal variants,
  h2 0.3, ancestry effect 0.05, seed 5) with sex and age;
- ``assoc6000.covar12.tsv``: sex, age and 10 PCs (``genopt pca --pcs 10``) = 12 covariates.

Both tools get the same 12 covariates (genopt with ``--pcs 0``, so neither computes PCs) and are timed
as whole processes (start-up, reading, testing, writing) with peak RSS, several repetitions, medians
reported. genopt runs the full scan: score-test screening of every variant + exact Wald/Firth tests of
the top 1,000. plink2 runs its exact logistic (Firth fallback) test of every variant. Accuracy is
checked on the same run: correlation of genopt's -log10 p (score for screened, Wald for exact) with
plink2's Wald -log10 p over all variants, and the exact rows' OR against plink2's.

Writes the "Association scan" section of benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/bench_assoc.py --reps 3
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from bench_loader import run_measured, write_results

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / "work"
PREFIX = WORK / "cohort_6000x100000"
PHENO = WORK / "assoc6000.pheno.tsv"
COVAR12 = WORK / "assoc6000.covar12.tsv"
OUT = WORK / "assoc"
BEGIN, END = "<!-- BEGIN assoc (written by benchmarks/bench_assoc.py) -->", "<!-- END assoc -->"
GENOPT = str(Path(sys.executable).with_name("genopt"))


def _run(cmd: list[str]) -> None:
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def make_inputs() -> None:
    """Build the cohort, outcome and covariates if they are not there yet."""
    if not PREFIX.with_suffix(".bed").exists():
        _run(
            [
                sys.executable,
                str(HERE / "make_bench_cohort.py"),
                "--samples",
                "6000",
                "--variants",
                "100000",
                "--seed",
                "3",
            ]
        )
    if not PHENO.exists():
        _run(
            [
                GENOPT,
                "simulate",
                "phenotype",
                "--bfile",
                str(PREFIX),
                "--out",
                str(WORK / "assoc6000"),
                "--n-causal",
                "50",
                "--h2",
                "0.3",
                "--ancestry-effect",
                "0.05",
                "--seed",
                "5",
            ]
        )
    if not COVAR12.exists():
        _run([GENOPT, "pca", "--bfile", str(PREFIX), "--out", str(WORK / "pca6000"), "--pcs", "10"])
        covar = pd.read_csv(WORK / "assoc6000.covar.tsv", sep="\t")
        pcs = pd.read_csv(WORK / "pca6000" / "pca.eigenvec.tsv", sep="\t")
        merged = covar.merge(pcs, on=["FID", "IID"])
        assert len(merged) == len(covar)
        merged.to_csv(COVAR12, sep="\t", index=False)


def genopt_cmd(out: Path) -> list[str]:
    return [
        GENOPT,
        "-q",
        "assoc",
        "--bfile",
        str(PREFIX),
        "--pheno",
        str(PHENO),
        "--pheno-name",
        "cooperate",
        "--covar",
        str(COVAR12),
        "--pcs",
        "0",
        "--exact-top",
        "1000",
        "--no-plots",
        "--out",
        str(out),
    ]


def plink2_cmd(out: Path, threads: int) -> list[str]:
    return [
        "plink2",
        "--bfile",
        str(PREFIX),
        "--pheno",
        str(PHENO),
        "--pheno-name",
        "cooperate",
        "--1",
        "--covar",
        str(COVAR12),
        "--covar-variance-standardize",
        "--glm",
        "hide-covar",
        "omit-ref",
        "--threads",
        str(threads),
        "--out",
        str(out),
    ]


def measure(cmd: list[str], reps: int) -> tuple[list[float], list[float]]:
    walls, peaks = [], []
    for i in range(reps):
        wall, peak, rc = run_measured(cmd)
        if rc != 0:
            raise SystemExit(f"command failed ({rc}): {' '.join(cmd)}")
        walls.append(wall)
        peaks.append(peak)
        print(f"  run {i + 1}: {wall:.2f} s, peak RSS {peak:.0f} MB", flush=True)
    return walls, peaks


def accuracy(genopt_tsv: Path, plink_prefix: Path) -> dict[str, float]:
    ours = pd.read_csv(genopt_tsv, sep="\t")
    theirs = pd.read_csv(str(plink_prefix) + ".cooperate.glm.logistic.hybrid", sep="\t")
    theirs = theirs[theirs["TEST"] == "ADD"].set_index("ID")
    merged = ours.set_index("rsid").join(theirs[["A1", "OR", "P", "ERRCODE"]], how="inner")
    ok = merged["P"].notna() & merged["p_value"].notna() & (merged["ERRCODE"] == ".")
    assert (merged.loc[ok, "A1"] == merged.loc[ok, "effect_allele"]).all(), "effect alleles differ"
    a, b = -np.log10(merged.loc[ok, "p_value"]), -np.log10(merged.loc[ok, "P"])
    exact = ok & merged["test"].isin(["wald", "firth"])
    rel_or = (merged.loc[exact, "odds_ratio"] / merged.loc[exact, "OR"] - 1).abs()
    top_plink = set(theirs["P"].nsmallest(100).index)
    top_ours = set(ours.nsmallest(100, "p_value")["rsid"])
    return {
        "n_compared": int(ok.sum()),
        "pearson_log10p_all": float(np.corrcoef(a, b)[0, 1]),
        "spearman_log10p_all": float(pd.Series(a).rank().corr(pd.Series(b).rank())),
        "n_exact": int(exact.sum()),
        "max_rel_or_exact": float(rel_or.max()),
        "top100_overlap": len(top_plink & top_ours),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="plink2 --threads")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args(argv)
    if shutil.which("plink2") is None:
        raise SystemExit("plink2 not on PATH (apt-get install plink2)")
    WORK.mkdir(exist_ok=True)
    OUT.mkdir(exist_ok=True)
    make_inputs()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_before = Path("/proc/loadavg").read_text().split()[:3]

    print("genopt assoc:", flush=True)
    g_walls, g_peaks = measure(genopt_cmd(OUT / "genopt.tsv"), args.reps)
    print("plink2 --glm:", flush=True)
    p_walls, p_peaks = measure(plink2_cmd(OUT / "plink2", args.threads), args.reps)
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    acc = accuracy(OUT / "genopt.tsv", OUT / "plink2")

    g, p = statistics.median(g_walls), statistics.median(p_walls)
    print(f"genopt {g:.2f} s, plink2 {p:.2f} s: plink2 / genopt = {p / g:.1f}x")
    print(acc)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    runs_g = ", ".join(f"{w:.2f}" for w in g_walls)
    runs_p = ", ".join(f"{w:.2f}" for w in p_walls)
    peak_g, peak_p = statistics.median(g_peaks), statistics.median(p_peaks)
    reproduce = f".venv/bin/python benchmarks/bench_assoc.py --reps {args.reps}"
    section = f"""{BEGIN}
## Association scan

Run {started} at commit `{commit.stdout.strip()}`. Reproduce: `{reproduce}`
(it builds the inputs described in its docstring when they are missing).

**Data**: 6,000 people x 100,000 variants (recombined real HapMap 3 segments, 1% missing calls), simulated
cooperate/defect outcome (3,000 / 3,000), 12 covariates (sex, age, 10 PCs) given to both tools as the same file.
**Machine**: {cpu}, 2 cores, shared; load average {" ".join(load_before)} before, {" ".join(load_after)} after.

**Commands** (whole processes, timed with peak RSS; {args.reps} runs each, medians):

- genopt: `{" ".join(genopt_cmd(Path("OUT.tsv")))}`
- plink2: `{" ".join(plink2_cmd(Path("OUT"), args.threads))}`

| tool | what it computes | median s | all runs s | median peak RSS MB |
|---|---|---|---|---|
| genopt assoc | score test of all 100,000 + exact Wald/Firth of the top 1,000 | {g:.2f} | {runs_g} | {peak_g:.0f} |
| plink2 --glm | exact logistic (Firth fallback) of all 100,000 | {p:.2f} | {runs_p} | {peak_p:.0f} |

**Ratio**: plink2 / genopt = **{p / g:.1f}x** (target >= 10x).

**Accuracy on the same run** ({acc["n_compared"]} variants with a p from both): Pearson r of -log10 p,
genopt (score test, or Wald for the exact rows) vs plink2 (Wald) = {acc["pearson_log10p_all"]:.5f}
(Spearman {acc["spearman_log10p_all"]:.5f}; target r >= 0.99); the {acc["n_exact"]} exact rows' OR differ
from plink2's by at most {acc["max_rel_or_exact"]:.2g} relative (plink2 prints 6 significant digits);
{acc["top100_overlap"]} of plink2's top 100 variants are in genopt's top 100.
{END}
"""
    if not args.no_write:
        write_results(section, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
