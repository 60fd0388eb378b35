"""The candidate pool: clump index variants of an association scan of one training fold.

:func:`build_pool` sees only the training samples: the association scan
(outcome, covariates, genotypes, allele frequencies) and the LD used for
clumping are computed from ``train_idx`` alone, so the pool of a
cross-validation fold never depends on the outcome or genotypes of the
fold's held-out samples.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from genopt.assoc.clump import ClumpResult, clump
from genopt.cluster import dask_client
from genopt.cohort import Cohort
from genopt.config import PCAConfig, PoolConfig
from genopt.errors import GenoptError
from genopt.io.atomic import write_tsv

#: Signature of the association scan the pool builder calls:
#: ``scan_fn(cohort, assoc_config, samples=..., covariates=...)`` returning an
#: object with ``.table`` (GWAS-SSF columns, ``effect_allele_frequency`` and
#: ``p_value`` among them, plus ``variant_index``) and ``.lambda_gc``.
ScanFn = Callable[..., Any]


@dataclass(frozen=True, eq=False)
class CandidatePool:
    """Variants the search may use, with their training-fold statistics.

    Attributes
    ----------
    variant_idx
        intp array, rows of the .bim of the pool variants (clump index
        variants), best p first (ties by .bim position).
    stats
        The scan's rows of these variants, in the same order (GWAS-SSF
        columns; ``effect_allele`` is the .bim A1), plus ``clump_members``
        (number of variants clumped with each).
    clumps
        The full clumping result (all clumps, before the ``max_size`` cut).
    record
        How the pool was built (JSON-ready): number of training samples,
        cases and controls, a SHA-256 of the training sample IDs, the pool
        settings, lambda_GC of the scan, the numbers of variants scanned,
        clumps formed and variants kept.
    """

    variant_idx: npt.NDArray[np.intp]
    stats: pd.DataFrame
    clumps: ClumpResult = field(repr=False)
    record: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.variant_idx.size)

    @property
    def rsids(self) -> list[str]:
        """IDs of the pool variants, in pool order."""
        return [str(x) for x in self.stats["rsid"]]


def _default_scan() -> ScanFn:
    from genopt.assoc.scan import scan

    return scan


def _train_indices(train_idx: npt.ArrayLike, n: int) -> npt.NDArray[np.intp]:
    arr = np.asarray(train_idx)
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise GenoptError(f"training mask has length {arr.shape[0] if arr.ndim else 0}, the cohort has {n} samples")
        arr = np.flatnonzero(arr)
    arr = arr.astype(np.intp).reshape(-1)
    if arr.size == 0:
        raise GenoptError("the training fold is empty")
    if arr.min() < 0 or arr.max() >= n:
        bad = arr[(arr < 0) | (arr >= n)][0]
        raise GenoptError(f"training sample index {int(bad)} is outside the cohort's {n} samples")
    if np.unique(arr).size != arr.size:
        raise GenoptError("training sample indices contain duplicates")
    return arr


def sample_digest(cohort: Cohort, idx: npt.NDArray[np.intp]) -> str:
    """SHA-256 of the sorted ``FID IID`` of the given cohort rows (identifies a fold)."""
    fam = cohort.fileset.samples.iloc[cohort.sample_idx[np.sort(idx)]]
    text = "\n".join(f"{f} {i}" for f, i in zip(fam["fid"].astype(str), fam["iid"].astype(str), strict=True))
    return hashlib.sha256(text.encode()).hexdigest()


def build_pool(
    cohort: Cohort,
    config: PoolConfig | None = None,
    train_idx: npt.ArrayLike | None = None,
    covariates: npt.ArrayLike | None = None,
    scan_fn: ScanFn | None = None,
    fit_pcs: bool = False,
    pca_config: PCAConfig | None = None,
    variants: npt.ArrayLike | None = None,
) -> CandidatePool:
    """Scan the training samples, clump, and keep the best index variants.

    Parameters
    ----------
    cohort
        Genotypes, outcome and covariates of the discovery cohort.
    config
        ``max_size`` (at most this many variants), ``assoc`` (scan settings)
        and ``clump`` (clumping settings).
    train_idx
        Indices into the cohort's rows (or a boolean mask over them) of the
        training samples; None uses every sample. Sorted into cohort order
        before use, so the pool does not depend on their order.
    covariates
        Extra covariates (e.g. PCs fitted on the training samples), rows
        either for the training samples in cohort order or for all cohort
        rows; passed to the scan.
    scan_fn
        The association scan (default :func:`genopt.assoc.scan.scan`); any
        callable ``scan_fn(cohort, assoc_config, samples=, covariates=)``
        returning an object with ``.table`` and ``.lambda_gc`` (also given
        ``variants=`` with ``variants``, and ``client=``, a dask client, when
        ``config.assoc.scheduler`` is set: the scan's chunks then run on that
        cluster, with identical results).
    fit_pcs
        If True and ``config.assoc.n_pcs > 0``, fit that many principal
        components on the training samples only (:func:`genopt.structure.pca_variants`
        then :func:`genopt.structure.fit_pca`, settings from ``pca_config``) and
        append them to ``covariates``; the held-out samples are never read.
    pca_config
        PCA settings for ``fit_pcs`` (default :class:`genopt.config.PCAConfig`).
    variants
        bool mask over the .bim rows (e.g. those passing QC) or .bim row
        indices: only these are scanned (and used for ``fit_pcs``); None scans all.

    Returns
    -------
    :class:`CandidatePool`. Index variants are those of
    :func:`genopt.assoc.clump.clump` with r^2 from the training samples'
    genotypes; the pool keeps the first ``max_size`` by p (ties by .bim
    position). Variants whose scan gave no p-value (an error code) are never
    in the pool, nor are A/T and C/G SNPs with training MAF >=
    ``config.palindromic_maf_max`` (left out before clumping; counted in
    ``record["n_palindromic_dropped"]``).
    """
    config = config or PoolConfig()
    if config.max_size < 1:
        raise GenoptError(f"pool max_size = {config.max_size!r} must be at least 1")
    idx = np.arange(cohort.n, dtype=np.intp) if train_idx is None else np.sort(_train_indices(train_idx, cohort.n))
    y = cohort.y[idx]
    if y.min() == y.max():
        raise GenoptError(
            f"the training fold ({idx.size} samples) has only outcome {int(y[0])}; both classes are needed"
        )
    cov = None
    if covariates is not None:
        cov = np.asarray(covariates, dtype=np.float64)
        if cov.ndim == 1:
            cov = cov[:, None]
        if cov.shape[0] == cohort.n and cohort.n != idx.size:
            cov = cov[idx]
        elif cov.shape[0] != idx.size:
            raise GenoptError(
                f"covariates have {cov.shape[0]} rows; expected {idx.size} (training samples) or {cohort.n} (cohort)"
            )
    n_pcs = 0
    if fit_pcs and config.assoc.n_pcs > 0:
        from genopt.structure import fit_pca, pca_variants

        pconf = replace(pca_config or PCAConfig(), n_pcs=config.assoc.n_pcs)
        train_rows = cohort.sample_idx[idx]
        pca_mask = pca_variants(cohort.fileset, pconf, samples=train_rows, variants=variants)
        pcs = np.asarray(fit_pca(cohort.fileset, pconf, samples=train_rows, variants=pca_mask).scores, dtype=np.float64)
        n_pcs = pcs.shape[1]
        cov = pcs if cov is None else np.hstack([cov, pcs])
    scan = scan_fn or _default_scan()
    restrict = {}
    if variants is not None:
        chosen = np.asarray(variants)
        restrict["variants"] = np.flatnonzero(chosen) if chosen.dtype == bool else chosen.astype(np.intp)
    with dask_client(config.assoc.scheduler, config.assoc.threads) as client:
        if client is not None:
            restrict["client"] = client
        result = scan(cohort, config.assoc, samples=idx, covariates=cov, **restrict)
    table: pd.DataFrame = result.table
    if "variant_index" not in table.columns:
        raise GenoptError("association table has no variant_index column")
    ambiguous = _ambiguous_palindromic(cohort, table, config.palindromic_maf_max)
    clumps = clump(table[~ambiguous], cohort.fileset, config.clump, samples=cohort.sample_idx[idx])
    kept = clumps.index.iloc[: config.max_size]  # already ordered by p, then .bim position
    vidx = kept["variant_index"].to_numpy(dtype=np.intp)
    by_variant = table.set_index("variant_index", drop=False)
    stats = by_variant.loc[vidx].reset_index(drop=True)
    stats["clump_members"] = kept["n_members"].to_numpy()
    n_cases = int(y.sum())
    record: dict[str, Any] = {
        "n_train": int(idx.size),
        "n_train_cases": n_cases,
        "n_train_controls": int(idx.size) - n_cases,
        "train_sha256": sample_digest(cohort, idx),
        "n_covariates_extra": 0 if cov is None else int(cov.shape[1]),
        "n_pcs_fitted_on_fold": n_pcs,
        "config": asdict(config),
        "lambda_gc": float(result.lambda_gc),
        "n_variants_scanned": len(table),
        "n_palindromic_dropped": int(ambiguous.sum()),
        "n_clumps": len(clumps.index),
        "n_pool": int(vidx.size),
    }
    return CandidatePool(variant_idx=vidx, stats=stats, clumps=clumps, record=record)


def _ambiguous_palindromic(cohort: Cohort, table: pd.DataFrame, maf_max: float | None) -> npt.NDArray[np.bool_]:
    """Rows of ``table`` that are A/T or C/G SNPs with training MAF >= ``maf_max`` (none if ``maf_max`` is None)."""
    if maf_max is None:
        return np.zeros(len(table), dtype=bool)
    bim = cohort.fileset.variants.iloc[table["variant_index"].to_numpy(dtype=np.intp)]
    pair = np.char.upper(np.char.add(bim["a1"].to_numpy(dtype=str), bim["a2"].to_numpy(dtype=str)))
    palindromic = np.isin(pair, ["AT", "TA", "CG", "GC"])
    freq = table["effect_allele_frequency"].to_numpy(dtype=np.float64)
    maf = np.minimum(freq, 1.0 - freq)
    return np.asarray(palindromic & ~(maf < maf_max), dtype=bool)


def write_pool(pool: CandidatePool, path: str | Path) -> None:
    """Write the pool's statistics (:attr:`CandidatePool.stats`, pool order) as TSV, atomically."""
    write_tsv(path, pool.stats, float_format="%.6g")
