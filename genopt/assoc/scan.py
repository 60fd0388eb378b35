"""Genome-wide scan: score-test screening of every variant, exact tests of the reported ones.

:func:`scan` fits the null model once on the chosen samples, streams the
variants in chunks through :func:`score_chunk` (locally, or as dask tasks on a
``distributed`` cluster), then refits the top variants exactly with
:func:`~genopt.assoc.logistic.fit_variants` (logistic Wald test, Firth where
the fit fails, as ``plink2 --glm``'s default ``firth-fallback``).
:func:`run_assoc` is what ``genopt assoc`` calls.

All effects are per copy of the .bim **A1** allele (``effect_allele``).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from threadpoolctl import threadpool_limits

from genopt.assoc.logistic import CHI2_MEDIAN_1DF, NullModel, VariantFit, fit_null, fit_variants, score_test
from genopt.cluster import dask_client
from genopt.cohort import Cohort
from genopt.config import AssocConfig, PCAConfig
from genopt.cores import usable_cores
from genopt.errors import GenoptError
from genopt.io.atomic import write_tsv
from genopt.io.plink import PlinkFileset, open_plink

__all__ = [
    "COLUMNS",
    "AssocResult",
    "lambda_gc",
    "run_assoc",
    "scan",
    "score_chunk",
    "write_assoc",
]

log = logging.getLogger(__name__)

#: Output columns: GWAS-SSF core columns, then genopt's.
COLUMNS: tuple[str, ...] = (
    "chromosome",
    "base_pair_location",
    "effect_allele",
    "other_allele",
    "effect_allele_frequency",
    "beta",
    "standard_error",
    "p_value",
    "rsid",
    "n",
    "test",
    "error_code",
    "odds_ratio",
    "variant_index",
)


#: Largest exact-refit block in samples x variants (256 variants x 10,000 samples, ~340 MB of work arrays).
EXACT_BLOCK_CELLS = 2_560_000
#: Bounds of the exact-refit block in variants.
EXACT_MIN_BLOCK, EXACT_MAX_BLOCK = 16, 256


@dataclass(frozen=True, eq=False)
class AssocResult:
    """Per-variant association statistics.

    Attributes
    ----------
    table
        One row per variant in .bim order, columns :data:`COLUMNS`:
        ``effect_allele`` = .bim A1, ``other_allele`` = A2,
        ``effect_allele_frequency`` = A1 frequency among the called scanned
        samples; ``beta`` (log odds ratio per A1 copy), ``standard_error``,
        ``p_value``; ``n`` samples used; ``test`` = ``score`` (screening:
        one-step ``beta = U/V``, ``SE = 1/sqrt(V)``, score-test p, missing
        calls mean-imputed), ``wald`` (exact logistic regression, samples
        missing at the variant dropped) or ``firth`` (Firth regression after
        the logistic fit failed); ``error_code`` ``.`` or a code of
        :data:`genopt.assoc.logistic.ERROR_CODES` (then beta/SE/p are NaN);
        ``odds_ratio = exp(beta)``; ``variant_index`` row of the .bim.
    screen_p
        Score-test p of every variant (NaN where ``error_code`` says why),
        also for the rows that were refitted exactly.
    screen_chi2
        Score-test chi-square (1 df) of every variant.
    lambda_gc
        Genomic control ``median(screen_chi2) / 0.4549`` over the testable variants.
    null
        The fitted null model.
    samples
        Indices into the cohort's rows of the samples scanned.
    covariate_names
        Names of the covariates of the null model (PCs included).
    timings
        Seconds per phase (``null``, ``screen``, ``exact``).
    """

    table: pd.DataFrame
    screen_p: npt.NDArray[np.float64]
    screen_chi2: npt.NDArray[np.float64]
    lambda_gc: float
    null: NullModel = field(repr=False)
    samples: npt.NDArray[np.intp] = field(repr=False)
    covariate_names: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def exact(self) -> pd.DataFrame:
        """Rows with an exact test (``wald`` or ``firth``)."""
        return self.table[self.table["test"] != "score"]


def lambda_gc(chi2: npt.ArrayLike) -> float:
    """Genomic inflation factor: median of the finite 1-df chi-squares / 0.4549."""
    c = np.asarray(chi2, dtype=np.float64)
    c = c[np.isfinite(c)]
    return float(np.median(c) / CHI2_MEDIAN_1DF) if c.size else float("nan")


@functools.lru_cache(maxsize=4)
def _open_cached(prefix: str) -> PlinkFileset:
    return open_plink(prefix)


def _map_threads(fn: Callable[[Any], Any], items: Sequence[Any], threads: int) -> list[Any]:
    """``[fn(x) for x in items]`` on a thread pool, results in input order.

    numpy releases the GIL in the decoder and in the array arithmetic, so
    chunks run in parallel; BLAS is held to one thread per worker meanwhile so
    the two levels do not oversubscribe the cores, and so that results are
    bit-identical whatever the number of threads (a multi-threaded BLAS may
    split a reduction differently). dask.distributed workers run BLAS on one
    thread too (its nannies set ``OPENBLAS_NUM_THREADS=1``), so a cluster
    gives the same bits as a local run.
    """
    n = threads if threads > 0 else usable_cores()
    with threadpool_limits(1):
        if n <= 1 or len(items) <= 1:
            return [fn(x) for x in items]
        with ThreadPoolExecutor(max_workers=n, thread_name_prefix="genopt-assoc") as pool:
            return list(pool.map(fn, items))


def score_chunk(
    source: PlinkFileset | str,
    variants: npt.ArrayLike,
    samples: npt.ArrayLike,
    null: NullModel,
) -> dict[str, npt.NDArray[Any]]:
    """Score-test one chunk of variants: a pure function, usable as a dask task.

    Parameters
    ----------
    source
        An open fileset, or its prefix (opened once per worker process).
    variants
        Indices into the .bim of the chunk.
    samples
        Indices into the .fam of the null model's samples, in its order.
    null
        The fitted :class:`~genopt.assoc.logistic.NullModel`.

    Returns
    -------
    dict of ``(m,)`` arrays: ``variant_index a1_freq n_called chi2 p beta se error``.
    Peak memory about ``11 n m`` bytes (see :func:`~genopt.assoc.logistic.score_test`).
    """
    fs = source if isinstance(source, PlinkFileset) else _open_cached(str(source))
    v = np.asarray(variants, dtype=np.intp)
    g = fs.read_int8(variants=v, samples=np.asarray(samples, dtype=np.intp))
    st = score_test(g, null)
    return {
        "variant_index": v,
        "a1_freq": st.a1_freq,
        "n_called": st.n_called,
        "chi2": st.chi2,
        "p": st.p,
        "beta": st.beta,
        "se": st.se,
        "error": st.error,
    }


def exact_block(n_samples: int) -> int:
    """Variants per block of the exact refit: 256, fewer when ``n_samples`` x 256 exceeds :data:`EXACT_BLOCK_CELLS`.

    Each block's Newton fits hold ~15 float64 ``(n_samples, block)`` arrays,
    so the block is capped in cells (samples x variants) rather than in
    variants: ~340 MB per block at any number of samples (at least 16 variants).
    """
    return max(EXACT_MIN_BLOCK, min(EXACT_MAX_BLOCK, EXACT_BLOCK_CELLS // max(n_samples, 1)))


def _design(
    cohort: Cohort,
    samples: npt.NDArray[np.intp],
    covariates: npt.ArrayLike | None,
    covariate_names: Sequence[str] | None,
) -> tuple[npt.NDArray[np.float64], list[str]]:
    base = cohort.covariates.to_numpy(dtype=np.float64)[samples]
    names = [str(c) for c in cohort.covariates.columns]
    if covariates is None:
        return base, names
    extra = np.asarray(covariates, dtype=np.float64)
    if extra.ndim == 1:
        extra = extra[:, None]
    if extra.shape[0] == cohort.n:  # rows for every cohort row: take the scanned ones
        extra = extra[samples]
    if extra.shape[0] != samples.size:
        raise ValueError(f"covariates have {extra.shape[0]} rows; expected {samples.size} (or {cohort.n})")
    extra_names = list(covariate_names) if covariate_names else [f"PC{i + 1}" for i in range(extra.shape[1])]
    return np.column_stack([base, extra]), names + extra_names


def scan(
    cohort: Cohort,
    config: AssocConfig | None = None,
    samples: npt.ArrayLike | None = None,
    covariates: npt.ArrayLike | None = None,
    covariate_names: Sequence[str] | None = None,
    variants: npt.ArrayLike | None = None,
    client: Any = None,
) -> AssocResult:
    """Association scan of the cohort's variants: score screening, then exact tests.

    Parameters
    ----------
    cohort
        Genotypes, outcome (1 = cooperate) and covariates.
    config
        ``exact_top``, ``exact_p``, ``firth_fallback``, ``chunk_size``, ``max_iter``.
    samples
        Indices into the cohort's rows (e.g. a training fold); None for all.
        The null model, allele frequencies and every statistic use only these
        samples: nothing is read from the others.
    covariates
        Extra covariates (e.g. PCs) appended to ``cohort.covariates``: either
        ``(cohort.n, k)``, one row per cohort row (the scanned rows are taken),
        or ``(len(samples), k)``, one row per scanned sample in ``samples``
        order.
    covariate_names
        Names of the extra covariates (default ``PC1..PCk``).
    variants
        Indices into the .bim to scan (None for all); output rows follow them.
    client
        A ``distributed.Client``: the chunks become dask tasks
        (:func:`score_chunk` on the fileset prefix); results are identical to
        the local run.

    Returns
    -------
    AssocResult

    Notes
    -----
    Memory is bounded by the chunk, not the number of variants. Screening
    holds about ``11 n c`` bytes per chunk (``n`` samples, ``c =
    chunk_size``: the int8 decode, a bool missing mask, an int8 temporary and
    one float64 work array); the exact refit reads its variants in blocks of
    :func:`exact_block` variants (256, fewer above 10,000 samples: at most
    :data:`EXACT_BLOCK_CELLS` samples x variants) and holds about 130 bytes
    per cell, ~340 MB per block whatever ``n`` (tracemalloc: 256 variants x
    50,000 samples took 1.7 GB, 51 x 50,000 0.34 GB); the result columns
    take ~100 bytes per variant (plus the .bim table). With
    ``config.threads`` = T, T chunks (and T exact blocks) are in flight at
    once, so the work arrays take T times as much. Measured (tracemalloc
    peak, one thread, 10,000 samples, 12 covariates, chunk 1024): 370 MB for
    10,000 variants and 380 MB for 40,000; the whole ``genopt assoc`` process
    on 10,000 x 500,000 with 2 threads peaked at 1.17 GB RSS
    (``benchmarks/RESULTS.md``).
    """
    config = config or AssocConfig()
    s_rows = np.arange(cohort.n, dtype=np.intp) if samples is None else np.asarray(samples, dtype=np.intp)
    if s_rows.ndim != 1 or (s_rows.size and (s_rows.min() < 0 or s_rows.max() >= cohort.n)):
        raise ValueError(f"samples must be indices into the cohort's {cohort.n} rows")
    if np.unique(s_rows).size != s_rows.size:
        raise ValueError("samples contain duplicates")
    fam_idx = cohort.sample_idx[s_rows]
    y = cohort.y[s_rows].astype(np.float64)
    cov, names = _design(cohort, s_rows, covariates, covariate_names)
    where = f"{cohort.fileset.prefix} ({cohort.phenotype.name!r} ~ {' + '.join(names) or 'intercept'})"
    t0 = time.perf_counter()
    null = fit_null(y, cov, names, max_iter=max(config.max_iter, 50), where=where)
    t_null = time.perf_counter() - t0

    fs = cohort.fileset
    v_all = np.arange(fs.n_variants, dtype=np.intp) if variants is None else np.asarray(variants, dtype=np.intp)
    chunks = [v_all[i : i + config.chunk_size] for i in range(0, v_all.size, config.chunk_size)]
    t0 = time.perf_counter()
    if client is None:
        parts = _map_threads(lambda ch: score_chunk(fs, ch, fam_idx, null), chunks, config.threads)
    else:
        null_f = client.scatter(null, broadcast=True)
        idx_f = client.scatter(fam_idx, broadcast=True)
        with threadpool_limits(1):  # in-process workers share this process's BLAS
            futures = [client.submit(score_chunk, str(fs.prefix), ch, idx_f, null_f, pure=False) for ch in chunks]
            parts = client.gather(futures)
    t_screen = time.perf_counter() - t0
    res = {k: np.concatenate([p[k] for p in parts]) if parts else np.zeros(0) for k in parts[0]} if parts else {}
    if not res:
        raise GenoptError("no variant to scan", str(fs.prefix) + ".bim")

    bim = fs.variants.iloc[v_all]
    table = pd.DataFrame(
        {
            "chromosome": bim["chrom"].astype(str).to_numpy(),
            "base_pair_location": bim["pos"].to_numpy(),
            "effect_allele": bim["a1"].astype(str).to_numpy(),
            "other_allele": bim["a2"].astype(str).to_numpy(),
            "effect_allele_frequency": res["a1_freq"],
            "beta": res["beta"],
            "standard_error": res["se"],
            "p_value": res["p"],
            "rsid": bim["id"].astype(str).to_numpy(),
            "n": res["n_called"].astype(np.int64),
            "test": np.full(v_all.size, "score", dtype=object),
            "error_code": res["error"].astype(object),
        }
    )

    # exact tests of the reported variants
    t0 = time.perf_counter()
    p = res["p"]
    testable = np.flatnonzero(np.isfinite(p))
    order = testable[np.argsort(p[testable], kind="stable")]
    pick = set(order[: config.exact_top].tolist()) | set(testable[p[testable] < config.exact_p].tolist())
    rows = np.array(sorted(pick), dtype=np.intp)
    block = exact_block(y.size)
    blocks = [rows[i : i + block] for i in range(0, rows.size, block)]

    def exact(r: npt.NDArray[np.intp]) -> VariantFit:
        g = fs.read(variants=v_all[r], samples=fam_idx, dtype=np.float64)
        return fit_variants(
            y, null.X, g, firth_fallback=config.firth_fallback, max_iter=config.max_iter, start=null.beta
        )

    for r, fit in zip(blocks, _map_threads(exact, blocks, config.threads), strict=True):
        table.loc[r, "beta"] = fit.beta
        table.loc[r, "standard_error"] = fit.se
        table.loc[r, "p_value"] = fit.p
        table.loc[r, "n"] = fit.n
        table.loc[r, "test"] = fit.test
        table.loc[r, "error_code"] = fit.error
    t_exact = time.perf_counter() - t0
    table["odds_ratio"] = np.exp(table["beta"].to_numpy(dtype=np.float64))
    table["variant_index"] = v_all
    lam = lambda_gc(res["chi2"])
    log.info(
        "assoc: %d samples, %d variants screened in %.1fs, %d refitted exactly in %.1fs, lambda_GC %s",
        y.size,
        v_all.size,
        t_screen,
        rows.size,
        t_exact,
        f"{lam:.3f}" if v_all.size >= 1000 else f"{lam:.3f} (over {v_all.size} variants only: not genome-wide)",
    )
    return AssocResult(
        table=table[list(COLUMNS)],
        screen_p=res["p"],
        screen_chi2=res["chi2"],
        lambda_gc=lam,
        null=null,
        samples=s_rows,
        covariate_names=tuple(null.names[1:]),
        timings={"null": t_null, "screen": t_screen, "exact": t_exact},
    )


def write_assoc(result: AssocResult, path: str | Path) -> None:
    """Write :attr:`AssocResult.table` as a tab-separated file, atomically.

    Missing values are ``NA`` (only where ``error_code`` is not ``.``);
    floats with 10 significant digits.
    """
    write_tsv(path, result.table)


def run_assoc(
    bfile: str | Path,
    pheno: str | Path | None,
    pheno_name: str | None,
    covar: str | Path | None = None,
    covar_names: Sequence[str] | None = None,
    n_pcs: int | None = None,
    out: str | Path | None = None,
    exact_top: int | None = None,
    config: AssocConfig | None = None,
    pca_config: PCAConfig | None = None,
    scheduler: str | None = None,
) -> AssocResult:
    """Load a cohort, compute PCs on its samples, scan, and write the table (``genopt assoc``).

    Parameters
    ----------
    bfile, pheno, pheno_name, covar, covar_names
        As :meth:`genopt.cohort.Cohort.from_files`.
    n_pcs
        Principal components added as covariates (default ``config.n_pcs``;
        0 for none), fitted on the cohort's samples with :func:`pca_variants`
        and :func:`fit_pca` (settings from ``pca_config``).
    out
        Output TSV (see :func:`write_assoc`); None to only return.
    exact_top
        Overrides ``config.exact_top``.
    scheduler
        Overrides ``config.scheduler``: test the chunks on dask.distributed
        (an address, or ``"local"``; :func:`genopt.cluster.connect`).
    """
    from dataclasses import replace

    from genopt.structure import fit_pca, pca_variants

    config = config or AssocConfig()
    if exact_top is not None:
        config = replace(config, exact_top=int(exact_top))
    if scheduler is not None:
        config = replace(config, scheduler=scheduler)
    k = config.n_pcs if n_pcs is None else int(n_pcs)
    cohort = Cohort.from_files(bfile, pheno, pheno_name, covar, covar_names)
    pcs = None
    if k > 0:
        pconf = replace(pca_config or PCAConfig(), n_pcs=k)
        kept = pca_variants(cohort.fileset, pconf, samples=cohort.sample_idx)
        model = fit_pca(cohort.fileset, pconf, samples=cohort.sample_idx, variants=kept)
        pcs = model.scores  # rows = the cohort's samples, in its order
    with dask_client(config.scheduler, config.threads) as client:
        result = scan(cohort, config, covariates=pcs, client=client)
    if out is not None:
        write_assoc(result, out)
    return result
