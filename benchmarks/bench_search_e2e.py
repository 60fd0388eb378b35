"""End-to-end time of the default search (``search_and_export``) on a 6,000 x 120,000 cohort.

Input (generated into the git-ignored ``benchmarks/work/``):

- genotypes: ``benchmarks/make_bench_cohort.py --samples 6000 --variants 120000`` (real HapMap 3 segments
  recombined and tiled; ~1 % missing calls);
- outcome: :func:`genopt.simulate.simulate_phenotype` on those genotypes (30 causal variants with MAF >= 0.05,
  h2 = 0.5, ancestry effect 0.05, sex 0.2, age 0.1, prevalence 0.5, seed 7), written as
  ``.pheno.tsv``/``.covar.tsv``/``.truth.tsv``.

Then ``search_and_export(cohort, out, SearchConfig(), PoolConfig(), PCAConfig(), seed=0)`` (every default,
as ``genopt search`` runs it), timed in total and per step (``SearchOutcome.timings``: split, PCA, pool =
association scan + clumping, genotypes, search, choose, write; plus the final refit + export). The fitness
time is split by model family by wrapping ``CVFitness.evaluate`` (benchmark instrumentation only).
The target of issue 4 is <= 15 min on 2 cores.

Writes the "search-e2e" section of benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/bench_search_e2e.py            # one run (~15-25 min)
    .venv/bin/python benchmarks/bench_search_e2e.py --reps 3   # medians of 3
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench_loader import write_results

from genopt.cohort import Cohort
from genopt.config import PCAConfig, PhenotypeSimConfig, PoolConfig, SearchConfig
from genopt.io.plink import open_plink
from genopt.search import fitness as fitness_module
from genopt.search.study import search_and_export
from genopt.simulate.phenotype import simulate_phenotype, write_phenotype_files

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "benchmarks" / "work"
BEGIN = "<!-- BEGIN search-e2e (written by benchmarks/bench_search_e2e.py) -->"
END = "<!-- END search-e2e -->"
TARGET_SECONDS = 15 * 60


def make_input(n_samples: int, n_variants: int, sim_seed: int) -> Path:
    """Genotypes (make_bench_cohort.py) plus a simulated outcome; reused when already there."""
    prefix = WORK / f"search_{n_samples}x{n_variants}"
    if not prefix.with_suffix(".bed").exists():
        cmd = [sys.executable, str(REPO / "benchmarks" / "make_bench_cohort.py")]
        cmd += ["--samples", str(n_samples), "--variants", str(n_variants), "--out", str(prefix)]
        subprocess.run(cmd, check=True)
    if not Path(str(prefix) + ".pheno.tsv").exists():
        conf = PhenotypeSimConfig(h2=0.5, n_causal=30, ancestry_effect=0.05, seed=sim_seed)
        sim = simulate_phenotype(open_plink(prefix), conf)
        write_phenotype_files(sim, prefix)
    return prefix


@contextmanager
def family_timer() -> Iterator[dict[str, list[float]]]:
    """Wrap ``CVFitness.evaluate`` to record (count, seconds) of fitted evaluations per family."""
    stats: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    original = fitness_module.CVFitness.evaluate

    def timed(self: Any, candidate: Any) -> Any:
        t0 = time.perf_counter()
        ev = original(self, candidate)
        if not ev.cached:
            s = stats[candidate.family]
            s[0] += 1
            s[1] += time.perf_counter() - t0
        return ev

    fitness_module.CVFitness.evaluate = timed  # type: ignore[method-assign]
    try:
        yield stats
    finally:
        fitness_module.CVFitness.evaluate = original  # type: ignore[method-assign]


def one_run(prefix: Path, seed: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    cohort = Cohort.from_files(prefix, Path(str(prefix) + ".pheno.tsv"), None, Path(str(prefix) + ".covar.tsv"))
    t_load = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(dir=WORK) as out, family_timer() as fam:
        t1 = time.perf_counter()
        study = search_and_export(cohort, out, SearchConfig(), PoolConfig(), PCAConfig(), seed=seed)
        total = time.perf_counter() - t1
    timings = dict(study.outcome.timings)
    final = total - timings.get("total", 0.0) - timings.get("write", 0.0)
    return {
        "load": t_load,
        "total": total,
        "steps": timings,
        "final_export": final,
        "families": {k: (int(v[0]), v[1]) for k, v in fam.items()},
        "n_evaluations": study.outcome.result.n_evaluations,
        "chosen": f"{study.model.family}, {study.model.n_variants} variants",
        "validation_auc": study.outcome.validation_auc,
        "pool": len(study.outcome.pool),
    }


def report(runs: list[dict[str, Any]], prefix: Path, load: tuple[float, float], cmd: str) -> str:
    med = statistics.median
    total = med([r["total"] for r in runs])
    steps = ["split", "pca", "pool", "genotypes", "search", "choose", "write"]
    lines = [
        BEGIN,
        "## Search end to end (issue 4, benchmark 3)",
        "",
        f"Command: `{cmd}` ({len(runs)} run(s); medians). Machine: {platform.machine()}, "
        f"{os.cpu_count()} cores shared with other sessions (load average {load[0]:.2f} before, "
        f"{load[1]:.2f} after): timings are noisy.",
        "",
        f"Input: `{prefix.relative_to(REPO)}` (make_bench_cohort.py 6,000 people x 120,000 variants, outcome from "
        "`simulate_phenotype`: 30 causal, h2 0.5, ancestry 0.05, seed 7). Run: `search_and_export` with default "
        "SearchConfig / PoolConfig / PCAConfig, seed 0.",
        "",
        f"**Total: {total:.0f} s = {total / 60:.1f} min (target <= 15 min: "
        f"{'met' if total <= TARGET_SECONDS else 'missed'}; ratio to target {total / TARGET_SECONDS:.2f}).** "
        f"Loading the cohort (not included): {med([r['load'] for r in runs]):.1f} s.",
        "",
        "| step | seconds (median) | share of total |",
        "|---|---|---|",
    ]
    for s in steps:
        vals = [r["steps"].get(s, 0.0) for r in runs]
        lines.append(f"| {s} | {med(vals):.1f} | {med(vals) / total:.1%} |")
    fe = med([r["final_export"] for r in runs])
    lines.append(f"| final refit + export | {fe:.1f} | {fe / total:.1%} |")
    lines += ["", "Fitness time by model family (fitted evaluations only, all 5 folds each; first run):", ""]
    lines += [
        "| family | evaluations | seconds | seconds per evaluation | share of fitness time |",
        "|---|---|---|---|---|",
    ]
    fams = runs[0]["families"]
    fit_total = sum(v[1] for v in fams.values()) or 1.0
    for k, (n, sec) in sorted(fams.items(), key=lambda kv: -kv[1][1]):
        lines.append(f"| {k} | {n} | {sec:.1f} | {sec / max(n, 1):.3f} | {sec / fit_total:.1%} |")
    r0 = runs[0]
    lines += [
        "",
        f"First run: {r0['n_evaluations']} evaluations, pool {r0['pool']} variants, chosen {r0['chosen']}, "
        f"validation AUC {r0['validation_auc']:.3f} (internal validation part of this simulated cohort).",
        END,
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=6000)
    parser.add_argument("--variants", type=int, default=120_000)
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    prefix = make_input(args.samples, args.variants, sim_seed=7)
    load_before = os.getloadavg()[0]
    runs = []
    for i in range(args.reps):
        runs.append(one_run(prefix, args.seed))
        r = runs[-1]
        print(f"run {i + 1}: total {r['total']:.1f} s, steps {r['steps']}, final+export {r['final_export']:.1f} s")
        print("  families (evaluations, seconds):", {k: (n, round(s, 1)) for k, (n, s) in r["families"].items()})
    cmd = "python benchmarks/bench_search_e2e.py" + (f" --reps {args.reps}" if args.reps != 1 else "")
    text = report(runs, prefix, (load_before, os.getloadavg()[0]), cmd)
    print(text)
    if not args.no_write:
        write_results(text, BEGIN, END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
