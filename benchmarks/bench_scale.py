"""Scale and distributed benchmarks (issue 7) on a 50,000-sample x 200,000-variant cohort.

Input (generated into the git-ignored ``benchmarks/work/`` when absent):

- genotypes: ``make_bench_cohort.py --samples 50000 --variants 200000`` (real HapMap 3 segments recombined
  and tiled, ~1 % missing calls; a 2.5 GB .bed written block by block);
- outcome: :func:`genopt.simulate.simulate_phenotype` on the fileset (50 causal variants with MAF >= 0.05,
  h2 0.3, sex 0.2, age 0.1, prevalence 0.5, no ancestry effect, seed 11): allele frequencies are streamed
  and only the 50 causal variants' genotypes are decoded; written as ``.pheno.tsv`` (``cooperate``) and
  ``.covar.tsv`` (sex, age).

Each part runs as its own process (whole-process wall time and peak RSS, from ``wait4``):

a. ``assoc``: :func:`genopt.qc.compute_qc` (default QCConfig), :func:`genopt.assoc.scan.scan` of the variants
   passing its maf and geno filters (sex + age, no PCs, exact test of the top 1,000; the HWE filter is computed
   and reported but not applied: the cohort's people are mosaics of HapMap 3's several populations, a ~3 %
   heterozygote deficit (Wahlund effect) that HWE p < 1e-6 detects at 50,000 samples in 2/3 of the variants,
   which no real cohort of that size would lose) and :func:`genopt.assoc.pool.build_pool` on
   that scan (``max_size`` 2,000, clumping p1 0.05 / p2 0.1 / r2 0.1 / 250 kb, so that enough clumps exist
   for 2,000 index variants); seconds per step and the process's peak RSS after each (target < 4 GB).
   ``foldpool``: one more ``build_pool`` (scan + clumping) on one inner CV fold's training rows, the unit
   that ``SearchConfig.pool_per_fold`` repeats once per fold.
b. ``search``: a GA search (default SearchConfig except ``budget``) over the 2,000-variant pool on all
   samples: pool genotypes read and mean-imputed, :class:`genopt.search.fitness.CVFitness` with 5 folds,
   serial evaluator; fitness evaluations per second overall and per model family. The pool is the one of
   part a (no ``pool_per_fold``: its cost is the ``foldpool`` figure times the number of folds).
c. ``genopt assoc`` (CLI, sex + age, ``--pcs 0 --exact-top 1000``) vs ``plink2 --glm hide-covar omit-ref``
   on the same files (flags of ``bench_assoc.py``), wall-time ratio and Pearson r of -log10 p.
d. ``dask``: a ``distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True)`` started by
   the benchmark; the same scan (``client=``) and the same search (``SearchConfig(scheduler=<address>,
   jobs=2)``) on it, each right after a local run of the same step in the same process (so that both see
   about the same load on a shared machine), checked identical to those and to parts a and b (scan table
   equal cell for cell; same evaluations in the same order with the same fold AUCs, same best candidate).

Writes the "scale" section of benchmarks/RESULTS.md (``--no-write``: print only).

    .venv/bin/python benchmarks/bench_scale.py --samples 2000 --variants 20000 --no-write   # smoke test
    .venv/bin/python benchmarks/bench_scale.py                                                # 50,000 x 200,000
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from bench_assoc import accuracy
from bench_loader import run_measured, write_results

from genopt.assoc.pool import build_pool
from genopt.assoc.scan import AssocResult, exact_block, scan
from genopt.cohort import Cohort
from genopt.config import AssocConfig, ClumpConfig, PhenotypeSimConfig, PoolConfig, QCConfig, SearchConfig
from genopt.io.plink import open_plink
from genopt.qc import compute_qc
from genopt.search.engine import SearchResult, make_engine
from genopt.search.evaluate import make_evaluator
from genopt.search.fitness import CVFitness, make_folds
from genopt.search.space import SearchSpace
from genopt.simulate.phenotype import simulate_phenotype, write_phenotype_files

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / "work"
BEGIN, END = "<!-- BEGIN scale (written by benchmarks/bench_scale.py) -->", "<!-- END scale -->"
GENOPT = str(Path(os.path.abspath(sys.executable)).with_name("genopt"))
SIM = PhenotypeSimConfig(h2=0.3, n_causal=50, ancestry_effect=0.0, seed=11)
EXACT_TOP = 1000
PEAK_TARGET_MB = 4096


# ----------------------------------------------------------------------------------------- inputs and settings
def paths(n_samples: int, n_variants: int) -> dict[str, Path]:
    """Input prefix and this benchmark's output folder for a cohort shape."""
    prefix = WORK / f"cohort_{n_samples}x{n_variants}"
    out = WORK / f"scale_{n_samples}x{n_variants}"
    return {"prefix": prefix, "out": out, "pheno": Path(f"{prefix}.pheno.tsv"), "covar": Path(f"{prefix}.covar.tsv")}


