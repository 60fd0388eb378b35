"""Population structure: LD pruning, PCA and projection onto ancestry axes.

Three steps, each usable alone:

* :func:`ld_prune` -- ``plink2 --indep-pairwise`` (variant-count and kb
  windows), reproducing PLINK 2's choices exactly: same windows, same r^2
  (unphased hardcall Pearson r^2 on pairwise-complete founders), same order of
  comparisons, same rule for which variant of a pair goes (the one with the
  lower MAF; on a tie the later one);
* :func:`fit_pca` -- principal components of the standardised genotypes of
  one cohort, standardised as ``plink2 --pca`` does it (A1 count minus ``2p``,
  divided by ``sqrt(2p(1-p))``, ``p`` the founders' A1 frequency; missing
  calls mean-imputed, i.e. 0 after standardisation), returning a frozen,
  serialisable :class:`PCAModel`;
* :meth:`PCAModel.transform` -- projection of another cohort onto the fitted
  axes, matching variants by ID and A1/A2.

:func:`run_pca` chains MAF filter, pruning, PCA and optional projection and
writes the output files; it is what ``genopt pca`` calls.

All genotype values are counts of the .bim A1 allele.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.linalg
from threadpoolctl import threadpool_limits

from genopt.config import LDPruneConfig, PCAConfig
from genopt.errors import GenoptError
from genopt.io.atomic import write_text, write_tsv
from genopt.io.plink import DEFAULT_CHUNK, PlinkFileset, _as_index, allele_frequencies, founder_mask

__all__ = [
    "PCAModel",
    "PCAProjection",
    "fit_pca",
    "ld_prune",
    "maf_filter",
    "pca_variants",
    "run_pca",
]

log = logging.getLogger(__name__)

#: PLINK 2's ``kSmallEpsilon`` (2^-44): tolerance of its r^2 threshold, MAF
#: tie-break and MAF filter comparisons, reproduced so that ties go the same way.
SMALL_EPSILON = 2.0**-44
#: Chromosome codes PLINK ignores when pruning (unplaced variants).
_SKIPPED_CHROMS = frozenset({"0"})
#: Randomized SVD settings (Halko et al. 2011): extra columns and power iterations.
_RSVD_OVERSAMPLES = 10
_RSVD_POWER_ITERS = 6
#: Format version of the serialised :class:`PCAModel`.
MODEL_FORMAT = "genopt.PCAModel/1"


# ---------------------------------------------------------------------------
# samples, frequencies
# ---------------------------------------------------------------------------


def _selected_samples(fileset: PlinkFileset, samples: Any) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Indices of the selected samples and of the founders among them."""
    s_idx = _as_index(samples, fileset.n_samples, "sample")
    if s_idx is None:
        s_idx = np.arange(fileset.n_samples, dtype=np.intp)
    table = fileset.samples.iloc[s_idx]
    founders = s_idx[founder_mask(table)]
    return s_idx, founders


def maf_filter(fileset: PlinkFileset, maf: float, samples: Any = None, variants: Any = None) -> npt.NDArray[np.bool_]:
    """``plink2 --maf``: keep variants whose founder MAF is >= ``maf``.

    Returns
    -------
    bool mask over all variants of ``fileset`` (False for variants outside
    ``variants`` and for variants with no call among the founders).
    """
    _, founders = _selected_samples(fileset, samples)
    v_idx = _as_index(variants, fileset.n_variants, "variant")
    if v_idx is None:
        v_idx = np.arange(fileset.n_variants, dtype=np.intp)
    freq, called = allele_frequencies(fileset, founders, v_idx)
    minor = np.minimum(freq, 1.0 - freq)
    ok = (called > 0) & (minor >= maf * (1.0 - SMALL_EPSILON))
    mask = np.zeros(fileset.n_variants, dtype=bool)
    mask[v_idx[ok]] = True
    return mask


# ---------------------------------------------------------------------------
# LD pruning
# ---------------------------------------------------------------------------


def _check_prune_config(config: LDPruneConfig, path: str) -> None:
    if not (0.0 <= config.r2 < 1.0):
        raise GenoptError(f"LD pruning r2 threshold must be in [0, 1), got {config.r2!r}", path)
    if config.window_kb:
        if config.window < 1:
            raise GenoptError(f"LD pruning kb window must be >= 1 kb, got {config.window!r}", path)
    else:
        if config.window < 1:
            raise GenoptError(f"LD pruning window must be >= 1 variant, got {config.window!r}", path)
        if not (1 <= config.step <= config.window):
            raise GenoptError(
                f"LD pruning step must be between 1 and the window size ({config.window}), got {config.step!r}", path
            )


def _segments(
    chrom: npt.NDArray[Any], pos: npt.NDArray[np.int64], config: LDPruneConfig, bim: str, ids: npt.NDArray[Any]
) -> list[tuple[int, int]]:
    """Split the selected variants into independent runs (PLINK's "subcontigs").

    A run is one chromosome (variant-count windows), or a stretch of one
    chromosome without a gap wider than the window (kb windows). Positions are
    indices into the selected-variant arrays; ``[start, end)``.
    """
    n = len(chrom)
    if n == 0:
        return []
    change = np.flatnonzero(chrom[1:] != chrom[:-1]) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [n]])
    names = chrom[starts]
    if len(set(names.tolist())) != len(names):
        seen: set[str] = set()
        for name in names.tolist():
            if name in seen:
                raise GenoptError(
                    f"chromosome {name} is split into several blocks; LD pruning needs each chromosome's variants "
                    "to be contiguous (sort the fileset, e.g. plink2 --make-bed --sort-vars)",
                    bim,
                )
            seen.add(name)
    if not config.window_kb:
        return list(zip(starts.tolist(), ends.tolist(), strict=True))
    window_bp = int(config.window) * 1000
    out: list[tuple[int, int]] = []
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        p = pos[s:e]
        back = np.flatnonzero(np.diff(p) < 0)
        if back.size:
            i = s + int(back[0]) + 1
            raise GenoptError(
                f"variant {ids[i]} (chromosome {chrom[i]}, position {pos[i]}) comes after position {pos[i - 1]}; "
                "kb-window LD pruning needs variants sorted by position",
                bim,
            )
        # PLINK splits where the next variant is more than a window beyond the previous one.
        gap = np.flatnonzero((p[1:] >= window_bp) & (p[1:] - window_bp > p[:-1])) + 1
        cuts = [0, *gap.tolist(), e - s]
        out.extend((s + a, s + b) for a, b in itertools.pairwise(cuts))
    return out


