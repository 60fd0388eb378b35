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

``--profile`` measures instead what one fitness evaluation costs per model family on the same cohort:
the search part's rows (80 %, ``split_discovery`` seed 0), 500 random variants as the pool (cost depends
on the number of rows and of columns, not on which variants), sex + age + 10 standard-normal stand-in PC
columns, 5 folds; candidates drawn as the GA's initial population (``SearchSpace.random_population``:
log-uniform subset sizes 1-50, uniform family and hyperparameters within the default bounds). It projects
the fitness time of a default search (budget x mean cost per family, families equally likely), times the
PCA step's two parts on the same rows, and refits the logistic_l2 candidates with ``newton-cholesky``
instead of lbfgs (same fold AUCs?) to see whether the solver matters. ``--families``/``--budget`` runs a
non-default search end to end and writes the "search-e2e-custom" section instead.

Writes the "search-e2e" (or "search-e2e-custom", "search-e2e-profile") section of benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/bench_search_e2e.py            # one run (~15-40 min)
    .venv/bin/python benchmarks/bench_search_e2e.py --reps 3   # medians of 3
    .venv/bin/python benchmarks/bench_search_e2e.py --profile  # per-family evaluation cost (~5 min)
    .venv/bin/python benchmarks/bench_search_e2e.py --families ridge,logistic_l1,logistic_enet
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

import numpy as np
from bench_loader import write_results

from genopt.cohort import Cohort
from genopt.config import PCAConfig, PhenotypeSimConfig, PoolConfig, SearchConfig
from genopt.io.plink import open_plink
from genopt.search import fitness as fitness_module
from genopt.search.fitness import CVFitness, make_folds
from genopt.search.run import split_discovery
from genopt.search.space import SearchSpace
from genopt.search.study import search_and_export
from genopt.search.types import Candidate
from genopt.simulate.phenotype import simulate_phenotype, write_phenotype_files
from genopt.structure import fit_pca, pca_variants

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "benchmarks" / "work"
BEGIN = "<!-- BEGIN search-e2e (written by benchmarks/bench_search_e2e.py) -->"
END = "<!-- END search-e2e -->"
BEGIN_CUSTOM = "<!-- BEGIN search-e2e-custom (written by benchmarks/bench_search_e2e.py --families/--budget) -->"
END_CUSTOM = "<!-- END search-e2e-custom -->"
BEGIN_PROFILE = "<!-- BEGIN search-e2e-profile (written by benchmarks/bench_search_e2e.py --profile) -->"
END_PROFILE = "<!-- END search-e2e-profile -->"
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


def one_run(prefix: Path, seed: int, sconf: SearchConfig) -> dict[str, Any]:
    t0 = time.perf_counter()
    cohort = Cohort.from_files(prefix, Path(str(prefix) + ".pheno.tsv"), None, Path(str(prefix) + ".covar.tsv"))
    t_load = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(dir=WORK) as out, family_timer() as fam:
        t1 = time.perf_counter()
        study = search_and_export(cohort, out, sconf, PoolConfig(), PCAConfig(), seed=seed)
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


def report(runs: list[dict[str, Any]], prefix: Path, load: tuple[float, float], cmd: str, overrides: str) -> str:
    med = statistics.median
    total = med([r["total"] for r in runs])
    steps = ["split", "pca", "pool", "genotypes", "search", "choose", "write"]
    begin, end = (BEGIN_CUSTOM, END_CUSTOM) if overrides else (BEGIN, END)
    lines = [
        begin,
        "## Search end to end (issue 4, benchmark 3)" + (": a non-default search" if overrides else ""),
        "",
        f"Command: `{cmd}` ({len(runs)} run(s); medians). Machine: {platform.machine()}, "
        f"{os.cpu_count()} cores shared with other sessions (load average {load[0]:.2f} before, "
        f"{load[1]:.2f} after): timings are noisy.",
        "",
        f"Input: `{prefix.relative_to(REPO)}` (make_bench_cohort.py 6,000 people x 120,000 variants, outcome from "
        "`simulate_phenotype`: 30 causal, h2 0.5, ancestry 0.05, seed 7). Run: `search_and_export` with "
        + (f"SearchConfig({overrides}) (**not the default search**)" if overrides else "default SearchConfig")
        + " / PoolConfig / PCAConfig, seed 0.",
        "",
        f"**Total: {total:.0f} s = {total / 60:.1f} min"
        + (
            f" (target <= 15 min: {'met' if total <= TARGET_SECONDS else 'missed'}; "
            f"ratio to target {total / TARGET_SECONDS:.2f}).** "
            if not overrides
            else " (a non-default search: the 15-min target is for the default one).** "
        )
        + f"Loading the cohort (not included): {med([r['load'] for r in runs]):.1f} s.",
        "",
        "| step | seconds (median) | share of total |",
        "|---|---|---|",
    ]
    for s in steps:
        vals = [r["steps"].get(s, 0.0) for r in runs]
        lines.append(f"| {s} | {med(vals):.1f} | {med(vals) / total:.1%} |")
    fe = med([r["final_export"] for r in runs])
    lines.append(f"| final refit + export | {fe:.1f} | {fe / total:.1%} |")
    lines += [
        "",
        "Fitness time by model family (fitted evaluations only; first run). With the pool rebuilt per fold "
        "(`pool_per_fold`, the default) each fold has its own fitness, so a count is of (candidate, fold) fits "
        "and is about 5x the candidates; otherwise each counts one candidate over all 5 folds:",
        "",
    ]
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
        end,
    ]
    return "\n".join(lines) + "\n"