def pool_config(args: argparse.Namespace) -> PoolConfig:
    """Pool of ``--pool-size`` index variants; scan without PCs (sex and age only)."""
    assoc = AssocConfig(n_pcs=0, exact_top=EXACT_TOP)
    clump = ClumpConfig(p1=args.clump_p1, p2=max(args.clump_p1, 0.1), r2=0.1, kb=250)
    return PoolConfig(max_size=args.pool_size, assoc=assoc, clump=clump)


def search_config(args: argparse.Namespace) -> SearchConfig:
    """Default search settings except the budget; no checkpoints."""
    return SearchConfig(budget=args.budget, checkpoint_every=0, pool_per_fold=False)


def make_inputs(p: dict[str, Path], n_samples: int, n_variants: int) -> dict[str, float]:
    """Generate the cohort and the outcome when absent; (wall s, peak RSS MB) of each generation."""
    made: dict[str, float] = {}
    if not p["prefix"].with_suffix(".bed").exists():
        cmd = [sys.executable, str(HERE / "make_bench_cohort.py"), "--samples", str(n_samples)]
        cmd += ["--variants", str(n_variants), "--out", str(p["prefix"])]
        wall, peak, rc = run_measured(cmd)
        if rc != 0:
            raise SystemExit(f"make_bench_cohort.py failed ({rc})")
        made |= {"cohort_s": wall, "cohort_peak_mb": peak}
    if not p["pheno"].exists():
        cmd = [sys.executable, __file__, "--worker", "pheno", "--samples", str(n_samples)]
        cmd += ["--variants", str(n_variants)]
        wall, peak, rc = run_measured(cmd)
        if rc != 0:
            raise SystemExit(f"phenotype simulation failed ({rc})")
        made |= {"pheno_s": wall, "pheno_peak_mb": peak}
    return made


def open_cohort(p: dict[str, Path]) -> Cohort:
    return Cohort.from_files(p["prefix"], p["pheno"], None, p["covar"])