def _windows(length: int, pos: npt.NDArray[np.int64], config: LDPruneConfig) -> Iterator[tuple[int, int]]:
    """PLINK 2's successive windows ``[start, end)`` over one run of ``length`` variants.

    Variant-count windows: ``[0, W)``, then the start moves by ``step`` and the
    end to ``min(start + W, length)``, until a window reaches the end.
    kb windows (``pos`` in bp): a window holds the variants within
    ``W * 1000`` bp of its first one; the next window starts at the first
    variant close enough to admit the variant just beyond the current window.
    """
    if not config.window_kb:
        start, end = 0, min(config.window, length)
        yield start, end
        while end != length:
            start += config.step
            end = min(start + config.window, length)
            yield start, end
        return
    w = int(config.window) * 1000
    start = 0
    end = int(np.searchsorted(pos, pos[0] + w, side="right"))
    end = max(end, 1)
    yield start, end
    while end != length:
        # advance the start until the first variant beyond the window fits
        start = max(start + 1, int(np.searchsorted(pos, pos[end] - w, side="left")))
        end = max(end + 1, int(np.searchsorted(pos, pos[start] + w, side="right")))
        end = min(end, length)
        yield start, end


def _exceeds(
    g_all: npt.NDArray[np.float32],
    m_all: npt.NDArray[np.float32],
    g_new: npt.NDArray[np.float32],
    m_new: npt.NDArray[np.float32],
    threshold: float,
) -> npt.NDArray[np.bool_]:
    """Pairs whose r^2 exceeds ``threshold``, as PLINK 2 decides it.

    Parameters
    ----------
    g_all, m_all
        ``(n_founders, w)`` A1 counts (0 where missing) and call mask (1/0) of
        every variant in the window.
    g_new, m_new
        The same for the window's ``k`` newly loaded variants.

    Returns
    -------
    bool ``(w, k)``: ``cov^2 > threshold * var_a * var_b`` where the covariance
    and variances are computed over the samples called at both variants. All
    sums are integers; float32 matrix products are exact for them (every partial
    sum < 2^24 while n < 4 million) and the final combination is done in
    float64 in PLINK's order, so decisions are identical to PLINK's.
    """
    left = np.concatenate([g_all, g_all * g_all, m_all], axis=1)
    a = (left.T @ m_new).astype(np.float64)  # (3w, k)
    w = g_all.shape[1]
    s_a, q_a, nn = a[:w], a[w : 2 * w], a[2 * w :]
    b = (m_all.T @ np.concatenate([g_new, g_new * g_new], axis=1)).astype(np.float64)  # (w, 2k)
    k = g_new.shape[1]
    s_b, q_b = b[:, :k], b[:, k:]
    dot = (g_all.T @ g_new).astype(np.float64)
    cov = dot * nn - s_a * s_b
    var_a = q_a * nn - s_a * s_a
    var_b = q_b * nn - s_b * s_b
    out: npt.NDArray[np.bool_] = cov * cov > threshold * var_a * var_b
    return out


