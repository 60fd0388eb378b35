"""Sample overlap and relatedness within and between cohorts.

Two checks, because the same person can sit in two cohorts under different
IDs:

* **by ID**: IIDs (and FID+IID pairs) present in both .fam files;
* **by genotype**: KING-robust kinship (Manichaikul et al. 2010), the
  *between-family* estimator that ``plink2 --make-king`` uses for all pairs,
  on a subset of shared, harmonised, common variants.

For samples ``i`` and ``j``, over the variants where neither call is missing
(``N_SNPS``)::

    kinship = 1/2 - (4 * IBS0 + HET_i_HOM_j + HET_j_HOM_i) / (4 * M)
    M       = HETHET + min(HET_i_HOM_j, HET_j_HOM_i)
            = min(N_het_i, N_het_j)       (hets counted where both are called)

with ``HETHET`` the count of variants where both are heterozygous, ``IBS0``
where they are opposite homozygotes, ``HET_i_HOM_j`` where ``i`` is
heterozygous and ``j`` homozygous. Duplicates / monozygotic twins have
kinship near 1/2, first-degree relatives near 1/4, second-degree near 1/8;
the relation cut-offs are KING's (``2^-1.5``, ``2^-2.5``, ``2^-3.5``, in
:class:`genopt.config.OverlapConfig`). Unrelated people of different
ancestry get negative values.

All pair counts come from matrix products of 0/1 indicator matrices
(heterozygous, homozygous A1, homozygous A2, called) over blocks of samples
and variants, so the cost is a few single-precision matrix multiplications
(exact for counts below 2^24).

References
----------
Manichaikul A, Mychaleckyj JC, Rich SS, Daly K, Sale M, Chen WM (2010).
Robust relationship inference in genome-wide association studies.
Bioinformatics 26(22):2867-2873.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from genopt.config import HarmoniseConfig, OverlapConfig
from genopt.errors import GenoptError
from genopt.harmonise import Harmonisation, align_genotypes, harmonise
from genopt.io.atomic import write_tsv
from genopt.io.plink import PlinkFileset, allele_frequencies

#: Relation labels, strongest first.
RELATIONS = ("duplicate", "first-degree", "second-degree", "unrelated")
#: Leading columns of the overlap table written by :func:`write_overlap`.
OVERLAP_COLUMNS = ["IID_A", "IID_B", "KINSHIP", "RELATION", "FID_A", "FID_B", "N_SNPS", "SAME_IID"]
#: Columns of :func:`kinship_within` (those of ``plink2 --make-king-table`` plus ``RELATION``).
WITHIN_COLUMNS = ["FID1", "IID1", "FID2", "IID2", "NSNP", "HETHET", "IBS0", "KINSHIP", "RELATION"]

_SAMPLE_BLOCK = 2048
_VARIANT_BLOCK = 2048


@dataclass(frozen=True)
class KingCounts:
    """Pairwise KING-robust counts for a block of samples.

    Every array has shape ``(n_a, n_b)`` (rows: samples of the first
    genotype matrix, columns: samples of the second).

    Attributes
    ----------
    kinship
        KING-robust between-family kinship (NaN when neither sample has a
        heterozygous call among the shared variants).
    n_snps
        Variants called in both samples.
    hethet, ibs0, het_a_hom_b, het_b_hom_a
        Counts of heterozygous-heterozygous, opposite-homozygous,
        het(a)-hom(b) and het(b)-hom(a) variants among those.
    """

    kinship: npt.NDArray[np.float64]
    n_snps: npt.NDArray[np.int32]
    hethet: npt.NDArray[np.int32]
    ibs0: npt.NDArray[np.int32]
    het_a_hom_b: npt.NDArray[np.int32]
    het_b_hom_a: npt.NDArray[np.int32]


def _indicators(g: npt.NDArray[Any]) -> tuple[npt.NDArray[np.float32], ...]:
    """het, hom-A1, hom-A2, called as float32 0/1 (samples x variants)."""
    if g.dtype.kind == "f":
        gi = np.where(np.isnan(g), -1, g).astype(np.int8)
    else:
        gi = g.astype(np.int8, copy=False)
    het, hom_a1, hom_a2 = ((gi == v).astype(np.float32) for v in (1, 2, 0))
    return het, hom_a1, hom_a2, (gi >= 0).astype(np.float32)


def king_robust(
    g_a: npt.ArrayLike, g_b: npt.ArrayLike | None = None, variant_block: int = _VARIANT_BLOCK
) -> KingCounts:
    """KING-robust kinship for every pair of samples of two genotype matrices.

    Parameters
    ----------
    g_a, g_b
        ``(n_a, n_variants)`` and ``(n_b, n_variants)`` counts of the **same**
        allele (e.g. the reference .bim A1 after :func:`align_genotypes`):
        int8 with -1 for missing or float with NaN for missing. ``g_b``
        defaults to ``g_a`` (all pairs within one cohort, diagonal included).
    variant_block
        Variants per matrix product (bounds memory at about
        ``8 * (n_a + n_b) * variant_block`` bytes of indicators).

    Returns
    -------
    KingCounts with arrays of shape ``(n_a, n_b)``. Only variants called in
    both samples of a pair count, as in ``plink2 --make-king``.
    """
    a = np.asarray(g_a)
    b = a if g_b is None else np.asarray(g_b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"genotype matrices must be 2-D with the same variants, got {a.shape} and {b.shape}")
    n_a, n_b = a.shape[0], b.shape[0]
    # Accumulated products: [Ha; Oa] @ [Hb; Ob]^T gives HaHb, HaOb, OaHb, OaOb;
    # [Aa | Ba] @ [Bb | Ab]^T gives opposite homozygotes.
    quad = np.zeros((2 * n_a, 2 * n_b), dtype=np.float32)
    ibs0 = np.zeros((n_a, n_b), dtype=np.float32)
    for start in range(0, a.shape[1], variant_block):
        sl = slice(start, start + variant_block)
        ha, aa, ba, oa = _indicators(a[:, sl])
        hb, ab, bb, ob = (ha, aa, ba, oa) if g_b is None else _indicators(b[:, sl])
        quad += np.vstack([ha, oa]) @ np.vstack([hb, ob]).T
        ibs0 += np.hstack([aa, ba]) @ np.hstack([bb, ab]).T
    hethet = quad[:n_a, :n_b].astype(np.int32)
    het_a_called_b = quad[:n_a, n_b:].astype(np.int32)
    called_a_het_b = quad[n_a:, :n_b].astype(np.int32)
    n_snps = quad[n_a:, n_b:].astype(np.int32)
    ibs0_i = ibs0.astype(np.int32)
    het_a_hom_b = het_a_called_b - hethet
    het_b_hom_a = called_a_het_b - hethet
    denom = (hethet + np.minimum(het_a_hom_b, het_b_hom_a)).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        kinship = 0.5 - (4.0 * ibs0_i + het_a_hom_b + het_b_hom_a) / (4.0 * denom)
    kinship[denom == 0] = np.nan
    return KingCounts(kinship, n_snps, hethet, ibs0_i, het_a_hom_b, het_b_hom_a)


def classify(kinship: npt.ArrayLike, config: OverlapConfig | None = None) -> npt.NDArray[np.object_]:
    """Relation label per kinship value: ``duplicate`` (>= ``config.duplicate``),
    ``first-degree``, ``second-degree`` or ``unrelated`` (also for NaN).
    Cut-offs from ``config`` (:class:`~genopt.config.OverlapConfig` defaults when None)."""
    config = OverlapConfig() if config is None else config
    k = np.asarray(kinship, dtype=np.float64)
    labels = np.array(RELATIONS, dtype=object)
    with np.errstate(invalid="ignore"):
        code = np.select([k >= config.duplicate, k >= config.first_degree, k >= config.second_degree], [0, 1, 2], 3)
    return labels[code]


def select_variants(eligible: npt.NDArray[np.bool_], n_variants: int) -> npt.NDArray[np.intp]:
    """Indices of ``n_variants`` eligible variants spread evenly along the table.

    Parameters
    ----------
    eligible
        Boolean mask over the variants of a table (in .bim order).
    n_variants
        How many to take; all eligible ones when there are fewer.

    Returns
    -------
    Sorted int indices into the table.
    """
    idx = np.flatnonzero(eligible)
    if len(idx) <= n_variants:
        return idx.astype(np.intp)
    pick = np.unique(np.linspace(0, len(idx) - 1, n_variants).round().astype(np.intp))
    return idx[pick].astype(np.intp)


def _common(freq: npt.NDArray[np.float64], min_maf: float) -> npt.NDArray[np.bool_]:
    maf = np.minimum(freq, 1 - freq)
    with np.errstate(invalid="ignore"):
        return np.isfinite(maf) & (maf >= min_maf)


def _pairs_in_blocks(
    g_a: npt.NDArray[Any], g_b: npt.NDArray[Any] | None, min_kinship: float, upper_only: bool
) -> Iterator[tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], KingCounts]]:
    """Pairs with kinship >= min_kinship, one block of A x B samples at a time.

    Memory is bounded by the block size (about 100 MB of pair counts for
    2048 x 2048 samples) whatever the cohort sizes. With ``upper_only`` (within
    one cohort, ``g_b`` None) only pairs ``i < j`` are computed and yielded.

    Yields (i, j, counts) with i, j global sample indices into A and B.
    """
    other = g_a if g_b is None else g_b
    size = _SAMPLE_BLOCK
    for a0 in range(0, g_a.shape[0], size):
        block_a = g_a[a0 : a0 + size]
        for b0 in range(a0 if upper_only else 0, other.shape[0], size):
            kc = king_robust(block_a, other[b0 : b0 + size])
            with np.errstate(invalid="ignore"):
                keep = kc.kinship >= min_kinship
            if upper_only and b0 == a0:
                keep &= np.triu(np.ones(keep.shape, dtype=bool), k=1)
            i, j = np.nonzero(keep)
            yield (i + a0).astype(np.intp), (j + b0).astype(np.intp), _take(kc, i, j)


def autosomal(variants: pd.DataFrame) -> npt.NDArray[np.bool_]:
    """Mask of variants on chromosomes 1-22 (``chr`` prefix allowed), as KING and plink2 use."""
    chrom = pd.Series(variants["chrom"].to_numpy().astype(str)).str.replace(r"^(?i:chr)", "", regex=True)
    num = pd.to_numeric(chrom, errors="coerce").to_numpy()
    with np.errstate(invalid="ignore"):
        return np.isfinite(num) & (num >= 1) & (num <= 22)


def _take(kc: KingCounts, i: npt.NDArray[np.intp], j: npt.NDArray[np.intp]) -> KingCounts:
    return KingCounts(*(getattr(kc, f)[i, j] for f in KingCounts.__dataclass_fields__))


def kinship_within(
    fileset: PlinkFileset,
    variants: Any = None,
    config: OverlapConfig | None = None,
    min_kinship: float | None = None,
) -> pd.DataFrame:
    """KING-robust kinship of every pair of samples within one cohort.

    Parameters
    ----------
    fileset
        The cohort.
    variants
        Variants to use (None, boolean mask or integer indices into the
        .bim), used as given. By default ``config.n_variants`` autosomal
        variants with MAF >= ``config.min_maf``, spread evenly along the .bim
        (:func:`select_variants`).
    config
        Variant count, MAF floor and relation cut-offs.
    min_kinship
        Report pairs with kinship >= this; ``config.min_kinship`` by default,
        ``-inf`` for every pair.

    Returns
    -------
    DataFrame with the columns of ``plink2 --make-king-table``
    (``FID1 IID1 FID2 IID2 NSNP HETHET IBS0 KINSHIP``; HETHET and IBS0 as
    proportions of NSNP) plus ``RELATION``, one row per unordered pair
    (sample 1 before sample 2 in .fam order), sorted by .fam order.
    """
    config = OverlapConfig() if config is None else config
    if variants is None:
        eligible = _common(allele_frequencies(fileset)[0], config.min_maf) & autosomal(fileset.variants)
        idx = select_variants(eligible, config.n_variants)
    else:
        idx = np.arange(fileset.n_variants)[variants] if np.asarray(variants).dtype == bool else np.asarray(variants)
    if len(idx) == 0:
        raise GenoptError("no variants left for kinship (none common enough)", fileset.prefix)
    g = fileset.read_int8(variants=idx)
    threshold = config.min_kinship if min_kinship is None else min_kinship
    parts = list(_pairs_in_blocks(g, None, threshold, upper_only=True))
    i = np.concatenate([p[0] for p in parts])
    j = np.concatenate([p[1] for p in parts])
    kin = np.concatenate([p[2].kinship for p in parts])
    nsnp = np.concatenate([p[2].n_snps for p in parts])
    hethet = np.concatenate([p[2].hethet for p in parts])
    ibs0 = np.concatenate([p[2].ibs0 for p in parts])
    order = np.lexsort((j, i))  # .fam order of sample 1, then of sample 2
    i, j, kin, nsnp, hethet, ibs0 = (x[order] for x in (i, j, kin, nsnp, hethet, ibs0))
    s = fileset.samples
    with np.errstate(invalid="ignore", divide="ignore"):
        out = pd.DataFrame(
            {
                "FID1": s["fid"].to_numpy()[i],
                "IID1": s["iid"].to_numpy()[i],
                "FID2": s["fid"].to_numpy()[j],
                "IID2": s["iid"].to_numpy()[j],
                "NSNP": nsnp,
                "HETHET": hethet / nsnp,
                "IBS0": ibs0 / nsnp,
                "KINSHIP": kin,
                "RELATION": classify(kin, config),
            }
        )
    return out


def _id_matches(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    left = pd.DataFrame({"FID_A": a["fid"].to_numpy(), "IID": a["iid"].to_numpy(), "INDEX_A": np.arange(len(a))})
    right = pd.DataFrame({"FID_B": b["fid"].to_numpy(), "IID": b["iid"].to_numpy(), "INDEX_B": np.arange(len(b))})
    m = left.merge(right, on="IID", how="inner")
    m = m.rename(columns={"IID": "IID_A"})
    m.insert(3, "IID_B", m["IID_A"])
    m["SAME_FID"] = (m["FID_A"] == m["FID_B"]).to_numpy()
    return m[["FID_A", "IID_A", "FID_B", "IID_B", "SAME_FID", "INDEX_A", "INDEX_B"]].reset_index(drop=True)


@dataclass(frozen=True, eq=False)
class OverlapResult:
    """Samples shared or related between two cohorts.

    Attributes
    ----------
    pairs
        One row per cross-cohort pair with kinship >= ``config.min_kinship``,
        columns :data:`OVERLAP_COLUMNS` (``IID_A IID_B KINSHIP RELATION FID_A
        FID_B N_SNPS SAME_IID``), sorted by decreasing kinship.
    by_id
        Samples whose IID is in both .fam files: ``FID_A IID_A FID_B IID_B
        SAME_FID INDEX_A INDEX_B`` (INDEX = row in each .fam).
    variant_ids
        IDs (cohort A's) of the variants the kinship used.
    harmonisation
        How cohort B's variants were aligned to cohort A's.
    """

    pairs: pd.DataFrame
    by_id: pd.DataFrame
    variant_ids: npt.NDArray[np.object_]
    harmonisation: Harmonisation

    def counts(self) -> dict[str, int]:
        """Pairs per relation (``duplicate``, ``first-degree``,
        ``second-degree``), and samples with an IID (``shared IID``) or an
        FID+IID (``shared FID+IID``) in both cohorts (JSON-ready)."""
        out = {r: int((self.pairs["RELATION"] == r).sum()) for r in RELATIONS[:3]}
        out["shared IID"] = len(self.by_id)
        out["shared FID+IID"] = int(self.by_id["SAME_FID"].sum())
        return out

    def summary(self) -> str:
        """``"N duplicates, N first-degree, N second-degree pairs; N shared IDs"``."""
        return overlap_summary(self)


def overlap_summary(result: OverlapResult) -> str:
    """One-line summary of an :class:`OverlapResult` for the CLI."""
    c = result.counts()
    return (
        f"{c['duplicate']} duplicates, {c['first-degree']} first-degree, {c['second-degree']} second-degree pairs; "
        f"{c['shared IID']} shared IDs"
    )


def find_overlap(
    fs_a: PlinkFileset,
    fs_b: PlinkFileset,
    config: OverlapConfig | None = None,
    harmonise_config: HarmoniseConfig | None = None,
) -> OverlapResult:
    """Find people shared (or closely related) between two cohorts.

    Cohort B's variants are harmonised to cohort A's .bim A1
    (:func:`genopt.harmonise.harmonise` with A1 frequencies from the
    genotypes); of the matched autosomal variants with MAF >=
    ``config.min_maf`` in both cohorts, ``config.n_variants`` spread evenly along A's .bim are
    used for KING-robust kinship of every A x B pair.

    Parameters
    ----------
    fs_a, fs_b
        The two cohorts.
    config
        Variant count, MAF floor, reporting floor and relation cut-offs
        (:class:`~genopt.config.OverlapConfig` defaults when None).
    harmonise_config
        How variants are matched (by ID or position) and aligned
        (:class:`~genopt.config.HarmoniseConfig` defaults when None).

    Returns
    -------
    OverlapResult

    Raises
    ------
    GenoptError
        No variant is shared (after harmonisation and the MAF floor).
    """
    config = OverlapConfig() if config is None else config
    fa, fb = allele_frequencies(fs_a)[0], allele_frequencies(fs_b)[0]
    h = harmonise(fs_a.variants, fs_b.variants, fa, fb, harmonise_config)
    common = _common(fa[h.ref_index], config.min_maf) & _common(fb[h.other_index], config.min_maf)
    common &= autosomal(fs_a.variants)[h.ref_index]
    pick = select_variants(common, config.n_variants)
    if len(pick) == 0:
        raise GenoptError(
            f"no common variants shared with {fs_b.prefix} after harmonisation ({h.summary()})", fs_a.prefix
        )
    sub = dataclasses.replace(h, matched=h.matched.iloc[pick].reset_index(drop=True))
    g_a = fs_a.read_int8(variants=sub.ref_index)
    g_b = align_genotypes(fs_b.read_int8(variants=sub.other_index), sub, subset=True)
    parts = list(_pairs_in_blocks(g_a, g_b, config.min_kinship, upper_only=False))
    i = np.concatenate([p[0] for p in parts])
    j = np.concatenate([p[1] for p in parts])
    kin = np.concatenate([p[2].kinship for p in parts])
    nsnp = np.concatenate([p[2].n_snps for p in parts])
    sa, sb = fs_a.samples, fs_b.samples
    iid_a, iid_b = sa["iid"].to_numpy()[i], sb["iid"].to_numpy()[j]
    pairs = pd.DataFrame(
        {
            "IID_A": iid_a,
            "IID_B": iid_b,
            "KINSHIP": kin,
            "RELATION": classify(kin, config),
            "FID_A": sa["fid"].to_numpy()[i],
            "FID_B": sb["fid"].to_numpy()[j],
            "N_SNPS": nsnp,
            "SAME_IID": iid_a == iid_b,
        }
    )
    pairs = pairs.sort_values(["KINSHIP", "IID_A", "IID_B"], ascending=[False, True, True], kind="stable")
    pairs = pairs.reset_index(drop=True)
    by_id = _id_matches(sa, sb)
    return OverlapResult(pairs, by_id, sub.matched["id"].to_numpy(dtype=object), h)


def write_overlap(result: OverlapResult, out_path: str | Path) -> None:
    """Write the pairs table of :func:`find_overlap` as TSV, atomically.

    Columns ``IID_A IID_B KINSHIP RELATION FID_A FID_B N_SNPS SAME_IID``;
    kinship with 6 significant digits.
    """
    write_tsv(out_path, result.pairs[OVERLAP_COLUMNS], float_format="%.6g")