def peak_mb() -> float:
    """Peak RSS of this process so far, MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ----------------------------------------------------------------------------------------- workers (own process)
def worker_pheno(p: dict[str, Path], args: argparse.Namespace) -> dict[str, Any]:
    """Simulate the outcome on the fileset (frequencies streamed; only the causal columns decoded)."""
    sim = simulate_phenotype(open_plink(p["prefix"]), SIM)
    write_phenotype_files(sim, p["prefix"])
    return {"prevalence": sim.prevalence, "realised_h2": sim.realised_h2}


def qc_kept(fail_reason: pd.Series) -> npt.NDArray[np.intp]:
    """.bim rows that pass the maf and geno filters (the hwe filter is reported, not applied: see the docstring)."""
    reasons = fail_reason.astype(str)
    return np.flatnonzero(~(reasons.str.contains("maf") | reasons.str.contains("geno")).to_numpy())


def worker_assoc(p: dict[str, Path], args: argparse.Namespace) -> dict[str, Any]:
    """QC, scan of the QC-passing variants, pool from that scan; seconds and peak RSS after each step."""
    out: dict[str, Any] = {"peak_mb": {}, "seconds": {}}
    t = time.perf_counter()
    cohort = open_cohort(p)
    out["seconds"]["open"], out["peak_mb"]["open"] = time.perf_counter() - t, peak_mb()
    t = time.perf_counter()
    qc = compute_qc(cohort.fileset, QCConfig(), samples=cohort.sample_idx)
    keep = qc_kept(qc.variants["FAIL_REASON"])
    out["seconds"]["qc"], out["peak_mb"]["qc"] = time.perf_counter() - t, peak_mb()
    conf = pool_config(args)
    t = time.perf_counter()
    result = scan(cohort, conf.assoc, variants=keep)
    out["seconds"]["scan"], out["peak_mb"]["scan"] = time.perf_counter() - t, peak_mb()
    out["scan_phases"] = result.timings

    def cached_scan(c: Cohort, config: AssocConfig, samples: Any = None, **kw: Any) -> AssocResult:
        """The scan above (same cohort rows, covariates and variants), not run again."""
        assert config == conf.assoc and np.array_equal(samples, np.arange(cohort.n)) and kw.get("covariates") is None
        assert np.array_equal(kw["variants"], keep)
        return result

    t = time.perf_counter()
    pool = build_pool(cohort, conf, scan_fn=cached_scan, variants=keep)
    out["seconds"]["pool"], out["peak_mb"]["pool"] = time.perf_counter() - t, peak_mb()
    result.table.to_pickle(p["out"] / "scan_local.pkl")
    np.save(p["out"] / "qc_keep.npy", keep)
    np.save(p["out"] / "pool.npy", pool.variant_idx)
    out |= {
        "n_samples": cohort.n,
        "n_cases": int(cohort.y.sum()),
        "n_variants": cohort.fileset.n_variants,
        "n_qc_pass": int(keep.size),
        "qc_removed": qc.removed,
        "lambda_gc": result.lambda_gc,
        "n_exact": int((result.table["test"] != "score").sum()),
        "n_clumps": pool.record["n_clumps"],
        "n_pool": len(pool),
    }
    return out


def worker_foldpool(p: dict[str, Path], args: argparse.Namespace) -> dict[str, Any]:
    """One inner fold's pool (scan + clumping on its training rows): what pool_per_fold repeats per fold."""
    cohort = open_cohort(p)
    keep = np.load(p["out"] / "qc_keep.npy")
    train, _ = make_folds(cohort.y.astype(np.int64), search_config(args).folds, args.seed)[0]
    t = time.perf_counter()
    pool = build_pool(cohort, pool_config(args), train_idx=train, variants=keep)
    return {"seconds": time.perf_counter() - t, "n_train": int(train.size), "n_pool": len(pool), "peak_mb": peak_mb()}


def pool_fitness(cohort: Cohort, pool_idx: npt.NDArray[np.intp], seed: int, folds: int) -> CVFitness:
    """CVFitness of the pool's genotypes (all samples, missing -> column mean), sex + age, ``folds`` folds."""
    order = np.argsort(pool_idx, kind="stable")
    g = cohort.fileset.read(variants=pool_idx[order], samples=cohort.sample_idx, dtype=np.float64)
    g = g[:, np.argsort(order)]
    missing = np.isnan(g)
    g[missing] = np.take(np.nanmean(g, axis=0), np.nonzero(missing)[1])
    y = cohort.y.astype(np.int64)
    return CVFitness(g, cohort.covariates.to_numpy(dtype=np.float64), y, make_folds(y, folds, seed), seed=seed)


def run_engine(fitness: CVFitness, conf: SearchConfig, seed: int) -> tuple[SearchResult, float]:
    """The GA over the pool (top-k seeds as in run_search); (result, seconds of engine.run)."""
    space = SearchSpace.from_config(fitness.n_pool, conf)
    engine = make_engine(space, conf, order=list(range(fitness.n_pool)))
    evaluator = make_evaluator(fitness, conf.jobs, conf.scheduler)
    t = time.perf_counter()
    try:
        result = engine.run(fitness, conf.budget, seed, evaluator=evaluator, initial=space.top_k(conf.top_k_seeds))
    finally:
        evaluator.close()
    return result, time.perf_counter() - t