def ld_prune(
    fileset: PlinkFileset,
    config: LDPruneConfig | None = None,
    samples: Any = None,
    variants: Any = None,
) -> npt.NDArray[np.bool_]:
    """LD pruning with the meaning of ``plink2 --indep-pairwise``.

    Parameters
    ----------
    fileset
        Genotypes (A1 counts). Variants must be grouped by chromosome (and
        sorted by position for kb windows).
    config
        Window (variants, or kb with ``window_kb``), step (variants; ignored
        with kb windows, where PLINK requires 1) and r^2 threshold.
    samples
        Samples to use (None for all). As PLINK does, only the founders among
        them enter the r^2 and the MAF tie-break.
    variants
        Candidate variants (None for all; bool mask or indices, e.g. the
        output of :func:`maf_filter` for ``--maf``).

    Returns
    -------
    bool mask of length ``fileset.n_variants``: True for the variants PLINK
    writes to ``.prune.in``. False for pruned variants, for variants outside
    ``variants`` and for chromosome-0 variants (PLINK ignores those).

    Notes
    -----
    What PLINK 2 v2.00a3.5 (``IndepPairwise`` in plink2_ld.cc) and PLINK 1.9
    do, and this function reproduces (identical prune.in on hm3 and kg1 for
    16 settings, and on a synthetic fileset with 20% missing calls):

    * per chromosome (kb windows: per stretch without a gap wider than the
      window), windows as in :func:`_windows`; a chromosome or stretch with a
      single variant is not pruned;
    * a variant whose founders' calls are all one genotype (or all missing)
      is removed when it enters a window;
    * r^2 is Pearson's correlation of A1 counts over the founders called at
      both variants (pairwise-complete, no imputation); a pair is in LD when
      ``cov^2 > threshold * (1 + 2^-44) * var_1 * var_2``;
    * within a window, passes are repeated until one removes nothing. In a
      pass each remaining variant (the "first"), in order, is compared with
      the later remaining variants it has not been compared with yet, in
      order, until the first pair in LD; then the variant with the lower MAF
      goes (the later one on a tie within 2^-44 relative) and the pass moves
      on to the next first;
    * removed variants leave the window; survivors with index >= the next
      window's start stay in it and are only compared with newly entered
      variants.

    The plink-ng sources of 2023 make a different comparison order (newest
    variants first, in reverse) the default and keep this one as
    ``plink1-order``; prune.in from such builds can differ from this one.

    Sex chromosomes are pruned with the autosomal r^2 (PLINK 2 counts male X
    calls as haploid and drops male heterozygous calls); the reference data
    in this project are autosomal.

    Vectorisation: each window's r^2 tests are one set of matrix products
    (window members x newly entered variants, float32 on integer counts, so
    exact); the greedy removal loops over the variants that have at least one
    pair in LD, vectorised over their partners.
    """
    config = config or LDPruneConfig()
    bim = str(fileset.prefix) + ".bim"
    _check_prune_config(config, bim)
    v_idx = _as_index(variants, fileset.n_variants, "variant")
    if v_idx is None:
        v_idx = np.arange(fileset.n_variants, dtype=np.intp)
    if v_idx.size and np.any(np.diff(v_idx) <= 0):
        v_idx = np.unique(v_idx)
    _, founders = _selected_samples(fileset, samples)
    if founders.size < 2:
        raise GenoptError(
            f"LD pruning needs at least two founders among the selected samples, found {founders.size}",
            str(fileset.prefix) + ".fam",
        )
    table = fileset.variants
    chrom_all = table["chrom"].astype(str).to_numpy()
    keep_chrom = ~np.isin(chrom_all[v_idx], list(_SKIPPED_CHROMS))
    v_idx = v_idx[keep_chrom]
    ids = table["id"].astype(str).to_numpy()[v_idx]
    dup = pd.Index(ids).duplicated()
    if dup.any():
        raise GenoptError(
            f"duplicate variant ID {ids[np.flatnonzero(dup)[0]]}: LD pruning needs unique variant IDs", bim
        )
    chrom = chrom_all[v_idx]
    pos = table["pos"].to_numpy(dtype=np.int64)[v_idx]
    kept = np.ones(len(v_idx), dtype=bool)
    threshold = config.r2 * (1.0 + SMALL_EPSILON)
    # The per-window matrix products are small: one BLAS thread is several
    # times faster than two contending ones.
    with threadpool_limits(limits=1, user_api="blas"):
        for seg_start, seg_end in _segments(chrom, pos, config, bim, ids):
            if seg_end - seg_start < 2:
                continue  # PLINK leaves a lone variant alone
            removed = _prune_segment(
                fileset, v_idx[seg_start:seg_end], pos[seg_start:seg_end], founders, config, threshold
            )
            kept[seg_start:seg_end] = ~removed
    mask = np.zeros(fileset.n_variants, dtype=bool)
    mask[v_idx[kept]] = True
    return mask


