"""Null calibration of the replication verdict at full size (the default test runs a small version).

A frozen model (tests/fixtures/replicate/make_run.py: ridge on the 28 non-palindromic causal variants
of the bundled discovery cohort, sex, age and 4 discovery PCs as covariates) is applied once to each
bundled held-out cohort (2,000 people each). Then, for each ancestry-effect setting, ``--reps``
outcomes **without genetic signal** are simulated on those people from a liability

    0.1 z(sex) + 0.1 z(age) + sqrt(v) z(PC1) + noise (variance 1 - 0.02 - v),

cut at the median (balanced classes, like the bundle), where PC1 is the held-out cohort's projection
on the discovery PC1 and ``v`` the ancestry variance (0.05 as in the bundle's simulation, and a
stronger setting). Each outcome goes through :func:`genopt.replicate.analyse` (score- and
variant-level statistics and the verdict, alpha 0.05). Reported per setting and cohort: the fraction
called ``replicated`` (with a Clopper-Pearson 95% interval), the fractions of the score test alone,
the sign test alone, the AUC test, any Bonferroni-significant variant (family-wise error) and any
BH-significant variant, and the score test two-sided with and without the PC covariates (what ancestry
confounding does when the PCs are left out).

Writes the "replicate-null" section of benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/bench_replicate_null.py --reps 100 --seed 1
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from bench_loader import write_results
from scipy import stats as sps

from genopt.cohort import Cohort
from genopt.config import ReplicationConfig
from genopt.replicate import analyse, apply_model, load_run
from genopt.replicate import stats as rstats

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA = REPO / "data"
WORK = HERE / "work" / "replicate_null"
BEGIN = "<!-- BEGIN replicate-null (written by benchmarks/bench_replicate_null.py) -->"
END = "<!-- END replicate-null -->"


def _builder():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("make_run", REPO / "tests" / "fixtures" / "replicate" / "make_run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def clopper_pearson(k: int, n: int) -> tuple[float, float]:
    lo = 0.0 if k == 0 else float(sps.beta.ppf(0.025, k, n - k + 1))
    hi = 1.0 if k == n else float(sps.beta.ppf(0.975, k + 1, n - k))
    return lo, hi


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--ancestry", default="0.05,0.3", help="ancestry variances v, comma-separated")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    start = time.perf_counter()
    _builder().build_run(WORK / "run")
    run = load_run(WORK / "run")
    config = ReplicationConfig()
    alpha = config.alpha
    rng = np.random.default_rng(args.seed)
    rows = []
    for name in ("heldout_a", "heldout_b"):
        cohort = Cohort.from_files(DATA / name, DATA / f"{name}.pheno.tsv", "cooperate", DATA / f"{name}.covar.tsv")
        applied = apply_model(run.model, cohort, run.pca_model)
        cov = applied.covariates

        def z(x: np.ndarray) -> np.ndarray:
            return (x - x.mean()) / x.std()

        for v in (float(x) for x in args.ancestry.split(",")):
            fixed = 0.1 * z(cov[:, 0]) + 0.1 * z(cov[:, 1]) + math.sqrt(v) * z(cov[:, 2])
            liability = fixed[None, :] + rng.normal(0.0, math.sqrt(1 - 0.02 - v), (args.reps, applied.n))
            ys = (liability > np.median(liability, axis=1, keepdims=True)).astype(np.int8)
            counts = dict.fromkeys(("replicated", "score", "sign", "auc", "fwer", "fdr", "two_sided", "no_pcs"), 0)
            t0 = time.perf_counter()
            for y in ys:
                s = analyse(dataclasses.replace(applied, y=y), run.model, run.discovery, config).summary
                counts["replicated"] += s["verdict"] == "replicated"
                counts["score"] += s["score_p"] < alpha
                counts["sign"] += s["sign_test_p"] < alpha
                counts["auc"] += s["auc_p"] < alpha
                counts["fwer"] += s["n_replicated_bonferroni"] > 0
                counts["fdr"] += s["n_replicated_fdr"] > 0
                counts["two_sided"] += s["score_p_two_sided"] < alpha
                counts["no_pcs"] += rstats.score_effect(y, applied.score, cov[:, :2]).p < alpha
            per = (time.perf_counter() - t0) / args.reps
            rows.append((name, v, counts, per, float(np.corrcoef(applied.score, cov[:, 2])[0, 1])))
            lo, hi = clopper_pearson(counts["replicated"], args.reps)
            print(f"{name} v={v}: replicated {counts['replicated']}/{args.reps} (95% CI {lo:.3f}-{hi:.3f}); {counts}; "
                  f"{per:.2f} s per replication", flush=True)  # fmt: skip
    total = time.perf_counter() - start
    load_after = os.getloadavg()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO)
    n = args.reps
    lines = [
        BEGIN,
        "## Replication verdict under the null (calibration)",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} at commit `{commit.stdout.strip()}`; "
        f"whole benchmark {total:.0f} s.",
        "",
        "Reproduce (from the repository root):",
        "",
        "```",
        f".venv/bin/python benchmarks/bench_replicate_null.py --reps {n} --seed {args.seed} --ancestry {args.ancestry}",
        "```",
        "",
        "**Setup**: the 28-variant ridge model of `tests/fixtures/replicate/make_run.py` (sex, age, 4 discovery "
        "PCs) applied to each bundled held-out cohort (2,000 people); outcomes with no genetic signal simulated "
        "on those people from `0.1 z(sex) + 0.1 z(age) + sqrt(v) z(PC1) + noise`, cut at the median; "
        "`genopt.replicate.analyse` with alpha 0.05 (verdict: score OR per SD > 1 with one-sided p < 0.05 and, "
        "with >= 5 variants, sign test p < 0.05). Columns are fractions of the "
        f"{n} null outcomes per row with p < 0.05 (or the event); `replicated` with its Clopper-Pearson 95% interval. "
        "`any Bonferroni` = family-wise error over the 28 one-sided variant tests; `score 2-sided` = the "
        "score test two-sided with every covariate, `2-sided, no PCs` the same with sex and age only (ancestry "
        "confounding left in; two-sided because the direction of the bias follows the sign of r(score, PC1), the "
        "correlation of the score with the projected PC1 in that cohort).",
        "",
        f"**Machine**: {os.cpu_count()} cores, Python {platform.python_version()}; load average (1, 5, 15 min) "
        f"{', '.join(f'{x:.2f}' for x in load_before)} before and {', '.join(f'{x:.2f}' for x in load_after)} after.",
        "",
        "| cohort | ancestry v | replicated (95% CI) | score test | sign test | AUC test | any Bonferroni | "
        "any BH | score 2-sided | 2-sided, no PCs | r(score, PC1) | s per replication |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, v, c, per, r in rows:
        lo, hi = clopper_pearson(c["replicated"], n)
        lines.append(
            f"| {name} | {v:g} | {c['replicated'] / n:.3f} ({lo:.3f}-{hi:.3f}) | {c['score'] / n:.3f} | "
            f"{c['sign'] / n:.3f} | {c['auc'] / n:.3f} | {c['fwer'] / n:.3f} | {c['fdr'] / n:.3f} | "
            f"{c['two_sided'] / n:.3f} | {c['no_pcs'] / n:.3f} | {r:.3f} | {per:.2f} |"
        )
    lines += [
        "",
        "The AUC and its test use no covariates (they describe discrimination, not an adjusted effect); the "
        "verdict rests on the covariate-adjusted score test and the sign test.",
        END,
        "",
    ]
    section = "\n".join(lines)
    print(section)
    if not args.no_write:
        write_results(section, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