def search_record(result: SearchResult, seconds: float) -> dict[str, Any]:
    best = result.best
    return {
        "search_s": seconds,
        "n_evaluations": result.n_evaluations,
        "n_cache_hits": result.n_cache_hits,
        "evals_per_s": result.n_evaluations / seconds,
        "best": f"{best.candidate.family}, {best.candidate.n_variants} variants, CV AUC {best.mean_auc:.4f}",
    }


def evaluation_list(result: SearchResult) -> list[tuple[Any, npt.NDArray[np.float64]]]:
    """(candidate, fold AUCs) of every evaluation, in evaluation order."""
    return [(e.candidate, e.fold_aucs) for e in result.evaluations]


def worker_search(p: dict[str, Path], args: argparse.Namespace) -> dict[str, Any]:
    """Serial search over the pool on all samples; evaluations per second, per family."""
    from bench_search_e2e import family_timer

    cohort = open_cohort(p)
    conf = search_config(args)
    t = time.perf_counter()
    fitness = pool_fitness(cohort, np.load(p["out"] / "pool.npy"), args.seed, conf.folds)
    read_s = time.perf_counter() - t
    with family_timer() as fam:
        result, seconds = run_engine(fitness, conf, args.seed)
    with open(p["out"] / "search_local.pkl", "wb") as handle:
        pickle.dump({"evaluations": evaluation_list(result), "best": result.best.candidate}, handle)
    families = {k: (int(v[0]), v[1]) for k, v in fam.items()}
    return search_record(result, seconds) | {"read_s": read_s, "families": families, "peak_mb": peak_mb()}


def same_evaluations(a: list[tuple[Any, Any]], b: list[tuple[Any, Any]]) -> bool:
    """Same candidates in the same order with bit-identical fold AUCs."""
    return len(a) == len(b) and all(x[0] == y[0] and np.array_equal(x[1], y[1]) for x, y in zip(a, b, strict=True))


def paired_scan(p: dict[str, Path], args: argparse.Namespace, cohort: Cohort, client: Any) -> dict[str, Any]:
    """The scan locally (2 threads) then on the cluster, back to back; identical tables?"""
    conf, keep = pool_config(args).assoc, np.load(p["out"] / "qc_keep.npy")
    t = time.perf_counter()
    local = scan(cohort, conf, variants=keep)
    t_local = time.perf_counter() - t
    t = time.perf_counter()
    remote = scan(cohort, conf, variants=keep, client=client)
    t_remote = time.perf_counter() - t
    part_a = pd.read_pickle(p["out"] / "scan_local.pkl")
    return {
        "scan_local_s": t_local,
        "scan_s": t_remote,
        "scan_identical": bool(remote.table.equals(local.table)),
        "scan_identical_part_a": bool(remote.table.equals(part_a)),
        "scan_max_abs_diff_p": float(np.nanmax(np.abs(remote.table["p_value"] - local.table["p_value"]))),
    }


def paired_search(p: dict[str, Path], args: argparse.Namespace, cohort: Cohort, address: str) -> dict[str, Any]:
    """The search serially then on the cluster (each with a fresh fitness), back to back; identical?"""
    from dataclasses import replace

    pool_idx = np.load(p["out"] / "pool.npy")
    conf = search_config(args)
    local, t_local = run_engine(pool_fitness(cohort, pool_idx, args.seed, conf.folds), conf, args.seed)
    remote_conf = replace(conf, scheduler=address, jobs=2)
    remote, t_remote = run_engine(pool_fitness(cohort, pool_idx, args.seed, conf.folds), remote_conf, args.seed)
    with open(p["out"] / "search_local.pkl", "rb") as handle:
        part_b = pickle.load(handle)
    ours = evaluation_list(remote)
    return search_record(remote, t_remote) | {
        "search_local_s": t_local,
        "search_identical": same_evaluations(ours, evaluation_list(local)),
        "search_identical_part_b": same_evaluations(ours, part_b["evaluations"]),
        "best_identical": remote.best.candidate == local.best.candidate == part_b["best"],
    }