def _prune_segment(
    fileset: PlinkFileset,
    var_idx: npt.NDArray[np.intp],
    pos: npt.NDArray[np.int64],
    founders: npt.NDArray[np.intp],
    config: LDPruneConfig,
    threshold: float,
) -> npt.NDArray[np.bool_]:
    """Run PLINK's window scan over one run of variants; returns the removed flags.

    Indices here are relative to the run (PLINK's ``tvidx``).
    """
    length = len(var_idx)
    removed = np.zeros(length, dtype=bool)
    maj = np.zeros(length, dtype=np.float64)  # major-allele frequency (founders)
    # first later variant not yet compared with each variant (PLINK's first_unchecked_tvidx)
    unchecked = np.arange(1, length + 1, dtype=np.intp)
    n_f = len(founders)
    members = np.zeros(0, dtype=np.intp)  # window members, ascending
    g_win = np.zeros((n_f, 0), dtype=np.float32)
    m_win = np.zeros((n_f, 0), dtype=np.float32)
    loaded = 0
    tie = 1.0 + SMALL_EPSILON
    for start, end in _windows(length, pos, config):
        # members that stay: not removed, not before the new start
        stay = ~removed[members] & (members >= start)
        members, g_win, m_win = members[stay], g_win[:, stay], m_win[:, stay]
        new = np.arange(loaded, end, dtype=np.intp)
        loaded = end
        if new.size == 0:
            continue
        raw = fileset.read_int8(variants=var_idx[new], samples=founders)
        called = raw >= 0
        g_new = np.where(called, raw, 0).astype(np.float32)
        m_new = called.astype(np.float32)
        n_called = called.sum(axis=0)
        hom_a1 = (raw == 2).sum(axis=0)
        hom_a2 = (raw == 0).sum(axis=0)
        # PLINK: no variance among the founders' calls (all one genotype, or none) -> removed on entry
        removed[new] = (n_called == 0) | (hom_a1 == n_called) | (hom_a2 == n_called) | (hom_a1 + hom_a2 == 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            p = g_new.sum(axis=0, dtype=np.float64) / (2.0 * n_called)
        maj[new] = np.maximum(p, 1.0 - p)
        split = len(members)
        members = np.concatenate([members, new])
        g_win = np.concatenate([g_win, g_new], axis=1)
        m_win = np.concatenate([m_win, m_new], axis=1)
        w = len(members)
        # r^2 test for every (window member, new variant) pair; survivors of
        # earlier windows were already compared with each other.
        pair = np.zeros((w, w), dtype=bool)
        pair[:, split:] = _exceeds(g_win, m_win, g_new, m_new, threshold)
        pair &= np.arange(w)[:, None] < np.arange(w)[None, :]  # first < second
        if not pair.any():
            unchecked[members[~removed[members]]] = end
            continue
        rem = removed[members].copy()
        unc = unchecked[members].copy()
        mj = maj[members]
        # PLINK 1.x order: passes over the window until one removes nothing.
        # In a pass each remaining variant ("first"), in order, is compared
        # with the later remaining variants not yet compared with it, in order,
        # up to the first pair in LD; then one of the two goes and the pass
        # moves on to the next first.
        while True:
            before = int(rem.sum())
            todo = pair & ~rem[None, :] & (members[None, :] >= unc[:, None])
            todo[rem] = False
            active = todo.any(axis=1)
            unc[~active & ~rem] = end
            for f in np.flatnonzero(active):
                if rem[f]:
                    continue
                hits = np.flatnonzero(pair[f] & ~rem & (members >= unc[f]))
                if hits.size == 0:
                    unc[f] = end
                    continue
                s2 = int(hits[0])
                if mj[f] > mj[s2] * tie:  # first has the lower MAF
                    rem[f] = True
                else:
                    rem[s2] = True
                    after = np.flatnonzero(~rem[s2 + 1 :])
                    unc[f] = members[s2 + 1 + after[0]] if after.size else end
            if int(rem.sum()) == before:
                break
        removed[members] = rem
        unchecked[members] = unc
    return removed


# ---------------------------------------------------------------------------
# PCA
# ---------------------------------------------------------------------------


def _readonly(a: npt.ArrayLike, dtype: Any = None) -> npt.NDArray[Any]:
    arr = np.array(a, dtype=dtype, copy=True)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class PCAProjection:
    """Scores of a cohort projected onto a :class:`PCAModel`'s axes.

    Attributes
    ----------
    samples
        Table ``fid iid`` of the projected samples, in order.
    scores
        ``(n_samples, n_pcs)`` float64, on the scale of the model's own scores.
    n_model_variants
        Number of variants in the model.
    n_missing
        Model variants absent from the cohort (no variant with the same ID and
        the same two alleles); they contribute the model's mean (0 after
        standardisation) for everyone.
    n_flipped
        Model variants whose cohort A1 is the model's A2 (dosage ``2 - g`` used).
    missing_ids
        IDs of the missing model variants.
    """

    samples: pd.DataFrame
    scores: npt.NDArray[np.float64]
    n_model_variants: int
    n_missing: int
    n_flipped: int
    missing_ids: tuple[str, ...] = ()

    def as_frame(self) -> pd.DataFrame:
        """``FID IID PC1..PCn`` table."""
        return _scores_frame(self.samples, self.scores)

    def summary(self) -> dict[str, Any]:
        """Counts as a JSON-ready dict."""
        return {
            "n_samples": len(self.samples),
            "n_model_variants": self.n_model_variants,
            "n_missing": self.n_missing,
            "n_flipped": self.n_flipped,
            "missing_fraction": self.n_missing / max(self.n_model_variants, 1),
        }


def _scores_frame(samples: pd.DataFrame, scores: npt.NDArray[np.float64]) -> pd.DataFrame:
    frame = pd.DataFrame({"FID": samples["fid"].to_numpy(), "IID": samples["iid"].to_numpy()})
    for i in range(scores.shape[1]):
        frame[f"PC{i + 1}"] = scores[:, i]
    return frame


@dataclass(frozen=True, eq=False)
class PCAModel:
    """Principal axes fitted on one cohort's LD-pruned, standardised genotypes.

    The standardised genotype of a sample at variant ``j`` is
    ``z = (g - means[j]) / scales[j]``, ``g`` the count of allele ``a1[j]``;
    a missing call has ``z = 0``. Scores are ``Z @ loadings``; for the fitted
    samples they equal :attr:`scores`, the unit-length eigenvectors of the
    relationship matrix ``Z Z^T / n_variants`` (as ``plink2 --pca`` writes them).

    Attributes
    ----------
    variant_ids, a1, a2
        ``(m,)`` str: the model's variants and alleles (A1 is counted).
    means
        ``(m,)`` float64: ``2p``, ``p`` the A1 frequency among the fit's founders.
    scales
        ``(m,)`` float64: ``sqrt(2p(1-p))`` (PLINK's variance standardisation).
    loadings
        ``(m, n_pcs)`` float64.
    eigenvalues
        ``(n_pcs,)`` float64 eigenvalues of ``Z Z^T / m`` (``plink2 --pca``'s
        .eigenval).
    sample_fid, sample_iid
        ``(n,)`` str: the fitted samples.
    scores
        ``(n, n_pcs)`` float64: the fitted samples' scores.
    method
        ``"exact"`` (eigendecomposition of the n x n matrix) or ``"randomized"``.
    """

    variant_ids: npt.NDArray[Any]
    a1: npt.NDArray[Any]
    a2: npt.NDArray[Any]
    means: npt.NDArray[np.float64]
    scales: npt.NDArray[np.float64]
    loadings: npt.NDArray[np.float64]
    eigenvalues: npt.NDArray[np.float64]
    sample_fid: npt.NDArray[Any]
    sample_iid: npt.NDArray[Any]
    scores: npt.NDArray[np.float64]
    method: str = "exact"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("variant_ids", "a1", "a2", "sample_fid", "sample_iid"):
            object.__setattr__(self, name, _readonly(np.asarray(getattr(self, name)).astype(str), dtype=object))
        for name in ("means", "scales", "loadings", "eigenvalues", "scores"):
            object.__setattr__(self, name, _readonly(getattr(self, name), dtype=np.float64))
        m = len(self.variant_ids)
        k = len(self.eigenvalues)
        if not (len(self.a1) == len(self.a2) == len(self.means) == len(self.scales) == m):
            raise ValueError("variant_ids, a1, a2, means and scales must have the same length")
        if self.loadings.shape != (m, k):
            raise ValueError(f"loadings have shape {self.loadings.shape}, expected {(m, k)}")
        if self.scores.shape != (len(self.sample_iid), k):
            raise ValueError(f"scores have shape {self.scores.shape}, expected {(len(self.sample_iid), k)}")

    @property
    def n_pcs(self) -> int:
        """Number of components."""
        return len(self.eigenvalues)

    @property
    def n_variants(self) -> int:
        """Number of variants in the model."""
        return len(self.variant_ids)

    @property
    def samples(self) -> pd.DataFrame:
        """The fitted samples, columns ``fid iid``."""
        return pd.DataFrame({"fid": self.sample_fid, "iid": self.sample_iid})

    def scores_frame(self) -> pd.DataFrame:
        """``FID IID PC1..PCn`` table of the fitted samples."""
        return _scores_frame(self.samples, self.scores)

    # -- projection ---------------------------------------------------------

    def _match(self, table: pd.DataFrame) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
        """Model rows, cohort columns and flip flags of the variants found in ``table``."""
        ids = table["id"].astype(str).to_numpy()
        first = ~pd.Index(ids).duplicated()
        lookup = pd.Index(ids[first])
        cohort_pos = np.flatnonzero(first)
        loc = lookup.get_indexer(self.variant_ids.astype(str))
        rows = np.flatnonzero(loc >= 0)
        cols = cohort_pos[loc[rows]]
        c_a1 = table["a1"].astype(str).to_numpy()[cols]
        c_a2 = table["a2"].astype(str).to_numpy()[cols]
        m_a1 = self.a1[rows].astype(str)
        m_a2 = self.a2[rows].astype(str)
        same = (c_a1 == m_a1) & (c_a2 == m_a2)
        swap = (c_a1 == m_a2) & (c_a2 == m_a1)
        ok = same | swap
        return rows[ok], cols[ok], swap[ok]

    def transform(
        self,
        source: Any,
        samples: Any = None,
        variants: pd.DataFrame | None = None,
        sample_table: pd.DataFrame | None = None,
        max_missing: float = 0.5,
        chunk_size: int = DEFAULT_CHUNK,
    ) -> PCAProjection:
        """Project another cohort onto the model's axes.

        Parameters
        ----------
        source
            A :class:`~genopt.io.plink.PlinkFileset`; a
            :class:`~genopt.cohort.Cohort` (anything with ``fileset`` and
            ``sample_idx``: its samples, in its order); or a ``(n_samples,
            n_variants)`` array of A1 counts (NaN or negative = missing) whose
            columns are described by ``variants``. Filesets are read in chunks
            of the matched variants only.
        samples
            Fileset samples to project (None for all).
        variants
            Variant table (columns ``id a1 a2``) of an array ``source``. A
            model variant is looked up by ID (the first variant with that ID)
            and used if its two alleles are the model's, in either order.
        sample_table
            Sample table (columns ``fid iid``) of an array ``source``.
        max_missing
            Largest tolerated fraction of model variants missing from the
            cohort.

        Returns
        -------
        PCAProjection
            Scores and matching counts. Variants are matched by ID with the same
            two alleles; where the cohort's A1 is the model's A2 the dosage
            ``2 - g`` is used. Missing calls, and model variants absent from the
            cohort, take the model's mean (0 after standardisation).

        Raises
        ------
        GenoptError
            More than ``max_missing`` of the model's variants are missing.
        """
        if not isinstance(source, PlinkFileset) and hasattr(source, "fileset") and hasattr(source, "sample_idx"):
            # a genopt.cohort.Cohort: its fileset restricted to its samples
            if samples is not None:
                raise ValueError("samples cannot be given with a Cohort (it selects its own)")
            source, samples = source.fileset, source.sample_idx
        if isinstance(source, PlinkFileset):
            table = source.variants
            where = str(source.prefix) + ".bim"
            s_idx = _as_index(samples, source.n_samples, "sample")
            sample_frame = source.samples if s_idx is None else source.samples.iloc[s_idx]
        else:
            arr = np.asarray(source)
            if arr.ndim != 2:
                raise ValueError(f"genotypes must be 2-D (samples x variants), got shape {arr.shape}")
            if variants is None:
                raise ValueError("a variants table (id a1 a2) is required to project an array")
            if len(variants) != arr.shape[1]:
                raise ValueError(f"{len(variants)} variants for {arr.shape[1]} genotype columns")
            table = variants
            where = "<genotype array>"
            if sample_table is None:
                numbers = np.arange(arr.shape[0]).astype(str)
                sample_table = pd.DataFrame({"fid": numbers, "iid": numbers})
            sample_frame = sample_table
        rows, cols, flip = self._match(table)
        n_missing = self.n_variants - len(rows)
        frac = n_missing / max(self.n_variants, 1)
        if frac > max_missing:
            raise GenoptError(
                f"{n_missing} of the PCA model's {self.n_variants} variants ({frac:.1%}) are missing from this cohort "
                f"(matched by ID and alleles), more than the tolerated {max_missing:.0%}; first missing: "
                f"{', '.join(self._missing_ids(rows)[:5])}",
                where,
            )
        n = len(sample_frame)
        scores = np.zeros((n, self.n_pcs), dtype=np.float64)
        order = np.argsort(cols, kind="stable")  # read the cohort's variants in file order
        rows, cols, flip = rows[order], cols[order], flip[order]
        if isinstance(source, PlinkFileset):
            for start in range(0, len(cols), chunk_size):
                sl = slice(start, start + chunk_size)
                g8 = source.read_int8(variants=cols[sl], samples=s_idx)
                g64: npt.NDArray[np.float64] = g8.astype(np.float64)
                scores += self._chunk_scores(g64, g8 < 0, rows[sl], flip[sl])
        else:
            arr = np.asarray(source, dtype=np.float64)
            for start in range(0, len(cols), chunk_size):
                sl = slice(start, start + chunk_size)
                g = arr[:, cols[sl]]
                scores += self._chunk_scores(g, np.isnan(g) | (g < 0), rows[sl], flip[sl])
        return PCAProjection(
            samples=sample_frame[["fid", "iid"]].reset_index(drop=True),
            scores=scores,
            n_model_variants=self.n_variants,
            n_missing=n_missing,
            n_flipped=int(flip.sum()),
            missing_ids=tuple(self._missing_ids(rows)),
        )

    def _missing_ids(self, rows: npt.NDArray[np.intp]) -> list[str]:
        present = np.zeros(self.n_variants, dtype=bool)
        present[rows] = True
        return [str(v) for v in self.variant_ids[~present]]

    def _chunk_scores(
        self,
        g: npt.NDArray[np.float64],
        missing: npt.NDArray[np.bool_],
        rows: npt.NDArray[np.intp],
        flip: npt.NDArray[np.bool_],
    ) -> npt.NDArray[np.float64]:
        g = np.where(flip[None, :], 2.0 - g, g)
        z = (g - self.means[rows]) / self.scales[rows]
        z[missing] = 0.0
        out: npt.NDArray[np.float64] = z @ self.loadings[rows]
        return out

    # -- serialisation ------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (floats written with full precision by :mod:`json`)."""
        return {
            "format": MODEL_FORMAT,
            "method": self.method,
            "n_pcs": self.n_pcs,
            "eigenvalues": self.eigenvalues.tolist(),
            "variants": {
                "id": self.variant_ids.tolist(),
                "a1": self.a1.tolist(),
                "a2": self.a2.tolist(),
                "mean": self.means.tolist(),
                "scale": self.scales.tolist(),
                "loadings": self.loadings.tolist(),
            },
            "samples": {
                "fid": self.sample_fid.tolist(),
                "iid": self.sample_iid.tolist(),
                "scores": self.scores.tolist(),
            },
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<PCA model>") -> PCAModel:
        """Inverse of :meth:`to_dict`; GenoptError naming ``source`` if malformed."""
        try:
            if data.get("format") != MODEL_FORMAT:
                raise GenoptError(
                    f"not a genopt PCA model (format {data.get('format')!r}, expected {MODEL_FORMAT!r})", source
                )
            v = data["variants"]
            s = data["samples"]
            k = int(data["n_pcs"])
            loadings = np.asarray(v["loadings"], dtype=np.float64).reshape(len(v["id"]), k)
            scores = np.asarray(s["scores"], dtype=np.float64).reshape(len(s["iid"]), k)
            return cls(
                variant_ids=np.asarray(v["id"]),
                a1=np.asarray(v["a1"]),
                a2=np.asarray(v["a2"]),
                means=np.asarray(v["mean"]),
                scales=np.asarray(v["scale"]),
                loadings=loadings,
                eigenvalues=np.asarray(data["eigenvalues"]),
                sample_fid=np.asarray(s["fid"]),
                sample_iid=np.asarray(s["iid"]),
                scores=scores,
                method=str(data.get("method", "exact")),
                extra=dict(data.get("extra", {})),
            )
        except GenoptError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise GenoptError(f"malformed PCA model: {exc}", source) from None

    def save(self, path: str | Path) -> None:
        """Write the model as JSON (atomically)."""
        write_text(path, json.dumps(self.to_dict(), separators=(",", ":")))

    @classmethod
    def load(cls, path: str | Path) -> PCAModel:
        """Read a model written by :meth:`save`."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise GenoptError("PCA model file not found", path) from None
        except json.JSONDecodeError as exc:
            raise GenoptError(f"invalid JSON: {exc.msg}", path, exc.lineno) from None
        return cls.from_dict(data, str(path))

    def loadings_frame(self) -> pd.DataFrame:
        """``ID A1 A2 MEAN SCALE PC1..PCn`` table of the model's variants."""
        frame = pd.DataFrame(
            {"ID": self.variant_ids, "A1": self.a1, "A2": self.a2, "MEAN": self.means, "SCALE": self.scales}
        )
        for i in range(self.n_pcs):
            frame[f"PC{i + 1}"] = self.loadings[:, i]
        return frame


def _standardised_chunks(
    fileset: PlinkFileset,
    v_idx: npt.NDArray[np.intp],
    s_idx: npt.NDArray[np.intp],
    means: npt.NDArray[np.float64],
    scales: npt.NDArray[np.float64],
    chunk_size: int,
) -> Iterator[tuple[slice, npt.NDArray[np.float64]]]:
    """Yield ``(column slice, Z chunk)``: standardised genotypes, 0 for missing."""
    for start in range(0, len(v_idx), chunk_size):
        sl = slice(start, min(start + chunk_size, len(v_idx)))
        g = fileset.read_int8(variants=v_idx[sl], samples=s_idx)
        z = (g - means[sl]) / scales[sl]
        z[g < 0] = 0.0
        yield sl, z


def fit_pca(
    fileset: PlinkFileset,
    config: PCAConfig | None = None,
    samples: Any = None,
    variants: Any = None,
    chunk_size: int = 2048,
    missing: str = "mean-impute",
) -> PCAModel:
    """Principal components of standardised genotypes, as ``plink2 --pca``.

    Parameters
    ----------
    fileset
        Genotypes (A1 counts).
    config
        ``n_pcs``, and for large cohorts ``exact_max_samples`` / ``seed``
        (see Notes). MAF filtering and LD pruning are *not* applied here: pass
        the pruned set as ``variants`` (see :func:`run_pca`).
    samples
        Samples to fit on (None for all). Allele frequencies come from the
        founders among them (as PLINK's); all of them get scores.
    variants
        Variants to use (None for all), e.g. the mask from :func:`ld_prune`.
        Variants with no variance among the founders are left out.
    missing
        ``"mean-impute"`` (default): a missing call is the variant's mean, so
        the relationship matrix is ``Z Z^T / m`` and the model's projection
        reproduces the fitted scores exactly. ``"pairwise"`` (exact method
        only): each entry ``(j, k)`` is divided by the number of variants called
        in both samples instead of ``m``, which is what ``plink2 --pca`` (without
        ``approx``) computes; the fitted scores and eigenvalues are then
        plink2's, and projecting the fitted samples reproduces them only
        approximately (the two differ by about the missing-call rate: on hm3,
        0.15% missing calls, eigenvalues by <= 0.35% and PCs 1-10 correlate
        >= 0.9998).

    Returns
    -------
    PCAModel

    Notes
    -----
    ``Z`` (n x m) holds ``(g - 2p) / sqrt(2p(1-p))`` with 0 for missing calls.
    With ``n <= config.exact_max_samples`` the n x n matrix ``Z Z^T / m`` is
    accumulated over variant chunks (float64) and diagonalised exactly
    (:func:`scipy.linalg.eigh`, top ``n_pcs``), as PLINK 2 does without
    ``approx`` (up to the missing-call normalisation, see ``missing``).
    Above it, a randomized SVD (Halko, Martinsson and Tropp 2011: range
    finder with ``n_pcs + 10`` columns and 6 power iterations, QR
    re-orthonormalisation, Rayleigh-Ritz step, seeded by ``config.seed``)
    streams the genotypes in chunks, so memory is O(n * (n_pcs + 10) + n * chunk). Loadings are
    ``Z^T U / (m * eigenvalue)`` so that ``Z @ loadings`` reproduces the scores
    ``U``. Each PC's sign is fixed so that its largest-magnitude score is
    positive.
    """
    config = config or PCAConfig()
    s_idx, founders = _selected_samples(fileset, samples)
    v_idx = _as_index(variants, fileset.n_variants, "variant")
    if v_idx is None:
        v_idx = np.arange(fileset.n_variants, dtype=np.intp)
    where = str(fileset.prefix) + ".bed"
    if founders.size < 2:
        raise GenoptError(f"PCA needs at least two founders, found {founders.size}", str(fileset.prefix) + ".fam")
    freq, called = allele_frequencies(fileset, founders, v_idx)
    ok = (called > 0) & (freq > 0) & (freq < 1)
    v_idx, freq = v_idx[ok], freq[ok]
    m, n = len(v_idx), len(s_idx)
    k = int(config.n_pcs)
    if k < 1:
        raise GenoptError(f"number of PCs must be >= 1, got {k}", where)
    if k >= min(n, m):
        raise GenoptError(f"{k} PCs requested but only {n} samples and {m} polymorphic variants are available", where)
    means = 2.0 * freq
    scales = np.sqrt(2.0 * freq * (1.0 - freq))
    if missing not in ("mean-impute", "pairwise"):
        raise ValueError(f"missing must be 'mean-impute' or 'pairwise', got {missing!r}")
    if n <= config.exact_max_samples:
        grm = np.zeros((n, n), dtype=np.float64)
        both = np.zeros((n, n), dtype=np.float64) if missing == "pairwise" else None
        for sl, z in _standardised_chunks(fileset, v_idx, s_idx, means, scales, chunk_size):
            grm += z @ z.T
            if both is not None:
                called = (fileset.read_int8(variants=v_idx[sl], samples=s_idx) >= 0).astype(np.float64)
                both += called @ called.T
        if both is None:
            grm /= m
        else:
            grm /= np.maximum(both, 1.0)
        vals, vecs = scipy.linalg.eigh(grm, subset_by_index=[n - k, n - 1])
        order = np.argsort(vals)[::-1]
        eigenvalues, u = vals[order], vecs[:, order]
        method = "exact"
    else:
        if missing != "mean-impute":
            raise GenoptError(
                f"missing={missing!r} needs the exact method; {n} samples exceed exact_max_samples="
                f"{config.exact_max_samples}",
                where,
            )
        eigenvalues, u = _randomized_eig(fileset, v_idx, s_idx, means, scales, m, k, config.seed, chunk_size)
        method = "randomized"
    # deterministic signs: largest-magnitude score positive
    big = np.argmax(np.abs(u), axis=0)
    u = u * np.sign(u[big, np.arange(k)])[None, :]
    loadings = np.empty((m, k), dtype=np.float64)
    for sl, z in _standardised_chunks(fileset, v_idx, s_idx, means, scales, chunk_size):
        loadings[sl] = z.T @ u
    loadings /= m * eigenvalues[None, :]
    table = fileset.variants.iloc[v_idx]
    fam = fileset.samples.iloc[s_idx]
    return PCAModel(
        variant_ids=table["id"].to_numpy(),
        a1=table["a1"].to_numpy(),
        a2=table["a2"].to_numpy(),
        means=means,
        scales=scales,
        loadings=loadings,
        eigenvalues=eigenvalues,
        sample_fid=fam["fid"].to_numpy(),
        sample_iid=fam["iid"].to_numpy(),
        scores=u,
        method=method,
        extra={"n_founders": int(founders.size), "source": str(fileset.prefix), "missing": missing},
    )


def _randomized_eig(
    fileset: PlinkFileset,
    v_idx: npt.NDArray[np.intp],
    s_idx: npt.NDArray[np.intp],
    means: npt.NDArray[np.float64],
    scales: npt.NDArray[np.float64],
    m: int,
    k: int,
    seed: int,
    chunk_size: int,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Top-k eigenpairs of ``Z Z^T / m`` by a streamed randomized range finder."""
    rng = np.random.default_rng(seed)
    n = len(s_idx)
    ell = min(k + _RSVD_OVERSAMPLES, n)

    def times_zzt(q: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        out = np.zeros((n, q.shape[1]), dtype=np.float64)
        for _, z in _standardised_chunks(fileset, v_idx, s_idx, means, scales, chunk_size):
            out += z @ (z.T @ q)
        return out / m

    q = np.linalg.qr(rng.standard_normal((n, ell)))[0]
    for _ in range(_RSVD_POWER_ITERS):
        q = np.linalg.qr(times_zzt(q))[0]
    # Rayleigh-Ritz on the subspace
    b = q.T @ times_zzt(q)
    vals, vecs = np.linalg.eigh((b + b.T) / 2.0)
    order = np.argsort(vals)[::-1][:k]
    return vals[order], q @ vecs[:, order]


# ---------------------------------------------------------------------------
# the CLI step
# ---------------------------------------------------------------------------


def pca_variants(
    fileset: PlinkFileset,
    config: PCAConfig | None = None,
    samples: Any = None,
    variants: Any = None,
) -> npt.NDArray[np.bool_]:
    """The variants a PCA should use: ``--maf`` then ``--indep-pairwise``.

    Parameters
    ----------
    fileset
        Genotypes (A1 counts).
    config
        ``maf`` and ``prune`` are used.
    samples, variants
        Samples (their founders give the MAF and r^2) and candidate variants
        (e.g. those passing QC); None for all.

    Returns
    -------
    bool mask over all variants of ``fileset`` (PLINK's .prune.in).
    """
    config = config or PCAConfig()
    candidates = maf_filter(fileset, config.maf, samples=samples, variants=variants)
    if not candidates.any():
        raise GenoptError(f"no variant has MAF >= {config.maf}; nothing to run a PCA on", str(fileset.prefix) + ".bim")
    kept = ld_prune(fileset, config.prune, samples=samples, variants=candidates)
    log.info("PCA: %d variants pass MAF >= %g, %d kept by LD pruning", candidates.sum(), config.maf, kept.sum())
    return kept


def run_pca(
    fileset: PlinkFileset,
    out_dir: str | Path,
    config: PCAConfig | None = None,
    project: PlinkFileset | None = None,
) -> PCAModel:
    """MAF filter, LD pruning, PCA and (optionally) projection; writes the outputs.

    Parameters
    ----------
    fileset
        Discovery cohort (after QC).
    out_dir
        Output directory (created if needed).
    config
        ``maf`` (``plink2 --maf`` on the founders), ``prune``
        (``--indep-pairwise``), ``n_pcs``, ``max_missing`` (projection).
    project
        Another cohort to project onto the fitted axes.

    Returns
    -------
    PCAModel

    Files written (each atomically)
    -------------------------------
    ``pca.prune.in``
        IDs of the variants kept by pruning (the PCA's variants), one a line.
    ``pca.eigenvec.tsv``
        ``FID IID PC1..PCn`` (unit-length eigenvectors, as plink2's .eigenvec).
    ``pca.eigenval.tsv``
        ``PC EIGENVALUE`` (eigenvalues of ``Z Z^T / m``, as plink2's .eigenval).
    ``pca.model.json``
        The :class:`PCAModel` (:meth:`PCAModel.save`), loadable with
        :meth:`PCAModel.load`.
    ``pca.loadings.tsv``
        ``ID A1 A2 MEAN SCALE PC1..PCn``.
    ``pca.projected.eigenvec.tsv``, ``pca.projected.summary.json``
        With ``project``: its scores (same scale as ``pca.eigenvec.tsv``) and
        the variant matching counts.
    """
    config = config or PCAConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    kept = pca_variants(fileset, config)
    model = fit_pca(fileset, config, variants=kept)
    ids = fileset.variants["id"].astype(str).to_numpy()[kept]
    write_text(out / "pca.prune.in", "".join(f"{v}\n" for v in ids))
    write_tsv(out / "pca.eigenvec.tsv", model.scores_frame())
    write_tsv(
        out / "pca.eigenval.tsv",
        pd.DataFrame({"PC": [f"PC{i + 1}" for i in range(model.n_pcs)], "EIGENVALUE": model.eigenvalues}),
    )
    write_tsv(out / "pca.loadings.tsv", model.loadings_frame(), float_format="%.12g")
    model.save(out / "pca.model.json")
    if project is not None:
        proj = model.transform(project, max_missing=config.max_missing)
        write_tsv(out / "pca.projected.eigenvec.tsv", proj.as_frame())
        write_text(out / "pca.projected.summary.json", json.dumps(proj.summary(), indent=2) + "\n")
        log.info(
            "PCA projection: %d of %d model variants missing, %d flipped",
            proj.n_missing,
            proj.n_model_variants,
            proj.n_flipped,
        )
    return model


def jaccard(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Jaccard index of two collections of IDs (1.0 for two empty sets)."""
    sa, sb = set(np.asarray(a).tolist()), set(np.asarray(b).tolist())
    union = sa | sb
    return 1.0 if not union else len(sa & sb) / len(union)
