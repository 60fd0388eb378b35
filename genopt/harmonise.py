"""Allele harmonisation between two cohorts' variant tables.

The **reference** cohort's .bim A1 is the effect allele of everything genopt
writes; another cohort is aligned to it. For each reference variant,
:func:`harmonise` finds the other cohort's variant (by ID or by
chromosome:position), decides how the other cohort's A1 count maps onto the
reference A1 count, or drops the variant with one reason:

======================================  =========================================
other cohort's alleles (A1/A2)          outcome
======================================  =========================================
same as reference                       ``as-is``: sign +1
swapped                                 ``swapped``: sign -1 (dosage ``2 - g``)
complemented strand (A<->T, C<->G)      ``strand-flipped``: sign +1
complemented and swapped                ``strand-flipped+swapped``: sign -1
A/T or C/G (palindromic) SNP            strand told by frequency when both MAFs
                                        are below ``palindromic_maf_max``, else
                                        dropped
different alleles (A/C vs A/G)          dropped: ``allele mismatch``
indel / non-ACGT alleles                matched only on identical or swapped
                                        strings, never complemented
======================================  =========================================

Every reference variant is either matched or dropped with exactly one reason,
so ``sum(Harmonisation.counts().values()) == n_ref``. Reasons are checked in the
order of :data:`DROP_REASONS`.

All work is vectorised (pandas merges and numpy); there is no Python loop
over variants.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from genopt.config import HarmoniseConfig
from genopt.errors import GenoptError
from genopt.io.plink import PlinkFileset, allele_frequencies

#: Outcomes of matched variants, in the order they are counted.
MATCH_STATUSES = ("as-is", "swapped", "strand-flipped", "strand-flipped+swapped")

DROP_MISSING_ID = "missing ID"
DROP_DUP_REF = "duplicate in reference"
DROP_NOT_IN_OTHER = "not in other cohort"
DROP_DUP_OTHER = "duplicate in other cohort"
DROP_MISMATCH = "allele mismatch"
DROP_PALINDROMIC_NO_FREQ = "palindromic, no frequencies"
DROP_PALINDROMIC_AMBIGUOUS = "palindromic, MAF too high to tell strand"
DROP_FREQ = "frequency discordance"

#: Drop reasons, in the order they are checked (a variant gets the first that applies).
DROP_REASONS = (
    DROP_MISSING_ID,
    DROP_DUP_REF,
    DROP_NOT_IN_OTHER,
    DROP_DUP_OTHER,
    DROP_MISMATCH,
    DROP_PALINDROMIC_NO_FREQ,
    DROP_PALINDROMIC_AMBIGUOUS,
    DROP_FREQ,
)

_COMPLEMENT = {"A": "T", "T": "A", "C": "G", "G": "C"}
# PLINK's numeric codes for the non-numbered chromosomes.
_CHROM_CODES = {"X": "23", "Y": "24", "XY": "25", "MT": "26", "M": "26"}


@dataclass(frozen=True, eq=False)
class Harmonisation:
    """How another cohort's variants map onto the reference cohort's A1 alleles.

    Attributes
    ----------
    matched
        One row per matched reference variant, in reference order. Columns:
        ``ref_index`` (row in the reference .bim), ``other_index`` (row in the
        other .bim), ``id`` (reference ID), ``other_id``, ``sign`` (int8: +1
        when the other A1 is the reference A1, -1 when it is the reference
        A2), ``strand_flipped`` (bool: the other cohort reports the opposite
        strand), ``palindromic`` (bool: A/T or C/G SNP whose strand was told
        by frequency), ``status`` (one of :data:`MATCH_STATUSES`),
        ``ref_freq`` and ``other_freq_aligned`` (reference A1 frequency in
        each cohort; NaN when not given).
    drops
        One row per dropped reference variant: ``ref_index``, ``id``,
        ``reason`` (one of :data:`DROP_REASONS`).
    n_ref, n_other
        Number of variants in each table.
    match_by
        ``"id"`` or ``"position"``.
    """

    matched: pd.DataFrame
    drops: pd.DataFrame
    n_ref: int
    n_other: int
    match_by: str

    @property
    def ref_index(self) -> npt.NDArray[np.intp]:
        """Rows of the reference table that were matched, shape ``(n_matched,)``."""
        return self.matched["ref_index"].to_numpy(dtype=np.intp)

    @property
    def other_index(self) -> npt.NDArray[np.intp]:
        """Rows of the other table matched to :attr:`ref_index`, shape ``(n_matched,)``."""
        return self.matched["other_index"].to_numpy(dtype=np.intp)

    @property
    def sign(self) -> npt.NDArray[np.int8]:
        """+1 / -1 per matched variant: -1 means reference A1 count = 2 - other A1 count."""
        return self.matched["sign"].to_numpy(dtype=np.int8)

    @property
    def n_matched(self) -> int:
        """Number of matched reference variants."""
        return len(self.matched)

    def counts(self) -> dict[str, int]:
        """Reference variants per match status and per drop reason (JSON-ready).

        Every status of :data:`MATCH_STATUSES` and reason of
        :data:`DROP_REASONS` is present, zeros included; the values sum to
        ``n_ref``.
        """
        out = {s: int((self.matched["status"] == s).sum()) for s in MATCH_STATUSES}
        out.update({r: int((self.drops["reason"] == r).sum()) for r in DROP_REASONS})
        return out

    def summary(self) -> str:
        """One line: matched counts by status, then drops by reason (non-zero only)."""
        counts = self.counts()
        parts = [f"{self.n_matched} of {self.n_ref} reference variants matched"]
        parts += [f"{counts[s]} {s}" for s in MATCH_STATUSES if counts[s]]
        drops = [f"{counts[r]} {r}" for r in DROP_REASONS if counts[r]]
        text = "; ".join([", ".join(parts)] + (["dropped: " + ", ".join(drops)] if drops else []))
        return text


def _text(values: Any) -> npt.NDArray[np.str_]:
    return np.asarray(values).astype(str)


def _norm_chrom(chrom: Any) -> npt.NDArray[np.str_]:
    c = pd.Series(np.char.upper(_text(chrom))).str.replace(r"^CHR", "", regex=True)
    return _text(c.replace(_CHROM_CODES))


def _keys(variants: pd.DataFrame, match_by: str) -> npt.NDArray[np.str_]:
    if match_by == "id":
        return _text(variants["id"])
    return np.char.add(np.char.add(_norm_chrom(variants["chrom"]), ":"), _text(variants["pos"]))


def _as_freq(freq: Any, n: int, what: str) -> npt.NDArray[np.float64]:
    if freq is None:
        return np.full(n, np.nan)
    arr = np.asarray(freq, dtype=np.float64).reshape(-1)
    if arr.shape != (n,):
        raise ValueError(f"{what} has {arr.shape[0]} values for {n} variants")
    return arr


def _check_columns(variants: pd.DataFrame, match_by: str, what: str) -> None:
    need = ["id", "a1", "a2"] + (["chrom", "pos"] if match_by == "position" else [])
    missing = [c for c in need if c not in variants.columns]
    if missing:
        raise ValueError(f"{what} variant table lacks columns {missing}")


def harmonise(
    ref_variants: pd.DataFrame,
    other_variants: pd.DataFrame,
    ref_freq: npt.ArrayLike | None = None,
    other_freq: npt.ArrayLike | None = None,
    config: HarmoniseConfig | None = None,
) -> Harmonisation:
    """Match another cohort's variants and alleles to the reference cohort's.

    Parameters
    ----------
    ref_variants, other_variants
        .bim tables (columns ``chrom id cm pos a1 a2``, as
        :attr:`genopt.io.plink.PlinkFileset.variants`). The reference A1 is
        the effect allele; the other cohort is aligned to it.
    ref_freq, other_freq
        Frequency of each table's own .bim A1 allele, one value per row
        (NaN where unknown), or None. Needed to keep A/T and C/G SNPs and to
        drop variants whose aligned frequencies differ by more than
        ``config.max_freq_diff``; without them palindromic SNPs are dropped
        and the frequency check is skipped.
    config
        ``match_by`` (``"id"`` or ``"position"``), ``palindromic_maf_max``,
        ``max_freq_diff``; :class:`~genopt.config.HarmoniseConfig` defaults
        when None.

    Returns
    -------
    Harmonisation
        Matched variants (reference order) with index into the other table,
        sign and strand flag, and a drops table with one reason per dropped
        reference variant.

    Notes
    -----
    Matching by position uses chromosome codes with any ``chr`` prefix
    removed and X/Y/XY/MT mapped to PLINK's 23/24/25/26. A key (ID or
    position) that occurs more than once in a table is not matched: a
    reference variant whose key is duplicated is dropped as ``duplicate in
    reference``, one whose key is duplicated in the other table as
    ``duplicate in other cohort`` (this is how multi-allelic sites split over
    several rows are treated). IDs ``.`` are never matched by ID.
    Alleles are compared case-insensitively.
    """
    config = HarmoniseConfig() if config is None else config
    if config.match_by not in ("id", "position"):
        raise GenoptError(f"harmonise.match_by must be 'id' or 'position', got {config.match_by!r}")
    _check_columns(ref_variants, config.match_by, "reference")
    _check_columns(other_variants, config.match_by, "other")
    n_ref, n_other = len(ref_variants), len(other_variants)
    f_ref = _as_freq(ref_freq, n_ref, "ref_freq")
    f_oth = _as_freq(other_freq, n_other, "other_freq")

    ref = pd.DataFrame(
        {
            "ref_index": np.arange(n_ref, dtype=np.intp),
            "id": _text(ref_variants["id"]),
            "key": _keys(ref_variants, config.match_by),
            "r1": np.char.upper(_text(ref_variants["a1"])),
            "r2": np.char.upper(_text(ref_variants["a2"])),
            "ref_freq": f_ref,
        }
    )
    oth = pd.DataFrame(
        {
            "other_index": np.arange(n_other, dtype=np.intp),
            "other_id": _text(other_variants["id"]),
            "key": _keys(other_variants, config.match_by),
            "o1": np.char.upper(_text(other_variants["a1"])),
            "o2": np.char.upper(_text(other_variants["a2"])),
            "other_freq": f_oth,
        }
    )
    reason = pd.Series(pd.NA, index=ref.index, dtype="object")

    def drop(mask: npt.NDArray[np.bool_], why: str) -> None:
        reason[mask & reason.isna().to_numpy()] = why

    if config.match_by == "id":
        drop((ref["key"] == ".").to_numpy(), DROP_MISSING_ID)
        oth = oth[oth["key"] != "."]
    drop(ref["key"].duplicated(keep=False).to_numpy(), DROP_DUP_REF)
    dup_other = oth["key"].duplicated(keep=False).to_numpy()
    dup_keys = set(oth["key"].to_numpy()[dup_other])
    oth_unique = oth[~dup_other]
    in_other = ref["key"].isin(oth["key"]).to_numpy()
    drop(~in_other, DROP_NOT_IN_OTHER)
    drop(ref["key"].isin(dup_keys).to_numpy(), DROP_DUP_OTHER)

    m = ref.merge(oth_unique, on="key", how="left", validate="many_to_one")  # row order kept
    r1, r2, o1, o2 = (m[c] for c in ("r1", "r2", "o1", "o2"))
    c1, c2 = o1.map(_COMPLEMENT), o2.map(_COMPLEMENT)
    same = ((o1 == r1) & (o2 == r2)).to_numpy()
    swap = ((o1 == r2) & (o2 == r1)).to_numpy()
    snp = (r1.isin(_COMPLEMENT) & r2.isin(_COMPLEMENT) & o1.isin(_COMPLEMENT) & o2.isin(_COMPLEMENT)).to_numpy()
    comp_same = snp & ((c1 == r1) & (c2 == r2)).to_numpy()
    comp_swap = snp & ((c1 == r2) & (c2 == r1)).to_numpy()
    drop(~(same | swap | comp_same | comp_swap), DROP_MISMATCH)

    # Palindromic SNPs (A/T, C/G): the strings match on either strand, so the
    # sign comes from which side of 0.5 each cohort's A1 frequency lies.
    palin = snp & (r2 == r1.map(_COMPLEMENT)).to_numpy() & (r1 != r2).to_numpy()
    fr = m["ref_freq"].to_numpy()
    fo = m["other_freq"].to_numpy()
    have_freq = np.isfinite(fr) & np.isfinite(fo)
    maf_ok = have_freq & (np.minimum(fr, 1 - fr) < config.palindromic_maf_max)
    maf_ok &= np.minimum(fo, 1 - fo) < config.palindromic_maf_max
    drop(palin & ~have_freq, DROP_PALINDROMIC_NO_FREQ)
    drop(palin & ~maf_ok, DROP_PALINDROMIC_AMBIGUOUS)

    string_sign = np.where(same | comp_same, 1, -1).astype(np.int8)
    with np.errstate(invalid="ignore"):
        freq_sign = np.where((fr - 0.5) * (fo - 0.5) > 0, 1, -1).astype(np.int8)
    sign = np.where(palin, freq_sign, string_sign).astype(np.int8)
    flipped = np.where(palin, freq_sign != np.where(same, 1, -1), ~(same | swap))

    aligned = np.where(sign > 0, fo, 1 - fo)
    with np.errstate(invalid="ignore"):
        discordant = have_freq & (np.abs(fr - aligned) > config.max_freq_diff)
    drop(discordant, DROP_FREQ)

    keep = reason.isna().to_numpy()
    status = np.where(
        flipped,
        np.where(sign > 0, MATCH_STATUSES[2], MATCH_STATUSES[3]),
        np.where(sign > 0, MATCH_STATUSES[0], MATCH_STATUSES[1]),
    )
    matched = pd.DataFrame(
        {
            "ref_index": m["ref_index"].to_numpy()[keep],
            "other_index": m["other_index"].to_numpy()[keep].astype(np.intp),
            "id": m["id"].to_numpy()[keep],
            "other_id": m["other_id"].to_numpy()[keep],
            "sign": sign[keep],
            "strand_flipped": flipped[keep].astype(bool),
            "palindromic": palin[keep],
            "status": status[keep],
            "ref_freq": fr[keep],
            "other_freq_aligned": aligned[keep],
        }
    )
    drops = pd.DataFrame(
        {
            "ref_index": m["ref_index"].to_numpy()[~keep],
            "id": m["id"].to_numpy()[~keep],
            "reason": reason.to_numpy()[~keep].astype(str),
        }
    )
    return Harmonisation(matched.reset_index(drop=True), drops.reset_index(drop=True), n_ref, n_other, config.match_by)


def align_genotypes(g_other: npt.ArrayLike, harmonisation: Harmonisation, subset: bool = False) -> npt.NDArray[Any]:
    """Express another cohort's genotypes as counts of the reference A1 allele.

    Parameters
    ----------
    g_other
        ``(n_samples, n_variants)`` A1 counts of the other cohort (its own
        .bim A1): float with NaN for missing, or int8 with -1 for missing.
        Columns are the other cohort's whole variant table (``subset=False``)
        or already the columns ``harmonisation.other_index`` in that order
        (``subset=True``, e.g. from ``fileset.read(variants=h.other_index)``).
    harmonisation
        Result of :func:`harmonise` with the other cohort as ``other``.
    subset
        See ``g_other``.

    Returns
    -------
    Array of the same dtype, shape ``(n_samples, harmonisation.n_matched)``,
    columns in the order of ``harmonisation.matched`` (reference order):
    counts of the **reference** .bim A1 allele (``2 - g`` where the sign is
    -1); missing stays NaN / -1.
    """
    g = np.asarray(g_other)
    if g.ndim != 2:
        raise ValueError(f"g_other must be 2-D (samples x variants), got shape {g.shape}")
    expected = harmonisation.n_matched if subset else harmonisation.n_other
    if g.shape[1] != expected:
        raise ValueError(f"g_other has {g.shape[1]} variant columns, expected {expected} (subset={subset})")
    if not subset:
        g = g[:, harmonisation.other_index]
    swap = harmonisation.sign < 0
    out = np.array(g, copy=True)
    if g.dtype.kind == "f":
        out[:, swap] = 2 - g[:, swap]
    else:
        cols = g[:, swap]
        out[:, swap] = np.where(cols < 0, cols, 2 - cols)
    return out


def read_harmonised(
    variants: pd.DataFrame,
    a1_freq: npt.ArrayLike,
    fileset: PlinkFileset,
    samples: npt.NDArray[np.intp],
    config: HarmoniseConfig | None = None,
) -> tuple[Harmonisation, npt.NDArray[np.float64]]:
    """Match a variant table (e.g. a frozen model's) to ``fileset`` and read its aligned genotypes.

    Parameters
    ----------
    variants
        Reference variants (``chrom id pos a1 a2``), whose A1 is the allele counted.
    a1_freq
        Reference A1 frequencies, shape ``(len(variants),)`` (palindromic SNPs are told by frequency).
    fileset, samples
        The other cohort and the rows of its .fam to read.
    config
        Harmonisation settings (default: match by ID).

    Returns
    -------
    ``(h, g)``: the :class:`Harmonisation` and float64 genotypes ``(len(samples),
    len(h.ref_index))`` counting the **reference** A1 (NaN missing), column ``j``
    for reference variant ``h.ref_index[j]``. The other cohort's frequencies are
    computed only for its rows that carry a reference ID.
    """
    other = fileset.variants
    rows = np.flatnonzero(other["id"].astype(str).isin(set(variants["id"].astype(str))).to_numpy())
    other_freq = np.full(len(other), np.nan)
    if rows.size:
        other_freq[rows] = allele_frequencies(fileset, samples=samples, variants=rows)[0]
    h = harmonise(variants, other, a1_freq, other_freq, config)
    if h.other_index.size == 0:
        return h, np.empty((len(samples), 0))
    g = fileset.read(variants=h.other_index, samples=samples, dtype=np.float64)
    return h, np.asarray(align_genotypes(g, h, subset=True), dtype=np.float64)


def harmonise_filesets(ref: PlinkFileset, other: PlinkFileset, config: HarmoniseConfig | None = None) -> Harmonisation:
    """:func:`harmonise` two filesets, with A1 frequencies (all samples) computed from their genotypes."""
    return harmonise(ref.variants, other.variants, allele_frequencies(ref)[0], allele_frequencies(other)[0], config)