def worker_dask(p: dict[str, Path], args: argparse.Namespace) -> dict[str, Any]:
    """The same scan and search on a 2-worker LocalCluster, each paired with a local run just before."""
    from distributed import Client, LocalCluster

    cohort = open_cohort(p)
    t = time.perf_counter()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40)
    client = Client(cluster)
    out: dict[str, Any] = {"cluster_start_s": time.perf_counter() - t}
    try:
        out |= paired_scan(p, args, cohort, client)
        out |= paired_search(p, args, cohort, cluster.scheduler_address)
    finally:
        client.close()
        cluster.close()
    return out


WORKERS = {
    "pheno": worker_pheno,
    "assoc": worker_assoc,
    "foldpool": worker_foldpool,
    "search": worker_search,
    "dask": worker_dask,
}


def run_worker(name: str, args: argparse.Namespace, p: dict[str, Path]) -> dict[str, Any]:
    """Run one worker in its own process; its JSON result plus the process's wall time and peak RSS."""
    cmd = [sys.executable, __file__, "--worker", name, "--samples", str(args.samples), "--variants", str(args.variants)]
    cmd += ["--budget", str(args.budget), "--pool-size", str(args.pool_size), "--clump-p1", str(args.clump_p1)]
    cmd += ["--seed", str(args.seed)]
    out_path = p["out"] / f"worker_{name}.json"
    print(f"[{time.strftime('%H:%M:%S')}] {name} ...", flush=True)
    wall, peak, rc = run_measured(cmd, stdout_path=out_path)
    if rc != 0:
        raise SystemExit(f"worker {name} failed with exit status {rc}")
    result: dict[str, Any] = json.loads(out_path.read_text())
    result |= {"process_s": wall, "process_peak_mb": peak}
    print(f"  {name}: {wall:.1f} s, peak RSS {peak:.0f} MB: {result}", flush=True)
    return result


# ----------------------------------------------------------------------------------------- genopt CLI vs plink2
def genopt_cmd(p: dict[str, Path], out: Path) -> list[str]:
    return [GENOPT, "-q", "assoc", "--bfile", str(p["prefix"]), "--pheno", str(p["pheno"]), "--pheno-name",
            "cooperate", "--covar", str(p["covar"]), "--pcs", "0", "--exact-top", str(EXACT_TOP), "--no-plots",
            "--out", str(out)]  # fmt: skip


def plink2_cmd(p: dict[str, Path], out: Path, threads: int) -> list[str]:
    return ["plink2", "--bfile", str(p["prefix"]), "--pheno", str(p["pheno"]), "--pheno-name", "cooperate", "--1",
            "--covar", str(p["covar"]), "--covar-variance-standardize", "--glm", "hide-covar", "omit-ref",
            "--threads", str(threads), "--out", str(out)]  # fmt: skip


def compare_plink2(p: dict[str, Path], threads: int) -> dict[str, Any]:
    """Whole-process wall time and peak RSS of genopt assoc and plink2 --glm (one run each); p agreement."""
    res: dict[str, Any] = {}
    for tool, cmd in (
        ("genopt", genopt_cmd(p, p["out"] / "genopt_assoc.tsv")),
        ("plink2", plink2_cmd(p, p["out"] / "plink2", threads)),
    ):
        print(f"[{time.strftime('%H:%M:%S')}] {tool} ...", flush=True)
        wall, peak, rc = run_measured(cmd)
        if rc != 0:
            raise SystemExit(f"{tool} failed ({rc}): {' '.join(cmd)}")
        res[tool] = {"wall_s": wall, "peak_mb": peak}
        print(f"  {tool}: {wall:.1f} s, peak RSS {peak:.0f} MB", flush=True)
    res["accuracy"] = accuracy(p["out"] / "genopt_assoc.tsv", p["out"] / "plink2")
    return res


# ----------------------------------------------------------------------------------------- report
def machine() -> str:
    """CPU model, cores and memory of this machine."""
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), platform.processor())
    gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {gib:.0f} GiB"


def commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return out.stdout.strip()


def qc_text(removed: dict[str, int]) -> str:
    return ", ".join(f"{n:,} by {k}" for k, n in removed.items())