def profile(prefix: Path, n_candidates: int, seed: int) -> str:
    """Seconds per fitness evaluation by family on the e2e cohort's search part; a section of RESULTS.md."""
    cohort = Cohort.from_files(prefix, Path(str(prefix) + ".pheno.tsv"), None, Path(str(prefix) + ".covar.tsv"))
    conf = SearchConfig()
    rng = np.random.default_rng(seed)
    search_idx, _ = split_discovery(cohort.y, conf.validation_fraction, seed)
    cols = np.sort(rng.choice(len(cohort.variants), size=PoolConfig().max_size, replace=False))
    g = cohort.fileset.read(variants=cols, samples=cohort.sample_idx[search_idx], dtype=np.float64)
    g = np.where(np.isnan(g), np.nanmean(g, axis=0), g)
    cov = np.column_stack(
        [cohort.covariates.to_numpy(dtype=np.float64)[search_idx], rng.standard_normal((search_idx.size, 10))]
    )
    y = cohort.y[search_idx]
    pconf = PCAConfig()
    t0 = time.perf_counter()
    mask = pca_variants(cohort.fileset, pconf, samples=cohort.sample_idx[search_idx])
    t_prune = time.perf_counter() - t0
    t0 = time.perf_counter()
    fit_pca(cohort.fileset, pconf, samples=cohort.sample_idx[search_idx], variants=mask)
    t_fit = time.perf_counter() - t0
    fit = CVFitness(g, cov, y, make_folds(y, conf.folds, seed), seed=seed)
    space = SearchSpace(pool_size=cols.size, families=tuple(conf.families), max_variants=conf.max_variants)
    t0 = time.perf_counter()
    fit.evaluate(Candidate((0,), "ridge"))  # the ridge fast path's one-time cross-products of the pool
    prep = time.perf_counter() - t0
    times: dict[str, list[float]] = defaultdict(list)
    nc_times: list[float] = []
    nc_diffs: list[float] = []
    sizes: dict[str, list[int]] = defaultdict(list)
    load_before = os.getloadavg()[0]
    for row in space.random_population(n_candidates, rng):
        cand = space.decode(row)
        t0 = time.perf_counter()
        fit.evaluate(cand)
        times[cand.family].append(time.perf_counter() - t0)
        sizes[cand.family].append(cand.n_variants)
        if cand.family == "logistic_l2":
            nc_times.append(newton_cholesky_seconds(fit, cand, nc_diffs))
    med = statistics.median
    means = {k: statistics.mean(v) for k, v in times.items()}
    per_eval = statistics.mean(means.values())  # families equally likely, as in the GA's initial population
    lines = [
        BEGIN_PROFILE,
        "### Search end to end: cost of one fitness evaluation per model family",
        "",
        f"Command: `python benchmarks/bench_search_e2e.py --profile` ({n_candidates} candidates drawn as the GA's "
        f"initial population; load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after, 2 shared "
        f"cores: noisy). {search_idx.size} search rows of the 6,000 x 120,000 cohort, pool of {cols.size} random "
        f"variants, {cov.shape[1]} covariates, {conf.folds} folds; one evaluation = all folds. The ridge fast "
        f"path's one-time preparation (per-fold cross-products of the pool) took {prep:.2f} s, not counted below.",
        "",
        f"PCA step on the same rows: `pca_variants` (MAF filter + LD pruning, {len(cohort.variants)} -> "
        f"{int(mask.sum())} variants) {t_prune:.0f} s; `fit_pca` ({pconf.n_pcs} PCs, randomized SVD above "
        f"{pconf.exact_max_samples} samples) {t_fit:.0f} s.",
        "",
        "| family | candidates | median seconds per evaluation | mean | max | median subset size |",
        "|---|---|---|---|---|---|",
    ]
    for k in sorted(times, key=lambda k: -means[k]):
        v = times[k]
        lines.append(f"| {k} | {len(v)} | {med(v):.3f} | {means[k]:.3f} | {max(v):.3f} | {med(sizes[k]):.0f} |")
    lines += [
        "",
        f"Projected fitness time of a default search (budget {conf.budget}, families equally likely, mean cost "
        f"{per_eval:.3f} s per evaluation): {conf.budget * per_eval:.0f} s = {conf.budget * per_eval / 60:.1f} min; "
        "shares by family: "
        + ", ".join(f"{k} {means[k] / sum(means.values()):.0%}" for k in sorted(means, key=lambda k: -means[k]))
        + ". Without gbm (same budget, the other four families equally likely): "
        + (
            f"{conf.budget * statistics.mean([m for k, m in means.items() if k != 'gbm']) / 60:.1f} min."
            if len(means) > 1
            else "n/a."
        ),
    ]
    if nc_times:
        lines += [
            "",
            f"The same {len(nc_times)} logistic_l2 candidates refitted with `solver='newton-cholesky'` instead of "
            f"lbfgs (same design, C, folds): median {med(nc_times):.3f} s per evaluation (lbfgs "
            f"{med(times['logistic_l2']):.3f} s, ratio {med(times['logistic_l2']) / med(nc_times):.0f}x); largest "
            f"difference of a fold AUC {max(nc_diffs):.1e}.",
        ]
    lines.append(END_PROFILE)
    return "\n".join(lines) + "\n"


