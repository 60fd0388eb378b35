"""Loader benchmark: genopt's .bed decoder against pandas-plink, bed-reader and plink2.

Three tasks on one PLINK 1 fileset (default: the 5,000 x 100,000 cohort that
``make_bench_cohort.py`` writes into benchmarks/work/):

* ``full``:  read every genotype;
* ``v1000``: read 1,000 random variants (sorted, same set for every tool);
* ``half``:  read a random half of the samples (sorted), all variants;

plus genopt's streaming pass (``iter_variant_chunks`` over all variants, all
samples and half the samples), the pattern of the association scan.

Each (tool, task) runs in its own worker process (so its peak RSS is its own)
``--reps`` times; every repetition opens the fileset afresh and then reads, and
both the total (open + read) and the read alone are timed. plink2 is timed as
a whole process (start, .bim/.fam parsing, work, output) with ``--threads 2``.
The .bed is read once before timing, so every run reads from the page cache.
All runs are printed; tables report medians. A correctness check (genopt vs
bed-reader, pandas-plink and plink2 --freq on the same variants) runs once.

The "Loader" section of benchmarks/RESULTS.md is rewritten (other sections are
kept).

Usage (from the repository root)::

    .venv/bin/python benchmarks/make_bench_cohort.py
    .venv/bin/python benchmarks/bench_loader.py            # ~1.5-2 minutes
    .venv/bin/python benchmarks/bench_loader.py --reps 2 --no-write   # quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
WORK = HERE / "work"
RESULTS = HERE / "RESULTS.md"
DEFAULT_PREFIX = WORK / "cohort_5000x100000"
BEGIN, END = "<!-- BEGIN loader (written by benchmarks/bench_loader.py) -->", "<!-- END loader -->"

TASKS = {
    "full": "read everything",
    "v1000": "read 1,000 random variants",
    "half": "read half the samples",
    "stream": "stream all variants (iter_variant_chunks)",
    "stream_half": "stream all variants, half the samples",
}
# (tool, task, label) in run order; genopt has int8 and float32 flavours of "full".
PY_JOBS = [
    ("genopt", "full", "genopt read_int8()"),
    ("genopt-float", "full", "genopt read() float32"),
    ("genopt", "v1000", "genopt read_int8(variants=)"),
    ("genopt", "half", "genopt read_int8(samples=)"),
    ("genopt", "stream", "genopt iter_variant_chunks()"),
    ("genopt", "stream_half", "genopt iter_variant_chunks(samples=)"),
    ("bed-reader", "full", "bed-reader read(dtype=int8)"),
    ("bed-reader", "v1000", "bed-reader read(index=[:, v])"),
    ("bed-reader", "half", "bed-reader read(index=[s, :])"),
    ("pandas-plink", "full", "pandas-plink .values"),
    ("pandas-plink", "v1000", "pandas-plink .isel(variant=).values"),
    ("pandas-plink", "half", "pandas-plink .isel(sample=).values"),
]
PLINK_JOBS = [
    ("plink2", "full", "plink2 --freq"),
    ("plink2-pgen", "full", "plink2 --make-pgen"),
    ("plink2", "v1000", "plink2 --extract --freq"),
    ("plink2", "half", "plink2 --keep --freq"),
]


# ----------------------------------------------------------------------------- worker


def _selections(prefix: Path) -> tuple[np.ndarray, np.ndarray]:
    sel = np.load(WORK / f"{prefix.name}.selections.npz")
    return sel["variants"], sel["samples"]


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def worker(tool: str, task: str, prefix: Path, reps: int, threads: int) -> dict[str, Any]:
    """Run one (tool, task) ``reps`` times in this process; return timings."""
    v_sel, s_sel = _selections(prefix)
    stem = str(prefix)
    if tool.startswith("genopt"):
        from genopt.io.plink import open_plink

        def opener() -> Any:
            return open_plink(prefix)

        def reader(f: Any) -> Any:
            if task == "full":
                return f.read() if tool == "genopt-float" else f.read_int8()
            if task == "v1000":
                return f.read_int8(variants=v_sel)
            if task == "half":
                return f.read_int8(samples=s_sel)
            samples = s_sel if task == "stream_half" else None
            n = 0
            for _idx, block in f.iter_variant_chunks(samples=samples):
                n += block.shape[1]
            assert n == f.n_variants
            return n

    elif tool == "bed-reader":
        from bed_reader import open_bed

        def opener() -> Any:
            # count_A1=True is bed-reader's default (the PLINK convention); said explicitly.
            return open_bed(stem + ".bed", count_A1=True, num_threads=threads)

        def reader(f: Any) -> Any:
            index = {"full": None, "v1000": np.s_[:, v_sel], "half": np.s_[s_sel, :]}[task]
            return f.read(index=index, dtype="int8")

    elif tool == "pandas-plink":
        import dask
        from pandas_plink import read_plink1_bin

        dask.config.set(scheduler="threads", num_workers=threads)

        def opener() -> Any:
            # ref="a0": count the .bim A1 (column 5); pandas-plink's default counts A2.
            return read_plink1_bin(stem + ".bed", stem + ".bim", stem + ".fam", ref="a0", verbose=False)

        def reader(f: Any) -> Any:
            if task == "full":
                return f.values
            if task == "v1000":
                return f.isel(variant=v_sel).values
            return f.isel(sample=s_sel).values

    else:
        raise ValueError(tool)

    baseline = _peak_mb()
    totals, reads, shape = [], [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        handle = opener()
        t1 = time.perf_counter()
        out = reader(handle)
        t2 = time.perf_counter()
        totals.append(t2 - t0)
        reads.append(t2 - t1)
        shape = list(np.shape(out))
        del out, handle
    return {"total": totals, "read": reads, "shape": shape, "baseline_mb": baseline, "peak_mb": _peak_mb()}


def check(prefix: Path, plink2: str, threads: int) -> dict[str, Any]:
    """Correctness, once: genopt against bed-reader, pandas-plink and plink2 --freq."""
    from bed_reader import open_bed
    from pandas_plink import read_plink1_bin

    from genopt.io.plink import open_plink

    v_sel, s_sel = _selections(prefix)
    stem = str(prefix)
    f = open_plink(prefix)
    g = f.read_int8(variants=v_sel)
    with open_bed(stem + ".bed", count_A1=True, num_threads=threads) as bed:
        br = bed.read(index=np.s_[:, v_sel], dtype="int8")
        br_half = bed.read(index=np.s_[s_sel, v_sel], dtype="int8")
        # Fewer than 1/8 of the samples take genopt's other sample-subset path (code-by-code extraction).
        few = s_sel[::16]
        br_few = bed.read(index=np.s_[few, v_sel], dtype="int8")
    for arr in (br, br_half, br_few):
        arr[arr == -127] = -1
    g_half = f.read_int8(samples=s_sel, variants=v_sel)
    g_few = f.read_int8(samples=few, variants=v_sel)
    gf_few = f.read(samples=few, variants=v_sel)
    pp = read_plink1_bin(stem + ".bed", stem + ".bim", stem + ".fam", ref="a0", verbose=False)
    pp_v = pp.isel(variant=v_sel).values
    gf = f.read(variants=v_sel)
    # plink2 --freq on the same 1,000 variants (ALT = the .bim A1 for a .bed input).
    out = WORK / "plink2" / "check"
    subprocess.run(
        [
            plink2,
            "--bfile",
            stem,
            "--extract",
            str(WORK / "extract_1000.txt"),
            "--freq",
            "--threads",
            str(threads),
            "--out",
            str(out),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    import pandas as pd

    afreq = pd.read_csv(str(out) + ".afreq", sep="\t")
    bim = f.variants.iloc[v_sel]
    same_ids = bool((afreq["ID"].to_numpy() == bim["id"].to_numpy()).all())
    same_a1 = bool((afreq["ALT"].to_numpy() == bim["a1"].to_numpy()).all())
    obs = (g >= 0).sum(axis=0)
    freq = np.where(g >= 0, g, 0).sum(axis=0) / (2 * obs)
    return {
        "genopt_eq_bedreader_v1000": bool(np.array_equal(g, br)),
        "genopt_eq_bedreader_half_x_v1000": bool(np.array_equal(g_half, br_half)),
        "genopt_eq_bedreader_few_samples_x_v1000": bool(
            np.array_equal(g_few, br_few) and np.array_equal(np.where(np.isnan(gf_few), -1, gf_few), br_few)
        ),
        "genopt_eq_pandasplink_v1000": bool(np.array_equal(gf, pp_v, equal_nan=True)),
        "plink2_ids_and_alt_match_bim_a1": same_ids and same_a1,
        "max_abs_diff_a1_freq_vs_plink2": float(np.max(np.abs(freq - afreq["ALT_FREQS"].to_numpy()))),
        "obs_ct_equal_plink2": bool(np.array_equal(2 * obs, afreq["OBS_CT"].to_numpy())),
        "missing_fraction": float(np.mean(g < 0)),
    }


# ----------------------------------------------------------------------------- parent


# Peak RSS of a child must not include the parent's: on Linux the maximum RSS survives fork + exec, so a
# child forked from this (~100 MB) process would report at least that. A minimal launcher interpreter
# (~10 MB, no imports beyond os/sys/time) forks the measured command, times it and reports its wait4 rusage.
_LAUNCHER = """
import os, sys, time
out, cmd = sys.argv[1], sys.argv[2:]
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    fd = os.open(out if out != "-" else os.devnull, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    if out == "-":
        os.dup2(fd, 2)
    os.execvp(cmd[0], cmd)
_, status, usage = os.wait4(pid, 0)
sys.stderr.write("\\n%r %d %d\\n" % (time.perf_counter() - t0, usage.ru_maxrss, os.waitstatus_to_exitcode(status)))
"""


def run_measured(cmd: list[str], stdout_path: Path | None = None) -> tuple[float, float, int]:
    """Run ``cmd`` through the launcher; return (wall s, the command's own peak RSS MB, exit status).

    With ``stdout_path``, the command's stdout goes there (its stderr is shown); otherwise both are discarded.
    """
    argv = [sys.executable, "-S", "-c", _LAUNCHER, str(stdout_path) if stdout_path else "-", *cmd]
    proc = subprocess.run(argv, stderr=subprocess.PIPE, text=True)
    lines = proc.stderr.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"launcher failed for {' '.join(cmd)}:\n{proc.stderr}")
    sys.stderr.write("\n".join(lines[:-1]) + ("\n" if len(lines) > 1 else ""))
    wall, maxrss, rc = lines[-1].split()
    return float(wall), int(maxrss) / 1024, int(rc)


def run_python_job(tool: str, task: str, prefix: Path, reps: int, threads: int) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        tool,
        task,
        "--prefix",
        str(prefix),
        "--reps",
        str(reps),
        "--threads",
        str(threads),
    ]
    out_path = WORK / f"worker_{tool}_{task}.json"
    _, peak, rc = run_measured(cmd, stdout_path=out_path)
    if rc != 0:
        raise SystemExit(f"worker {tool} {task} failed with exit status {rc}")
    result: dict[str, Any] = json.loads(out_path.read_text())
    out_path.unlink()
    result["peak_mb_process"] = peak
    return result


def run_plink_job(tool: str, task: str, prefix: Path, reps: int, threads: int, plink2: str) -> dict[str, Any]:
    out = WORK / "plink2" / f"{tool}_{task}"
    cmd = [plink2, "--bfile", str(prefix), "--threads", str(threads), "--out", str(out)]
    if tool == "plink2-pgen":
        cmd.append("--make-pgen")
    else:
        cmd.append("--freq")
    if task == "v1000":
        cmd += ["--extract", str(WORK / "extract_1000.txt")]
    elif task == "half":
        cmd += ["--keep", str(WORK / "keep_half.txt")]
    totals, peaks = [], []
    for _ in range(reps):
        wall, peak, rc = run_measured(cmd)
        if rc != 0:
            raise SystemExit(f"{' '.join(cmd)} failed with exit status {rc}; see {out}.log")
        totals.append(wall)
        peaks.append(peak)
    for ext in (".pgen", ".pvar", ".psam"):
        Path(str(out) + ext).unlink(missing_ok=True)
    return {
        "total": totals,
        "read": None,
        "peak_mb_process": max(peaks),
        "baseline_mb": None,
        "command": " ".join(["plink2", *cmd[1:]]).replace(str(REPO) + "/", ""),
    }


def machine() -> dict[str, Any]:
    from importlib.metadata import version

    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    plink2 = subprocess.run(["plink2", "--version"], capture_output=True, text=True).stdout.strip()
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        plink_commit = subprocess.run(
            ["git", "-C", str(REPO), "log", "-1", "--format=%h", "--", "genopt/io/plink.py"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "diff", "--quiet", "HEAD", "--", "genopt/io/plink.py"])
        if dirty.returncode != 0:
            plink_commit += " + uncommitted changes"
    except OSError:
        commit = plink_commit = "?"
    try:
        from genopt.io.plink import _decode_threads

        genopt_threads: int | str = _decode_threads()
    except ImportError:
        genopt_threads = 1
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": model,
        "mem_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "bed_reader": version("bed-reader"),
        "pandas_plink": version("pandas-plink"),
        "dask": version("dask"),
        "plink2": plink2,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "(not set)"),
        "commit": commit,
        "plink_py_commit": plink_commit,
        "genopt_threads": genopt_threads,
    }


def prepare(prefix: Path, seed: int) -> tuple[int, int]:
    """Choose the selections (seeded) and write them for the workers and plink2."""
    import pandas as pd

    bim = pd.read_csv(str(prefix) + ".bim", sep="\t", header=None, usecols=[1], dtype=str)[1].to_numpy()
    fam = pd.read_csv(str(prefix) + ".fam", sep="\t", header=None, usecols=[0, 1], dtype=str).to_numpy()
    rng = np.random.default_rng(seed)
    v_sel = np.sort(rng.choice(len(bim), size=min(1000, len(bim)), replace=False))
    s_sel = np.sort(rng.choice(len(fam), size=len(fam) // 2, replace=False))
    np.savez(WORK / f"{prefix.name}.selections.npz", variants=v_sel, samples=s_sel)
    (WORK / "extract_1000.txt").write_text("\n".join(bim[v_sel]) + "\n")
    (WORK / "keep_half.txt").write_text("".join(f"{a}\t{b}\n" for a, b in fam[s_sel]))
    (WORK / "plink2").mkdir(exist_ok=True)
    # Warm the page cache so that every tool reads the .bed from memory.
    with open(str(prefix) + ".bed", "rb") as handle:
        while handle.read(1 << 24):
            pass
    return len(fam), len(bim)


def _med(x: list[float] | None) -> float | None:
    return None if not x else statistics.median(x)


def _fmt(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "-"
    if x >= 100:
        return f"{x:.0f}"
    return f"{x:.{digits}g}"


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "-"
    r = a / b
    return f"{r:.3g}"


def render(
    results: dict[tuple[str, str], dict[str, Any]],
    labels: dict[tuple[str, str], str],
    n_samples: int,
    n_variants: int,
    info: dict[str, Any],
    checks: dict[str, Any],
    args: argparse.Namespace,
    load: dict[str, Any],
    wall: float,
) -> str:
    genos = {
        "full": n_samples * n_variants,
        "v1000": n_samples * 1000,
        "half": (n_samples // 2) * n_variants,
        "stream": n_samples * n_variants,
        "stream_half": (n_samples // 2) * n_variants,
    }
    lines = []
    lines.append(
        "| task | tool / call | median total s (open + read) | median read s | read s per 10^9 genotypes | "
        "peak RSS MB (process; after imports) | all runs, total s |"
    )
    lines.append("|---|---|---|---|---|---|---|")
    for (tool, task), r in results.items():
        tot, rd = _med(r["total"]), _med(r["read"])
        per = rd / genos[task] * 1e9 if rd is not None else None
        base = f"; {r['baseline_mb']:.0f}" if r.get("baseline_mb") else ""
        lines.append(
            f"| {task} | {labels[(tool, task)]} | {_fmt(tot)} | {_fmt(rd)} | {_fmt(per)} | "
            f"{r['peak_mb_process']:.0f}{base} | {', '.join(f'{t:.3g}' for t in r['total'])} |"
        )
    table = "\n".join(lines)

    def med(tool: str, task: str, key: str = "total") -> float | None:
        r = results.get((tool, task))
        return None if r is None else _med(r[key])

    rl = [
        "| genopt call | task | genotypes | genopt s per 10^9 (read) | genopt / plink2 --freq (total) | "
        "genopt / bed-reader (total) | genopt / bed-reader (read) | genopt / pandas-plink (total) | "
        "genopt / pandas-plink (read) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for gtool, task in [("genopt", "full"), ("genopt-float", "full"), ("genopt", "v1000"), ("genopt", "half")]:
        if (gtool, task) not in results:
            continue
        rd = med(gtool, task, "read")
        rl.append(
            f"| {labels[(gtool, task)]} | {TASKS[task]} | {genos[task]:.3g} | "
            f"{_fmt(rd / genos[task] * 1e9 if rd else None)} | "
            f"{_ratio(med(gtool, task), med('plink2', task))} | "
            f"{_ratio(med(gtool, task), med('bed-reader', task))} | "
            f"{_ratio(rd, med('bed-reader', task, 'read'))} | "
            f"{_ratio(med(gtool, task), med('pandas-plink', task))} | "
            f"{_ratio(rd, med('pandas-plink', task, 'read'))} |"
        )
    ratios = "\n".join(rl)

    plink_cmds = "\n".join(f"- {labels[k]}: `{results[k]['command']}`" for k in results if k[0].startswith("plink2"))
    check_lines = "\n".join(f"- `{k}`: {v}" for k, v in checks.items())

    def per_g(tool: str, task: str) -> float | None:
        r = results.get((tool, task))
        if r is None or not r["read"]:
            return None
        return float(statistics.median(r["read"]) / genos[task] * 1e9)

    def verdict(x: float | None) -> str:
        if x is None:
            return "not measured"
        return f"{x:.2f} s per 10^9 ({'within' if x <= 2 else 'above'} the 2 s bar)"

    hot = (
        "Hot path (the association scan's pattern): streaming every variant through `iter_variant_chunks` "
        f"costs {verdict(per_g('genopt', 'stream'))} with all samples and "
        f"{verdict(per_g('genopt', 'stream_half'))} with half of them, with genopt's "
        f"{info['genopt_threads']} decode threads."
    )
    decoder = (
        f"Measured here, genopt's decoder costs {verdict(per_g('genopt', 'full'))} for the full int8 read "
        f"(which also allocates and first-touches the whole output), {verdict(per_g('genopt', 'stream'))} "
        f"streamed, and {verdict(per_g('genopt', 'half'))} for half the samples; pandas-plink's decoder costs "
        f"{_fmt(per_g('pandas-plink', 'full'))} s per 10^9 for the full read and "
        f"{_fmt(per_g('pandas-plink', 'v1000'))} s per 10^9 for 1,000 random variants (it decodes whole "
        f"1024 x 1024 chunks), bed-reader {_fmt(per_g('bed-reader', 'full'))} s per 10^9 on {args.threads} threads."
    )
    return f"""{BEGIN}
## Loader

Run {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())} at commit `{info["commit"]}`; whole benchmark {wall:.0f} s.

Reproduce (from the repository root):

```
.venv/bin/python benchmarks/make_bench_cohort.py   # writes benchmarks/work/cohort_5000x100000.*
.venv/bin/python benchmarks/bench_loader.py --reps {args.reps} --threads {args.threads} --seed {args.seed}
```

**Data**: {n_samples:,} samples x {n_variants:,} variants ({n_samples * n_variants:.3g} genotypes, .bed
{(n_samples + 3) // 4 * n_variants / 1e6:.0f} MB), real HapMap 3 genotype segments recombined into new people
and tiled (see `make_bench_cohort.py`), {checks.get("missing_fraction", float("nan")):.2%} missing calls.
Selections are seeded (`--seed {args.seed}`), sorted, and the same for every tool. The .bed is in the page
cache for every run.

**Machine**: {info["nproc"]} cores ({info["cpu"]}), {info["mem_gb"]} GB RAM, Python {info["python"]}, numpy
{info["numpy"]}, bed-reader {info["bed_reader"]}, pandas-plink {info["pandas_plink"]} (dask {info["dask"]}),
{info["plink2"]}; OPENBLAS_CORETYPE={info["OPENBLAS_CORETYPE"]}. The machine is shared with other jobs:
load average (1, 5, 15 min) {load["before"]} before and {load["after"]} after the run.

**Method**: each (tool, task) runs {args.reps} times in its own worker process; each run opens the fileset
afresh (genopt parses .bim/.fam and memory-maps the .bed; pandas-plink parses .bim/.fam and builds its dask
graph; bed-reader opens lazily) and then reads. "total" = open + read, "read" = the read alone. Figures are
medians; all runs are listed (the first run in a worker is often slower: this VM pays for the first touch of
freshly allocated memory). Peak RSS is the worker's maximum resident set (the interpreter and imports
included; the second figure is the worker's peak before its first run). bed-reader and plink2 use
{args.threads} threads, pandas-plink's dask scheduler {args.threads} workers; genopt decodes blocks of
variants on its own thread pool ({info["genopt_threads"]} threads here: the cores it may use, at most 4).
bed-reader counts A1 (`count_A1=True`, its default), pandas-plink is asked for A1 with
`ref="a0"` (its default counts A2); bed-reader returns int8 (-127 missing), pandas-plink float32 (NaN).

**plink2** is timed as a whole process (start-up, .bim/.fam parsing, work, writing its small output) with
`--threads {args.threads}`. The comparable work for "read" is `--freq`: it must visit every genotype of the
selected variants and samples to count alleles, and its output is one line per variant, so its time is
reading. It never materialises a genotype matrix (it counts on the packed 2-bit data), so it is a lower bound
for any reader. `--make-pgen` (reading every genotype and re-encoding it into a .pgen) is listed as a second
full-read figure; it also writes ~the size of the .bed. Commands:

{plink_cmds}

### Timings

{table}

### Ratios (genopt / other; below 1 = genopt faster)

{ratios}

{hot}

### Correctness (checked once, on the benchmark file)

{check_lines}

### The decoder choice

genopt decodes on hot paths with its own decoder (`decode_bed` in `genopt/io/plink.py`, as of commit
`{info["plink_py_commit"]}`): the .bed is memory-mapped, only the requested variants' rows are gathered, and
each byte is mapped through a 256-entry lookup table whose rows (the four A1 counts the byte holds) are packed
into one machine word (uint32 for int8 output, 16 bytes for float32), so decoding is one `np.take` per block
of variants, written straight into the output by a small thread pool; a sample subset is taken from the
decoded rows (or, for fewer than 1/8 of the samples, extracted code by code). pandas-plink (chunked dask graph
over its C decoder, float32 output) is kept only for `PlinkFileset.as_dask()`. {decoder}
{END}
"""


def write_results(section: str, begin: str = BEGIN, end: str = END) -> None:
    """Replace the section between ``begin`` and ``end`` in RESULTS.md (append it if absent)."""
    header = """# Benchmark results

Each section below is written by one script in `benchmarks/` (see `benchmarks/README.md`) between its
`BEGIN`/`END` markers; rerunning a script replaces only its own section. Later benchmarks (association scan,
search) add their own sections the same way.

"""
    text = RESULTS.read_text() if RESULTS.exists() else header
    if begin in text and end in text:
        before, rest = text.split(begin, 1)
        after = rest.split(end, 1)[1]
        text = before + section.rstrip("\n") + after
    else:
        text = text.rstrip("\n") + "\n\n" + section
    tmp = RESULTS.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(RESULTS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prefix", type=Path, default=DEFAULT_PREFIX)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", default=None, help="comma-separated tools to run (default: all)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    parser.add_argument("--worker", nargs=2, metavar=("TOOL", "TASK"), help=argparse.SUPPRESS)
    parser.add_argument("--check", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    plink2 = shutil.which("plink2")

    if args.worker:
        print(json.dumps(worker(args.worker[0], args.worker[1], args.prefix, args.reps, args.threads)))
        return 0
    if args.check:
        print(json.dumps(check(args.prefix, plink2 or "plink2", args.threads)))
        return 0

    if not Path(str(args.prefix) + ".bed").exists():
        raise SystemExit(f"{args.prefix}.bed not found: run benchmarks/make_bench_cohort.py first")
    if plink2 is None:
        raise SystemExit("plink2 not on PATH")
    WORK.mkdir(exist_ok=True)
    start = time.perf_counter()
    load_before = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average before: {load_before}", flush=True)
    n_samples, n_variants = prepare(args.prefix, args.seed)
    only = set(args.only.split(",")) if args.only else None

    results: dict[tuple[str, str], dict[str, Any]] = {}
    labels: dict[tuple[str, str], str] = {}
    for tool, task, label in PY_JOBS + PLINK_JOBS:
        if only and tool.split("-")[0] not in only and tool not in only:
            continue
        if tool.startswith("plink2"):
            r = run_plink_job(tool, task, args.prefix, args.reps, args.threads, plink2)
        else:
            r = run_python_job(tool, task, args.prefix, args.reps, args.threads)
        results[(tool, task)] = r
        labels[(tool, task)] = label
        reads = "" if r["read"] is None else f"  read: {', '.join(f'{t:.3f}' for t in r['read'])}"
        print(
            f"{label:40s} {task:11s} total: {', '.join(f'{t:.3f}' for t in r['total'])}{reads}"
            f"  peak {r['peak_mb_process']:.0f} MB",
            flush=True,
        )

    with open(WORK / "check.json", "w") as handle:
        cmd = [sys.executable, __file__, "--check", "--prefix", str(args.prefix), "--threads", str(args.threads)]
        subprocess.run(cmd, stdout=handle, check=True)
    checks = json.loads((WORK / "check.json").read_text())
    print("checks:", json.dumps(checks, indent=1))
    load = {"before": load_before, "after": ", ".join(f"{x:.2f}" for x in os.getloadavg())}
    wall = time.perf_counter() - start
    section = render(results, labels, n_samples, n_variants, machine(), checks, args, load, wall)
    print(section)
    if not args.no_write:
        write_results(section)
        print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
