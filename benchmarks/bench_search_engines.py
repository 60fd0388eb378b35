"""GA vs random vs grid search at equal evaluation budgets on the bundled discovery cohort (issue 4, benchmark 2).

For each seed, the three engines run through :func:`genopt.search.run.run_search` with the same seed, so
they share the split (80 % search / 20 % internal validation), the PCs, the candidate pool (the association
scan is memoised across the three runs of a seed; it is a pure function of its inputs), the CV folds and the
fitness. Settings: ``SearchConfig(engine=..., families=("ridge",), budget=B)``, every other setting at its
default (pool of <= 500 clump index variants, subsets of <= 50 variants, size penalty 0.001). Ridge only
because it has the fitness fast path: with the default five families one search costs minutes (see the
search-e2e section), too much for 3 engines x several seeds; the grid engine searches ridge too (top-k pool
variants by p x log10 alpha).

Measured per engine and seed:

- best-so-far mean inner-CV AUC after each evaluation (``SearchResult.best_so_far``; the pool rebuilt
  inside each CV fold, the default), and the evaluations needed to reach the grid's final best of the same
  seed (and to come within 0.002 of it); the GA twice: with its default first generation (random subsets
  plus the pool's best-k-by-p subsets, ``top_k_seeds``) and with a random one only (``ga, random start``);
- a longer GA run per seed (``--ga-budget``, default 10,000 evaluations; same seed) for the evaluations the
  GA needs to reach the grid's best when 2,000 are not enough;
- the chosen candidate (``run_search``'s one-SE rule on the internal validation part), refitted on all of
  discovery with ``fit_final`` (PCs of the search part, validation rows projected), scored on
  ``data/heldout_a`` and ``data/heldout_b`` with ``FinalModel.genetic_score`` (variants matched by ID;
  the score alone, no covariates) -> held-out AUC.

Writes the "search-engines" section of benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/bench_search_engines.py                # 5 seeds, budget 2000 (+ GA at 10000)
    .venv/bin/python benchmarks/bench_search_engines.py --seeds 3 --budget 1000 --no-write
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from bench_loader import write_results

from genopt.assoc.scan import scan
from genopt.cohort import Cohort
from genopt.config import PCAConfig, PoolConfig, SearchConfig
from genopt.search.final import fit_final
from genopt.search.fitness import auc
from genopt.search.run import run_search

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"
BEGIN = "<!-- BEGIN search-engines (written by benchmarks/bench_search_engines.py) -->"
END = "<!-- END search-engines -->"
ENGINES = ("ga", "random", "grid")


def load(name: str) -> Cohort:
    return Cohort.from_files(DATA / name, DATA / f"{name}.pheno.tsv", None, DATA / f"{name}.covar.tsv")


class CachedScan:
    """The association scan memoised on (samples, covariates): the engines of one seed share one scan."""

    def __init__(self) -> None:
        self.cache: dict[str, Any] = {}

    def __call__(self, cohort: Cohort, config: Any, samples: Any = None, covariates: Any = None) -> Any:
        h = hashlib.sha256(np.asarray(samples, dtype=np.int64).tobytes())
        if covariates is not None:
            h.update(np.ascontiguousarray(covariates, dtype=np.float64).tobytes())
        key = h.hexdigest() + repr(config)
        if key not in self.cache:
            self.cache[key] = scan(cohort, config, samples=samples, covariates=covariates)
        return self.cache[key]


def evals_to_reach(curve: npt.NDArray[np.float64], target: float) -> int | None:
    """1-based number of evaluations after which the best-so-far AUC first reaches ``target`` (None: never)."""
    hit = np.flatnonzero(curve >= target - 1e-12)
    return int(hit[0]) + 1 if hit.size else None


#: The GA with a random first generation only (``top_k_seeds = 0``).
RANDOM_START_GA = "ga, random start"


def one_run(
    cohort: Cohort,
    heldout: dict[str, Cohort],
    engine: str,
    seed: int,
    budget: int,
    scan_fn: CachedScan,
    top_k_seeds: int = SearchConfig().top_k_seeds,
) -> dict[str, Any]:
    t0 = time.perf_counter()
    config = SearchConfig(engine=engine, families=("ridge",), budget=budget, top_k_seeds=top_k_seeds)
    out = run_search(cohort, config, PoolConfig(), PCAConfig(), seed=seed, scan_fn=scan_fn)
    seconds = time.perf_counter() - t0
    if out.pcs_search is None or out.pcs_validation is None or out.columns is None:
        raise RuntimeError("run_search returned no PCs")
    pcs = out.discovery_pcs()
    model = fit_final(cohort, out.columns, out.chosen.candidate, covariates=pcs, seed=seed)
    held = {name: auc(c.y, model.genetic_score(c).score) for name, c in heldout.items()}
    return {
        "curve": out.result.best_so_far(),
        "best": float(out.result.best_so_far()[-1]),
        "n_evaluations": out.result.n_evaluations,
        "chosen_n": out.chosen.candidate.n_variants,
        "chosen_inner": out.inner_cv_auc,
        "validation_auc": out.validation_auc,
        "heldout": held,
        "seconds": seconds,
        "search_seconds": out.timings.get("search", float("nan")),
    }


def fmt_reach(values: list[int | None], budget: int) -> str:
    """Median with 'never' counted as above the budget; how many runs reached it."""
    reached = [v for v in values if v is not None]
    padded = sorted(v if v is not None else budget + 1 for v in values)
    med = statistics.median(padded)
    med_s = f"> {budget}" if med > budget else f"{med:.0f}"
    each = ", ".join(str(v) if v else "never" for v in values)
    return f"{med_s} ({len(reached)}/{len(values)} reached; runs: {each})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=2000)
    parser.add_argument("--ga-budget", type=int, default=10000, help="an extra, longer GA run per seed (0: none)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    cohort = load("discovery")
    heldout = {"heldout_a": load("heldout_a"), "heldout_b": load("heldout_b")}
    load_before = os.getloadavg()[0]
    long_ga = f"ga, budget {args.ga_budget}"
    names = [*ENGINES, RANDOM_START_GA, *([long_ga] if args.ga_budget > args.budget else [])]
    runs: dict[str, list[dict[str, Any]]] = {e: [] for e in names}
    for seed in range(args.seeds):
        scan_fn = CachedScan()
        for engine in names:
            budget = args.ga_budget if engine == long_ga else args.budget
            seeds = 0 if engine == RANDOM_START_GA else SearchConfig().top_k_seeds
            r = one_run(cohort, heldout, engine.split(",")[0], seed, budget, scan_fn, top_k_seeds=seeds)
            runs[engine].append(r)
            print(
                f"seed {seed} {engine:6s}: best inner AUC {r['best']:.4f} after {r['n_evaluations']} evaluations; "
                f"chosen {r['chosen_n']} variants, validation {r['validation_auc']:.4f}, "
                f"held-out A {r['heldout']['heldout_a']:.4f} B {r['heldout']['heldout_b']:.4f} "
                f"({r['seconds']:.0f} s, search {r['search_seconds']:.1f} s)",
                flush=True,
            )
    load_after = os.getloadavg()[0]
    med = statistics.median
    grid_best = [r["best"] for r in runs["grid"]]
    lines = [
        BEGIN,
        "## Search engines at equal budgets (issue 4, benchmark 2)",
        "",
        f"Command: `python benchmarks/bench_search_engines.py --seeds {args.seeds} --budget {args.budget} "
        f"--ga-budget {args.ga_budget}`. "
        f"Machine: {platform.machine()}, {os.cpu_count()} cores shared with other sessions (load average "
        f"{load_before:.2f} before, {load_after:.2f} after). Bundled discovery (4,000 people), "
        f"`run_search` per engine with `SearchConfig(engine=..., families=('ridge',), budget={args.budget})`, "
        "other settings default; the three engines of a seed share split, PCs, pool, folds and fitness. "
        f"Seeds 0-{args.seeds - 1}; medians over seeds. The GA's first generation holds the pool's best-k-by-p "
        f"subsets (`top_k_seeds` = {SearchConfig().top_k_seeds}, the default) except in `{RANDOM_START_GA}` "
        "(`top_k_seeds` = 0). Inner-CV AUCs with the pool rebuilt inside each fold (`pool_per_fold`, the "
        "default); held-out AUCs are of the genetic score alone (FinalModel.genetic_score, no covariates).",
        "",
        "| engine | best inner-CV AUC | evaluations to reach the grid's best (same seed) | "
        "evaluations to come within 0.002 of it | chosen variants | validation AUC | "
        "held-out A AUC | held-out B AUC | search seconds |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for e in names:
        rs = runs[e]
        budget = args.ga_budget if e == long_ga else args.budget
        reach = [evals_to_reach(r["curve"], g) for r, g in zip(rs, grid_best, strict=True)]
        near = [evals_to_reach(r["curve"], g - 0.002) for r, g in zip(rs, grid_best, strict=True)]
        lines.append(
            f"| {e} | {med([r['best'] for r in rs]):.4f} | {fmt_reach(reach, budget)} | "
            f"{fmt_reach(near, budget)} | {med([r['chosen_n'] for r in rs]):.0f} | "
            f"{med([r['validation_auc'] for r in rs]):.4f} | "
            f"{med([r['heldout']['heldout_a'] for r in rs]):.4f} | "
            f"{med([r['heldout']['heldout_b'] for r in rs]):.4f} | {med([r['search_seconds'] for r in rs]):.1f} |"
        )
    ga_reach = [evals_to_reach(r["curve"], g) for r, g in zip(runs["ga"], grid_best, strict=True)]
    grid_reach = [evals_to_reach(r["curve"], g) for r, g in zip(runs["grid"], grid_best, strict=True)]
    if long_ga in runs:  # the longer GA run reaches further; its first evaluations are the same run's
        ga_reach = [evals_to_reach(r["curve"], g) for r, g in zip(runs[long_ga], grid_best, strict=True)]
    ratios = [gr / ga for gr, ga in zip(grid_reach, ga_reach, strict=True) if gr and ga]
    ratio_text = (
        f"median {med(ratios):.2f} over {len(ratios)} seed(s) where the GA reached it (per seed: "
        + ", ".join(f"{x:.2f}" for x in ratios)
        + ")"
        if ratios
        else "the GA never reached the grid's best"
    )
    ga_best = [r["best"] for r in runs["ga"]]
    grid_to_ga = [evals_to_reach(r["curve"], b) for r, b in zip(runs["grid"], ga_best, strict=True)]
    ga_to_ga = [evals_to_reach(r["curve"], b) for r, b in zip(runs["ga"], ga_best, strict=True)]
    checkpoints = [b for b in (50, 100, 200, 500, 1000, 2000, 5000, 10000) if b <= max(args.budget, args.ga_budget)]
    lines += [
        "",
        f"Evaluations the grid needed for its own best / evaluations the GA needed to reach it: {ratio_text} "
        '(the field claims "GA ~10x cheaper than grid": >= 10 would support it). The other way round, '
        f"evaluations the grid needed to reach the GA's final best (same seed): {fmt_reach(grid_to_ga, args.budget)}; "
        f"the GA itself needed {fmt_reach(ga_to_ga, args.budget)}.",
        "",
        "Best-so-far inner-CV AUC after n evaluations (median over seeds; the grid's last value is its best "
        "when its grid holds fewer candidates than the budget; '-' = beyond the engine's budget):",
        "",
        "| engine | " + " | ".join(f"n={b}" for b in checkpoints) + " |",
        "|---|" + "---|" * len(checkpoints),
    ]
    for e in names:
        budget = args.ga_budget if e == long_ga else args.budget
        cells = [
            f"{med([float(r['curve'][min(b, len(r['curve'])) - 1]) for r in runs[e]]):.4f}" if b <= budget else "-"
            for b in checkpoints
        ]
        lines.append(f"| {e} | " + " | ".join(cells) + " |")
    lines.append(END)
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        write_results(text, BEGIN, END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