def assoc_lines(a: dict[str, Any], fold: dict[str, Any] | None, folds: int) -> list[str]:
    """Part a: QC, scan, pool; seconds and peak RSS after each step."""
    sec, peak = a["seconds"], a["peak_mb"]
    lines = [
        "**a. QC + association scan + candidate pool** (one process; peak RSS of the process after each step, so "
        "each figure includes the steps before it):",
        "",
        "| step | seconds | process peak RSS MB after the step |",
        "|---|---|---|",
    ]
    what = {
        "open": "open the cohort (.bim/.fam, phenotype, covariates)",
        "qc": f"`compute_qc` (default QCConfig, streamed; would remove {qc_text(a['qc_removed'])})",
        "scan": f"`scan` of the {a['n_qc_pass']:,} variants passing maf and geno (score test; exact test of "
        f"{a['n_exact']:,}; screen {a['scan_phases']['screen']:.1f} s, exact {a['scan_phases']['exact']:.1f} s)",
        "pool": f"`build_pool` on that scan (clumping: {a['n_clumps']:,} clumps, pool {a['n_pool']:,})",
    }
    for key, text in what.items():
        lines.append(f"| {text} | {sec[key]:.1f} | {peak[key]:.0f} |")
    total = a["process_peak_mb"]
    verdict = "met" if total < PEAK_TARGET_MB else "**missed**"
    lines += [
        f"| whole process (incl. interpreter start and imports) | {a['process_s']:.1f} | {total:.0f} |",
        "",
        f"Peak RSS target < {PEAK_TARGET_MB:,} MB: {verdict} ({total / PEAK_TARGET_MB:.2f} of the target). "
        f"{a['n_samples']:,} samples ({a['n_cases']:,} cooperate), {a['n_variants']:,} variants, lambda_GC "
        f"{a['lambda_gc']:.3f}. No PCs (sex and age only): the cohort is a mosaic of random HapMap 3 donors per "
        "segment, so it has little population structure to correct, and PCA is benchmarked elsewhere "
        "(bench_search_e2e.py --profile). The HWE filter is not applied before the scan: the generated people "
        "are mosaics of HapMap 3's several populations, a ~3 % heterozygote deficit (Wahlund effect) that "
        "HWE p < 1e-6 detects at 50,000 samples; no real cohort of this size would lose those variants.",
        "",
        "Before commit e8cd9f9 the exact refit took blocks of 256 variants whatever the number of samples; "
        "at 50,000 samples one block's Newton fits held 1.7 GB (tracemalloc) and, on 2 threads, this step "
        "peaked at 3,833 MB RSS (65,009 variants scanned, HWE applied; 49 s). The block is now capped at 2.56 "
        f"million samples x variants ({exact_block(a['n_samples'])} variants here, unchanged up to 10,000 samples).",
    ]
    if fold is not None:
        lines += [
            "",
            f"`pool_per_fold` (default in `run_search`; **not used** in part b): one fold's pool (scan + clumping "
            f"on {fold['n_train']:,} training rows) took {fold['seconds']:.1f} s (process peak "
            f"{fold['process_peak_mb']:.0f} MB), so rebuilding it in each of the {folds} folds would add about "
            f"{folds * fold['seconds']:.0f} s before the search.",
        ]
    return lines


def search_lines(s: dict[str, Any], budget: int) -> list[str]:
    """Part b: serial search, evaluations per second per family."""
    lines = [
        "",
        f"**b. Search over the pool on all samples** (GA, default SearchConfig but budget {budget}, 5-fold CV "
        "AUC, sex + age always in the model, serial evaluator = one core, BLAS single-threaded): reading and "
        f"imputing the pool genotypes {s['read_s']:.1f} s; search {s['search_s']:.1f} s for "
        f"{s['n_evaluations']} evaluations = **{s['evals_per_s']:.3f} evaluations/s** "
        f"({s['n_cache_hits']} cache hits); process peak RSS {s['process_peak_mb']:.0f} MB; best: {s['best']}.",
        "",
        "| family | evaluations | seconds | evaluations/s |",
        "|---|---|---|---|",
    ]
    for fam, (n, sec) in sorted(s["families"].items(), key=lambda kv: -kv[1][1]):
        lines.append(f"| {fam} | {n} | {sec:.1f} | {n / sec:.3f} |")
    lines.append(
        "\nThe ridge family's first evaluation includes the fast path's one-time cross-products of the whole "
        "pool in every fold."
    )
    return lines