def newton_cholesky_seconds(fit: CVFitness, cand: Candidate, diffs: list[float]) -> float:
    """Seconds of the logistic_l2 candidate's 5 fold fits with newton-cholesky; appends fold-AUC differences."""
    from sklearn.linear_model import LogisticRegression

    from genopt.search.fitness import auc

    reference = fit.evaluate(cand).fold_aucs  # cached: the lbfgs AUCs
    t0 = time.perf_counter()
    for f in range(len(fit.folds)):
        xt, yt, xv, yv = fit._fold_design(cand.subset, f, fit.covariate_scale(cand.family))
        est = LogisticRegression(C=cand.param("C", 1.0), solver="newton-cholesky", max_iter=100).fit(xt, yt)
        diffs.append(abs(auc(yv, est.decision_function(xv)) - float(reference[f])))
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=6000)
    parser.add_argument("--variants", type=int, default=120_000)
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget", type=int, default=None, help="override SearchConfig.budget")
    parser.add_argument("--families", default=None, help="override SearchConfig.families (comma-separated)")
    parser.add_argument("--profile", action="store_true", help="per-family fitness cost instead of the full run")
    parser.add_argument("--candidates", type=int, default=100, help="candidates timed by --profile")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    prefix = make_input(args.samples, args.variants, sim_seed=7)
    if args.profile:
        text = profile(prefix, args.candidates, args.seed)
        print(text)
        if not args.no_write:
            write_results(text, BEGIN_PROFILE, END_PROFILE)
        return 0
    over: dict[str, Any] = {}
    if args.budget:
        over["budget"] = args.budget
    if args.families:
        over["families"] = tuple(args.families.split(","))
    overrides = ", ".join(f"{k}={v!r}" for k, v in over.items())
    load_before = os.getloadavg()[0]
    runs = []
    for i in range(args.reps):
        runs.append(one_run(prefix, args.seed, SearchConfig(**over)))
        r = runs[-1]
        print(f"run {i + 1}: total {r['total']:.1f} s, steps {r['steps']}, final+export {r['final_export']:.1f} s")
        print("  families (evaluations, seconds):", {k: (n, round(s, 1)) for k, (n, s) in r["families"].items()})
    cmd = "python benchmarks/bench_search_e2e.py" + (f" --reps {args.reps}" if args.reps != 1 else "")
    cmd += f" --budget {args.budget}" if args.budget else ""
    cmd += f" --families {args.families}" if args.families else ""
    text = report(runs, prefix, (load_before, os.getloadavg()[0]), cmd, overrides)
    print(text)
    if not args.no_write:
        write_results(text, *((BEGIN_CUSTOM, END_CUSTOM) if overrides else (BEGIN, END)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