def plink_lines(c: dict[str, Any], p: dict[str, Path], threads: int) -> list[str]:
    """Part c: genopt assoc vs plink2 --glm."""
    g, k, acc = c["genopt"], c["plink2"], c["accuracy"]
    return [
        "",
        "**c. genopt assoc vs plink2 --glm** (whole processes, one run each, all variants, sex + age):",
        "",
        f"- genopt: `{' '.join(genopt_cmd(p, Path('OUT.tsv')))}`".replace(str(REPO) + "/", ""),
        f"- plink2: `{' '.join(plink2_cmd(p, Path('OUT'), threads))}`".replace(str(REPO) + "/", ""),
        "",
        "| tool | wall s | peak RSS MB |",
        "|---|---|---|",
        f"| genopt assoc (score test of all + exact top {EXACT_TOP:,}) | {g['wall_s']:.1f} | {g['peak_mb']:.0f} |",
        f"| plink2 --glm (exact logistic of all) | {k['wall_s']:.1f} | {k['peak_mb']:.0f} |",
        "",
        f"plink2 / genopt wall time = **{k['wall_s'] / g['wall_s']:.1f}x**. Agreement on the same run "
        f"({acc['n_compared']:,} variants with a p from both): Pearson r of -log10 p = "
        f"**{acc['pearson_log10p_all']:.7f}** (Spearman {acc['spearman_log10p_all']:.7f}); the "
        f"{acc['n_exact']:,} exact rows' OR differ from plink2's by at most {acc['max_rel_or_exact']:.2g} relative; "
        f"{acc['top100_overlap']} of plink2's top 100 are in genopt's top 100.",
    ]


def dask_lines(d: dict[str, Any]) -> list[str]:
    """Part d: the same scan and search on a 2-worker LocalCluster, each after a local run in the same process."""
    yes = {True: "**identical**", False: "**DIFFERENT**"}
    return [
        "",
        "**d. Distributed** (`distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True)` started "
        f"by the benchmark, {d['cluster_start_s']:.1f} s to start; same machine, so the 2 workers share the 2 "
        "cores). Each dask run follows a local run of the same step in the same process, so that both see about "
        "the same load:",
        "",
        "| part | local s | dask s | dask / local | result |",
        "|---|---|---|---|---|",
        f"| scan (`scan(..., client=)`; local: 2 threads) | {d['scan_local_s']:.1f} | {d['scan_s']:.1f} | "
        f"{d['scan_s'] / d['scan_local_s']:.2f} | table {yes[d['scan_identical']]} to the local run's, cell for "
        f"cell (max abs p difference {d['scan_max_abs_diff_p']:.3g}); {yes[d['scan_identical_part_a']]} to part "
        "a's |",
        f"| search (`SearchConfig(scheduler=<address>, jobs=2)`; local: serial, one core) | "
        f"{d['search_local_s']:.1f} | {d['search_s']:.1f} | {d['search_s'] / d['search_local_s']:.2f} | "
        f"{d['n_evaluations']} evaluations {yes[d['search_identical']]} to the local run's (same candidates, same "
        f"order, same fold AUCs), {yes[d['search_identical_part_b']]} to part b's; best candidate "
        f"{yes[d['best_identical']]} |",
        "",
        f"Dask search: {d['evals_per_s']:.3f} evaluations/s vs {d['n_evaluations'] / d['search_local_s']:.3f} "
        f"serial in the same process. That process (both local runs, the client and scheduler, and a second pool "
        f"fitness serialised to the workers) peaked at {d['process_peak_mb']:.0f} MB RSS; the worker processes' "
        "memory is not measured.",
    ]


def report(runs: dict[str, Any], args: argparse.Namespace, p: dict[str, Path]) -> str:
    """The "scale" section of RESULTS.md."""
    lb, la = runs["load_before"], runs["load_after"]
    cmd = ".venv/bin/python benchmarks/bench_scale.py " + " ".join(runs["argv"])
    bed_gb = p["prefix"].with_suffix(".bed").stat().st_size / 1e9
    lines = [
        BEGIN,
        "## Scale and distributed (issue 7)",
        "",
        f"Run {runs['started']} at commit `{runs['commit']}`. Reproduce: `{cmd.strip()}` (builds its inputs when "
        f"missing). Machine: {machine()}, shared with other sessions running tests; load average "
        f"{lb[0]:.2f} {lb[1]:.2f} {lb[2]:.2f} before, {la[0]:.2f} {la[1]:.2f} {la[2]:.2f} after: timings are noisy. "
        "**Every figure is a single run.**",
        "",
        f"Input: `{p['prefix'].relative_to(REPO)}` ({args.samples:,} samples x {args.variants:,} variants, "
        f".bed {bed_gb:.2f} GB; `make_bench_cohort.py`), outcome `simulate_phenotype` (50 causal, h2 0.3, "
        "no ancestry effect, seed 11), covariates sex and age.",
    ]
    made = runs["inputs"]
    if "cohort_s" in made:
        lines.append(
            f"Generating it took {made['cohort_s']:.0f} s at {made['cohort_peak_mb']:.0f} MB peak RSS (streamed)."
        )
    if "pheno_s" in made:
        lines.append(f"The outcome: {made['pheno_s']:.0f} s at {made['pheno_peak_mb']:.0f} MB peak RSS.")
    lines.append("")
    lines += assoc_lines(runs["assoc"], runs.get("foldpool"), search_config(args).folds)
    lines += search_lines(runs["search"], args.budget)
    if "plink2" in runs:
        lines += plink_lines(runs["plink2"], p, args.threads)
    if "dask" in runs:
        lines += dask_lines(runs["dask"])
    lines.append(END)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=50_000)
    parser.add_argument("--variants", type=int, default=200_000)
    parser.add_argument("--budget", type=int, default=200, help="search evaluations (default 200)")
    parser.add_argument("--pool-size", type=int, default=2000)
    parser.add_argument("--clump-p1", type=float, default=0.05, help="pool clumping index p threshold")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="plink2 --threads")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: plink2, dask, foldpool")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    parser.add_argument("--report-only", action="store_true", help="rewrite the section from the last runs.json")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    p = paths(args.samples, args.variants)
    if args.worker:
        print(json.dumps(WORKERS[args.worker](p, args), default=float))
        return 0
    if args.report_only:
        return write_section(json.loads((p["out"] / "runs.json").read_text()), args, p)
    if "plink2" not in args.skip and shutil.which("plink2") is None:
        raise SystemExit("plink2 not on PATH (or --skip plink2)")
    p["out"].mkdir(parents=True, exist_ok=True)
    made = make_inputs(p, args.samples, args.variants)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_before = os.getloadavg()
    runs: dict[str, Any] = {"inputs": made, "commit": commit()}
    runs["assoc"] = run_worker("assoc", args, p)
    if "foldpool" not in args.skip:
        runs["foldpool"] = run_worker("foldpool", args, p)
    runs["search"] = run_worker("search", args, p)
    if "plink2" not in args.skip:
        runs["plink2"] = compare_plink2(p, args.threads)
    if "dask" not in args.skip:
        runs["dask"] = run_worker("dask", args, p)
    load_after = os.getloadavg()
    runs |= {"started": started, "load_before": load_before, "load_after": load_after, "argv": sys.argv[1:]}
    (p["out"] / "runs.json").write_text(json.dumps(runs, indent=1, default=float))
    return write_section(runs, args, p)


def write_section(runs: dict[str, Any], args: argparse.Namespace, p: dict[str, Path]) -> int:
    """Print the section and, unless ``--no-write``, put it into RESULTS.md."""
    section = report(runs, args, p)
    print(section)
    if not args.no_write:
        write_results(section, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
