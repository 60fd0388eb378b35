"""Variant and sample quality control with PLINK 2's meanings.

Statistics
----------
Per variant (genotype values are counts of the .bim **A1** allele, column 5):

* genotype counts ``HOM_A1_CT`` (A1/A1), ``HET_CT``, ``HOM_A2_CT`` (A2/A2);
* ``A1_CT`` (copies of A1), ``ALLELE_CT`` (2 x observed genotypes),
  ``A1_FREQ`` = ``A1_CT / ALLELE_CT`` and ``MAF`` = ``min(A1_FREQ, 1 - A1_FREQ)``
  (``NaN`` when nothing is observed);
* ``MISSING_CT`` / ``MISSING_RATE``: missing calls over samples;
* ``HWE_P``: the Hardy-Weinberg exact test (Wigginton, Cutler & Abecasis 2005)
  p-value, or the mid-p value (Graffelman & Moreno 2013) with ``hwe_midp``.

Per sample: ``MISSING_CT`` / ``MISSING_RATE`` over all variants.

Which samples count, as in PLINK 2 (v2.00a3.5, checked against it):

* allele frequencies, genotype counts and HWE use **founders** only (samples
  whose .fam father and mother are both ``0``) unless ``nonfounders`` is set,
  like ``plink2 --freq/--hardy/--maf/--hwe``; missing rates use every sample,
  like ``plink2 --missing/--geno/--mind``;
* ``--mind`` is applied first, on missing rates over all variants; every
  variant statistic is then computed on the samples that passed it.

Filters, in PLINK 2's order (``mind``, ``geno``, ``hwe``, ``maf``) and with its
floating-point tolerances (``kSmallEpsilon`` = 2^-44):

* ``mind``: drop samples with ``MISSING_CT > mind * (1 + eps) * n_variants``;
* ``geno``: drop variants with ``MISSING_CT > geno * (1 + eps) * n_samples``;
* ``hwe``: drop variants with ``HWE_P < hwe * (1 - eps)``; variants with no
  observed founder are never dropped; ``hwe == 1`` disables the filter;
* ``maf``: drop variants with ``MAF < maf * (1 - eps)``; ``maf == 0`` disables
  it. A variant with no observed founder has no MAF and is kept (as PLINK 2).

The variant filters only read the statistics of the variant itself, so their
order changes only how removals are attributed (``QCResult.removed`` follows
PLINK's log: each variant is counted under the first filter it fails).

Duplicates (IDs, chromosome:position, chromosome:position:alleles with the
allele pair unordered) and monomorphic variants are reported, not removed:
PLINK's filters do not remove them either.

References
----------
Wigginton JE, Cutler DJ, Abecasis GR (2005). A note on exact tests of
Hardy-Weinberg equilibrium. Am J Hum Genet 76:887-893.
Graffelman J, Moreno V (2013). The mid p-value in exact tests for
Hardy-Weinberg equilibrium. Stat Appl Genet Mol Biol 12:433-448.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from genopt.config import QCConfig
from genopt.io.atomic import write_text, write_tsv
from genopt.io.plink import DEFAULT_CHUNK, PLINK_FLOAT_FORMAT, PlinkFileset, _as_index, founder_mask, write_plink

#: PLINK 2's tolerance for threshold comparisons (kSmallEpsilon = 2^-44).
SMALL_EPSILON = 2.0**-44
#: Log-probability difference under which two HWE configurations count as tied.
HWE_TIE_TOLERANCE = 1e-12
#: Columns of ``variants_qc.tsv``.
VARIANT_QC_COLUMNS = ["ID", "CHR", "POS", "A1", "A2", "A1_FREQ", "MISSING_RATE", "HWE_P", "PASS", "FAIL_REASON"]
#: Columns of ``samples_qc.tsv``.
SAMPLE_QC_COLUMNS = ["FID", "IID", "MISSING_RATE", "PASS", "FAIL_REASON"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


# --------------------------------------------------------------------------- HWE


def hwe_exact_p(
    het: npt.ArrayLike,
    hom_a1: npt.ArrayLike,
    hom_a2: npt.ArrayLike,
    midp: bool = False,
    max_cells: int = 1 << 22,
) -> FloatArray:
    """Hardy-Weinberg exact test p-values, vectorised across variants.

    The test of Wigginton et al. (2005): conditional on the allele counts, the
    probability of every possible heterozygote count is computed, and the
    p-value is the total probability of the configurations no more likely than
    the observed one (ties included, within ``HWE_TIE_TOLERANCE`` in log
    space). With ``midp`` the tied configurations count half (Graffelman &
    Moreno 2013), as ``plink2 --hardy midp`` / ``--hwe ... midp``.

    Configurations are evaluated in log space on a padded (variants x
    configurations) array, variants sorted by width and processed in blocks
    of at most ``max_cells`` cells. Log-probability ratios of neighbouring
    configurations come from exact integer products, so exact ties are exact.
    Only a window of configurations around the mode wide enough to hold every
    configuration within e^-60 of the observed one is evaluated (found from a
    normal approximation, then checked: a variant whose window edge is not at
    least e^-50 below the observed configuration is recomputed over all its
    configurations), so the cost per variant grows with sqrt(n), not n.

    Parameters
    ----------
    het, hom_a1, hom_a2
        Per-variant counts of heterozygous, homozygous-A1 and homozygous-A2
        genotypes (integers, same shape ``(n_variants,)``). The test is
        symmetric in the two homozygote counts.
    midp
        Return the mid-p value.
    max_cells
        Memory bound: float64 cells per block (32 MiB each at the default).

    Returns
    -------
    float64 array ``(n_variants,)``; 1 (0.5 with ``midp``) where nothing is
    observed. p-values below 2.2e-308 (the smallest normal double) are
    returned as 0, as PLINK 2 prints them.
    """
    het_a = np.asarray(het, dtype=np.int64).reshape(-1)
    h1 = np.asarray(hom_a1, dtype=np.int64).reshape(-1)
    h2 = np.asarray(hom_a2, dtype=np.int64).reshape(-1)
    if not (het_a.shape == h1.shape == h2.shape):
        raise ValueError("het, hom_a1 and hom_a2 must have the same length")
    if het_a.size and min(het_a.min(), h1.min(), h2.min()) < 0:
        raise ValueError("genotype counts must be non-negative")
    n = het_a + h1 + h2
    k_obs = np.minimum(h1, h2)  # configurations: k = 0..k_max rare homozygotes
    rare = 2 * k_obs + het_a  # copies of the rarer allele
    k_max = rare // 2
    # Window around the mode from a normal approximation (unconditional
    # variance, an upper bound): half-width covering every configuration
    # within ~e^-60 of the observed one, with margin.
    n_f = np.maximum(n, 1).astype(np.float64)
    q = rare / (2 * n_f)
    het_mode = rare * (2 * n - rare) / np.maximum(2 * n_f - 1, 1)
    k_mode = (rare - het_mode) / 2
    sd_k = 0.5 * np.sqrt(n_f * 2 * q * (1 - q) * (1 - 2 * q * (1 - q))) + 1.0
    dist = np.abs(k_obs - k_mode)
    half = np.ceil(1.25 * np.sqrt(dist**2 + 120 * sd_k**2)) + 8
    lo = np.clip(np.floor(k_mode - half), 0, k_max).astype(np.int64)
    hi = np.clip(np.ceil(k_mode + half), 0, k_max).astype(np.int64)
    lo = np.minimum(lo, k_obs)
    hi = np.maximum(hi, k_obs)
    out, ok = _hwe_blocks(n, rare, k_obs, lo, hi, midp, max_cells)
    redo = np.flatnonzero(~ok)
    if redo.size:
        full, _ = _hwe_blocks(
            n[redo], rare[redo], k_obs[redo], np.zeros(redo.size, np.int64), k_max[redo], midp, max_cells
        )
        out[redo] = full
    out[n == 0] = 0.5 if midp else 1.0
    out[out < np.finfo(np.float64).tiny] = 0.0
    return np.clip(out, 0.0, 1.0)


def _hwe_blocks(
    n: IntArray, rare: IntArray, k_obs: IntArray, lo: IntArray, hi: IntArray, midp: bool, max_cells: int
) -> tuple[FloatArray, BoolArray]:
    """p-values over configurations ``lo..hi`` of each variant, and whether the window sufficed."""
    out = np.ones(n.shape, dtype=np.float64)
    ok = np.ones(n.shape, dtype=bool)
    widths = hi - lo + 1
    order = np.argsort(widths, kind="stable")
    sorted_w = widths[order]
    start = 0
    n_var = len(order)
    while start < n_var:
        # Largest block [start, end) whose padded size (rows x widest row) fits.
        rows_fit = max_cells // np.maximum(sorted_w[start:], 1)
        fits = np.arange(1, n_var - start + 1) <= rows_fit
        end = start + max(1, n_var - start if fits.all() else int(np.argmin(fits)))
        rows = order[start:end]
        p, good = _hwe_block(n[rows], rare[rows], k_obs[rows], lo[rows], hi[rows], int(sorted_w[end - 1]), midp)
        out[rows] = p
        ok[rows] = good
        start = end
    return out, ok


#: The window edge must be at least this far (natural log) below the observed configuration.
_HWE_WINDOW_MARGIN = 50.0


def _hwe_block(
    n: IntArray, rare: IntArray, k_obs: IntArray, lo: IntArray, hi: IntArray, width: int, midp: bool
) -> tuple[FloatArray, BoolArray]:
    """HWE p-values for one block of variants (see :func:`hwe_exact_p`)."""
    j = np.arange(width, dtype=np.int64)[None, :]
    k = lo[:, None] + j  # configuration (rare homozygote count) of each cell
    inside = k <= hi[:, None]
    n_c = n[:, None]
    rare_c = rare[:, None]
    hets = rare_c - 2 * k
    hom_common = n_c - rare_c + k
    # log P(k + 1) - log P(k) from exact int64 products, so exact ties give
    # exactly 0: P(k + 1) / P(k) = hets (hets - 1) / (4 (k + 1) (hom_common + 1)).
    step = (k < hi[:, None])[:, :-1]
    num = np.where(step, hets[:, :-1] * (hets[:, :-1] - 1), 1).astype(np.float64)
    den = np.where(step, 4 * (k[:, :-1] + 1) * (hom_common[:, :-1] + 1), 1).astype(np.float64)
    log_ratio = np.log(num)
    log_ratio -= np.log(den)
    log_p = np.empty((len(n), width), dtype=np.float64)
    log_p[:, 0] = 0.0
    np.cumsum(log_ratio, axis=1, out=log_p[:, 1:])
    log_p -= np.take_along_axis(log_p, (k_obs - lo)[:, None], axis=1)  # observed = 0
    log_p[~inside] = -np.inf
    # The window sufficed if each edge is a true bound (0 or k_max) or far below the observed.
    k_max = rare // 2
    width_row = hi - lo
    left_ok = (lo == 0) | (log_p[:, 0] < -_HWE_WINDOW_MARGIN)
    right_ok = (hi == k_max) | (np.take_along_axis(log_p, width_row[:, None], axis=1)[:, 0] < -_HWE_WINDOW_MARGIN)
    # One exp per cell: shift by the row maximum (the mode), then sum.
    top = log_p.max(axis=1, keepdims=True)
    prob = np.exp(log_p - top)
    total = prob.sum(axis=1)
    p = np.where(log_p <= HWE_TIE_TOLERANCE, prob, 0.0).sum(axis=1) / total
    if midp:
        p -= 0.5 * np.where(np.abs(log_p) <= HWE_TIE_TOLERANCE, prob, 0.0).sum(axis=1) / total
    return np.asarray(p, dtype=np.float64), left_ok & right_ok


# --------------------------------------------------------------------------- counting


@dataclass(frozen=True)
class GenotypeCounts:
    """Per-variant genotype counts over one set of samples.

    Attributes
    ----------
    hom_a1, het, hom_a2, missing
        int64 arrays ``(n_variants,)``: A1/A1 calls (value 2), heterozygous
        calls (value 1), A2/A2 calls (value 0) and missing calls.
    """

    hom_a1: IntArray
    het: IntArray
    hom_a2: IntArray
    missing: IntArray

    def __sub__(self, other: GenotypeCounts) -> GenotypeCounts:
        return GenotypeCounts(
            self.hom_a1 - other.hom_a1, self.het - other.het, self.hom_a2 - other.hom_a2, self.missing - other.missing
        )

    @property
    def observed(self) -> IntArray:
        """Non-missing calls per variant."""
        return self.hom_a1 + self.het + self.hom_a2

    @property
    def a1_count(self) -> IntArray:
        """Copies of the A1 allele per variant."""
        return 2 * self.hom_a1 + self.het


#: At most this many genotypes are decoded per chunk (~50 MB per temporary).
_MAX_CHUNK_CELLS = 50_000_000


@dataclass(frozen=True)
class _Pass:
    """What one streaming pass over a sample set accumulates."""

    all_samples: GenotypeCounts  # every sample of the set
    founders: GenotypeCounts  # the founders among them (same object if all are)
    sample_missing: IntArray  # per sample of the set, missing calls over all variants


def _count_pass(fileset: PlinkFileset, sample_idx: npt.NDArray[np.intp], founder: BoolArray, chunk_size: int) -> _Pass:
    """Stream all variants once over ``sample_idx``; vectorised counts per chunk.

    ``founder`` is a mask over ``sample_idx``.
    """
    n_var = fileset.n_variants
    n_s = len(sample_idx)
    all_founders = bool(founder.all())
    any_founder = bool(founder.any())
    f_idx = np.flatnonzero(founder)
    tot = {key: np.zeros(n_var, dtype=np.int64) for key in ("hom_a1", "het", "missing")}
    fnd = {key: np.zeros(n_var, dtype=np.int64) for key in ("hom_a1", "het", "missing")}
    sample_missing = np.zeros(n_s, dtype=np.int64)
    # Bound the per-chunk temporaries (a few bool/int8 arrays of chunk x samples).
    chunk_size = max(1, min(chunk_size, _MAX_CHUNK_CELLS // max(n_s, 1)))
    if n_s == 0:
        zero = GenotypeCounts(*(np.zeros(n_var, dtype=np.int64) for _ in range(4)))
        return _Pass(zero, zero, sample_missing)
    for v_idx, block in fileset.iter_variant_chunks(chunk_size, samples=sample_idx):
        g = block.T  # (variants, samples), C-contiguous
        miss = g < 0
        tot["missing"][v_idx] = np.count_nonzero(miss, axis=1)
        tot["hom_a1"][v_idx] = np.count_nonzero(g == 2, axis=1)
        tot["het"][v_idx] = np.count_nonzero(g == 1, axis=1)
        sample_missing += np.add.reduce(miss, axis=0, dtype=np.int64)
        if not all_founders and any_founder:
            gf = g[:, f_idx]
            fnd["missing"][v_idx] = np.count_nonzero(gf < 0, axis=1)
            fnd["hom_a1"][v_idx] = np.count_nonzero(gf == 2, axis=1)
            fnd["het"][v_idx] = np.count_nonzero(gf == 1, axis=1)

    def counts(d: dict[str, IntArray], n: int) -> GenotypeCounts:
        return GenotypeCounts(d["hom_a1"], d["het"], n - d["hom_a1"] - d["het"] - d["missing"], d["missing"])

    all_counts = counts(tot, n_s)
    founder_counts = all_counts if all_founders else counts(fnd, len(f_idx))
    return _Pass(all_counts, founder_counts, sample_missing)


# --------------------------------------------------------------------------- duplicates


@dataclass(frozen=True)
class DuplicateReport:
    """Variants that share an ID or a position.

    Attributes
    ----------
    by_id, by_position, by_position_alleles
        Tables with columns ``KEY ID INDEX`` (INDEX = 0-based .bim row), one row
        per variant in a duplicated group: same ID (``.`` IDs ignored); same
        ``chrom:pos``; same ``chrom:pos:alleles`` (allele pair unordered).
    """

    by_id: pd.DataFrame
    by_position: pd.DataFrame
    by_position_alleles: pd.DataFrame

    def table(self) -> pd.DataFrame:
        """All three kinds in one table: ``KIND KEY ID INDEX`` (KIND: id, position, position_alleles)."""
        parts = [
            frame.assign(KIND=kind)[["KIND", "KEY", "ID", "INDEX"]]
            for kind, frame in (
                ("id", self.by_id),
                ("position", self.by_position),
                ("position_alleles", self.by_position_alleles),
            )
        ]
        return pd.concat(parts, ignore_index=True)

    def counts(self) -> dict[str, int]:
        """Variants involved and distinct duplicated keys, per kind."""
        out: dict[str, int] = {}
        for name, table in (
            ("id", self.by_id),
            ("position", self.by_position),
            ("position_alleles", self.by_position_alleles),
        ):
            out[f"duplicate_{name}_variants"] = len(table)
            out[f"duplicate_{name}_groups"] = int(table["KEY"].nunique())
        return out


def find_duplicates(variants: pd.DataFrame) -> DuplicateReport:
    """Find duplicate variant IDs and positions in a .bim table.

    Parameters
    ----------
    variants
        .bim table with columns ``chrom id pos a1 a2``.
    """
    a1 = variants["a1"].astype(str).to_numpy()
    a2 = variants["a2"].astype(str).to_numpy()
    keys = pd.DataFrame(
        {
            "id": variants["id"].astype(str).to_numpy(),
            "chrom": variants["chrom"].astype(str).to_numpy(),
            "pos": variants["pos"].astype(str).to_numpy(),
            "allele_lo": np.where(a1 <= a2, a1, a2),
            "allele_hi": np.where(a1 <= a2, a2, a1),
        }
    )

    def groups(columns: list[str], usable: BoolArray | None = None) -> pd.DataFrame:
        dup = keys.duplicated(subset=columns, keep=False).to_numpy()
        if usable is not None:
            dup &= usable
        idx = np.flatnonzero(dup)
        sub = keys.iloc[idx]
        key = sub[columns[0]].to_numpy().astype(object)
        for col in columns[1:]:
            key = key + ":" + sub[col].to_numpy().astype(object)
        return pd.DataFrame({"KEY": key, "ID": sub["id"].to_numpy(), "INDEX": idx})

    return DuplicateReport(
        by_id=groups(["id"], keys["id"].to_numpy() != "."),
        by_position=groups(["chrom", "pos"]),
        by_position_alleles=groups(["chrom", "pos", "allele_lo", "allele_hi"]),
    )


# --------------------------------------------------------------------------- QC


@dataclass(frozen=True, eq=False)
class QCResult:
    """Statistics and pass masks of one QC run (nothing written).

    Attributes
    ----------
    variants
        One row per .bim variant, in .bim order: ``ID CHR POS A1 A2 A1_CT
        ALLELE_CT A1_FREQ MAF HOM_A1_CT HET_CT HOM_A2_CT MISSING_CT
        MISSING_RATE HWE_P PASS FAIL_REASON``. Counts, frequencies and HWE are
        over the founders (all samples with ``nonfounders``) that passed
        ``mind``; missing counts over all samples that passed ``mind``.
        ``FAIL_REASON`` lists every failed filter (``geno,hwe,maf``) or ``.``.
    samples
        One row per analysed sample: ``FID IID MISSING_CT MISSING_RATE PASS
        FAIL_REASON``; missing rates over all variants.
    sample_idx
        Indices into the fileset's .fam of the analysed samples (rows of
        ``samples``).
    duplicates
        Duplicate IDs and positions (reported, not filtered).
    removed
        Removals attributed as PLINK's log does: ``mind`` samples, then
        ``geno``, ``hwe``, ``maf`` variants (each under its first failure).
    config
        The configuration applied.
    """

    variants: pd.DataFrame
    samples: pd.DataFrame
    sample_idx: npt.NDArray[np.intp]
    duplicates: DuplicateReport
    removed: dict[str, int]
    config: QCConfig
    n_founders: int

    @property
    def variant_pass(self) -> BoolArray:
        """Bool mask over the .bim variants: passed every variant filter."""
        return self.variants["PASS"].to_numpy(dtype=bool)

    @property
    def sample_pass(self) -> BoolArray:
        """Bool mask over the analysed samples (rows of :attr:`samples`)."""
        return self.samples["PASS"].to_numpy(dtype=bool)

    @property
    def kept_variant_idx(self) -> npt.NDArray[np.intp]:
        """.bim indices of the variants that passed."""
        return np.flatnonzero(self.variant_pass)

    @property
    def kept_sample_idx(self) -> npt.NDArray[np.intp]:
        """.fam indices of the samples that passed."""
        return self.sample_idx[self.sample_pass]

    @property
    def a1_freq(self) -> FloatArray:
        """A1 frequency per .bim variant (founders passing ``mind``)."""
        return self.variants["A1_FREQ"].to_numpy(dtype=np.float64)

    @property
    def n_monomorphic(self) -> int:
        """Variants with observed founders but only one allele among them."""
        maf = self.variants["MAF"].to_numpy(dtype=np.float64)
        return int(np.count_nonzero(maf == 0))

    @property
    def n_unobserved(self) -> int:
        """Variants with no observed call among the founders."""
        return int(np.count_nonzero(self.variants["ALLELE_CT"].to_numpy() == 0))

    def counts(self) -> dict[str, Any]:
        """Summary counts (JSON-ready)."""
        out: dict[str, Any] = {
            "variants": len(self.variants),
            "variants_pass": int(self.variant_pass.sum()),
            "samples": len(self.samples),
            "samples_pass": int(self.sample_pass.sum()),
            "founders": self.n_founders,
            "removed_samples_mind": self.removed["mind"],
            "removed_variants_geno": self.removed["geno"],
            "removed_variants_hwe": self.removed["hwe"],
            "removed_variants_maf": self.removed["maf"],
            "monomorphic": self.n_monomorphic,
            "unobserved": self.n_unobserved,
        }
        out.update(self.duplicates.counts())
        return out

    def summary(self) -> str:
        """One line for people: what was kept and removed."""
        c = self.counts()
        return (
            f"QC: {c['variants_pass']}/{c['variants']} variants and {c['samples_pass']}/{c['samples']} samples pass "
            f"(removed: {c['removed_samples_mind']} samples by --mind, "
            f"{c['removed_variants_geno']} variants by --geno, "
            f"{c['removed_variants_hwe']} by --hwe, {c['removed_variants_maf']} by --maf); "
            f"{c['monomorphic']} monomorphic, {c['duplicate_id_variants']} with duplicate IDs, "
            f"{c['duplicate_position_variants']} at duplicate positions"
        )

    def write(self, out_dir: str | Path) -> None:
        """Write the QC tables into ``out_dir`` (each file atomically).

        ``variants_qc.tsv``: ``ID CHR POS A1 A2 A1_FREQ MISSING_RATE HWE_P PASS
        FAIL_REASON``; ``samples_qc.tsv``: ``FID IID MISSING_RATE PASS
        FAIL_REASON``; ``duplicates.tsv``: ``KIND KEY ID INDEX`` (header only
        when there are none); ``qc_summary.json``: :meth:`counts` and the
        config. PASS is ``TRUE``/``FALSE``, missing numbers ``NA``.
        """
        out = Path(out_dir)
        variants = self.variants[VARIANT_QC_COLUMNS].copy()
        samples = self.samples[SAMPLE_QC_COLUMNS].copy()
        for table in (variants, samples):
            table["PASS"] = np.where(table["PASS"].to_numpy(dtype=bool), "TRUE", "FALSE")
        write_tsv(out / "variants_qc.tsv", variants)
        write_tsv(out / "samples_qc.tsv", samples)
        write_tsv(out / "duplicates.tsv", self.duplicates.table())
        summary = {"counts": self.counts(), "config": _config_dict(self.config)}
        write_text(out / "qc_summary.json", json.dumps(summary, indent=2) + "\n")


def _config_dict(config: QCConfig) -> dict[str, Any]:
    return asdict(config)


def compute_qc(
    fileset: PlinkFileset,
    config: QCConfig | None = None,
    samples: Any = None,
    chunk_size: int = DEFAULT_CHUNK,
) -> QCResult:
    """QC statistics and pass masks, streaming variant chunks; writes nothing.

    Parameters
    ----------
    fileset
        The PLINK fileset (genotypes count the .bim A1 allele).
    config
        Thresholds (``None`` disables a filter); defaults from :class:`QCConfig`.
    samples
        Restrict the analysis to these samples (None for all, a bool mask or
        .fam indices), e.g. the samples with a phenotype.
    chunk_size
        Variants decoded per chunk (memory ~ ``chunk_size * n_samples`` bytes
        times a few).

    Returns
    -------
    QCResult
        With ``variants`` in .bim order and ``samples`` in the order of the
        selection.
    """
    config = QCConfig() if config is None else config
    validate_qc_config(config)
    selected = _as_index(samples, fileset.n_samples, "sample")
    sample_idx = np.arange(fileset.n_samples, dtype=np.intp) if selected is None else selected
    fam = fileset.samples.iloc[sample_idx].reset_index(drop=True)
    founder = np.ones(len(sample_idx), dtype=bool) if config.nonfounders else founder_mask(fam)
    n_var = fileset.n_variants

    # Pass 1: every analysed sample; per-sample missingness over all variants.
    first = _count_pass(fileset, sample_idx, founder, chunk_size)
    sample_missing = first.sample_missing
    sample_rate = sample_missing / n_var if n_var else np.zeros(len(sample_idx))
    sample_ok = np.ones(len(sample_idx), dtype=bool)
    if config.mind is not None and n_var:
        max_missing = config.mind * (1 + SMALL_EPSILON) * n_var
        sample_ok = sample_missing <= max_missing  # PLINK: removed iff count > floor(...)
    # Variant statistics over the samples that passed --mind: subtract the
    # removed samples' counts (a second pass over them only), or recount the
    # kept ones when fewer.
    counts_all, counts_fnd = first.all_samples, first.founders
    n_removed = int((~sample_ok).sum())
    if n_removed:
        if n_removed <= len(sample_idx) - n_removed:
            gone = _count_pass(fileset, sample_idx[~sample_ok], founder[~sample_ok], chunk_size)
            counts_all = counts_all - gone.all_samples
            counts_fnd = counts_fnd - gone.founders if not founder.all() else counts_all
        else:
            kept = _count_pass(fileset, sample_idx[sample_ok], founder[sample_ok], chunk_size)
            counts_all, counts_fnd = kept.all_samples, kept.founders
    n_kept = int(sample_ok.sum())
    n_founders = int((founder & sample_ok).sum())

    allele_ct = 2 * counts_fnd.observed
    a1_ct = counts_fnd.a1_count
    with np.errstate(invalid="ignore", divide="ignore"):
        a1_freq = np.where(allele_ct > 0, a1_ct / np.maximum(allele_ct, 1), np.nan)
        missing_rate = counts_all.missing / n_kept if n_kept else np.full(n_var, np.nan)
    maf = np.minimum(a1_freq, 1 - a1_freq)
    hwe_p = hwe_exact_p(counts_fnd.het, counts_fnd.hom_a1, counts_fnd.hom_a2, midp=config.hwe_midp)
    hwe_p[allele_ct == 0] = np.nan

    fail_geno = np.zeros(n_var, dtype=bool)
    fail_hwe = np.zeros(n_var, dtype=bool)
    fail_maf = np.zeros(n_var, dtype=bool)
    if config.geno is not None:
        fail_geno = counts_all.missing > config.geno * (1 + SMALL_EPSILON) * n_kept
    if config.hwe is not None and config.hwe != 1.0:
        fail_hwe = (allele_ct > 0) & (hwe_p < config.hwe * (1 - SMALL_EPSILON))
    if config.maf is not None and config.maf != 0.0:
        fail_maf = (allele_ct > 0) & (maf < config.maf * (1 - SMALL_EPSILON))
    variant_ok = ~(fail_geno | fail_hwe | fail_maf)

    bim = fileset.variants
    variants = pd.DataFrame(
        {
            "ID": bim["id"].to_numpy(),
            "CHR": bim["chrom"].to_numpy(),
            "POS": bim["pos"].to_numpy(),
            "A1": bim["a1"].to_numpy(),
            "A2": bim["a2"].to_numpy(),
            "A1_CT": a1_ct,
            "ALLELE_CT": allele_ct,
            "A1_FREQ": a1_freq,
            "MAF": maf,
            "HOM_A1_CT": counts_fnd.hom_a1,
            "HET_CT": counts_fnd.het,
            "HOM_A2_CT": counts_fnd.hom_a2,
            "MISSING_CT": counts_all.missing,
            "MISSING_RATE": missing_rate,
            "HWE_P": hwe_p,
            "PASS": variant_ok,
            "FAIL_REASON": _reasons({"geno": fail_geno, "hwe": fail_hwe, "maf": fail_maf}, n_var),
        }
    )
    samples_table = pd.DataFrame(
        {
            "FID": fam["fid"].to_numpy(),
            "IID": fam["iid"].to_numpy(),
            "MISSING_CT": sample_missing,
            "MISSING_RATE": sample_rate,
            "PASS": sample_ok,
            "FAIL_REASON": np.where(sample_ok, ".", "mind"),
        }
    )
    removed = {
        "mind": n_removed,
        "geno": int(fail_geno.sum()),
        "hwe": int((fail_hwe & ~fail_geno).sum()),
        "maf": int((fail_maf & ~fail_hwe & ~fail_geno).sum()),
    }
    return QCResult(
        variants=variants,
        samples=samples_table,
        sample_idx=sample_idx,
        duplicates=find_duplicates(bim),
        removed=removed,
        config=config,
        n_founders=n_founders,
    )


def _reasons(fails: dict[str, BoolArray], n: int) -> npt.NDArray[np.object_]:
    """Comma-separated names of the failed filters per row, ``.`` for none (vectorised)."""
    names = list(fails)
    code = np.zeros(n, dtype=np.int64)
    for bit, name in enumerate(names):
        code |= fails[name].astype(np.int64) << bit
    table = np.array(
        [",".join(nm for b, nm in enumerate(names) if c >> b & 1) or "." for c in range(1 << len(names))],
        dtype=object,
    )
    return np.asarray(table[code], dtype=object)


def validate_qc_config(config: QCConfig) -> None:
    """Check QC thresholds; raise :class:`GenoptError` naming the key and value.

    ``maf`` must lie in [0, 0.5], ``geno`` and ``mind`` in [0, 1], ``hwe`` in
    (0, 1] (``None`` disables a filter). :class:`QCConfig` runs the same check
    when it is built; this re-checks an instance (e.g. one built elsewhere).
    """
    if not isinstance(config, QCConfig):
        raise TypeError(f"expected a QCConfig, got {type(config).__name__}")
    config.__post_init__()


# --------------------------------------------------------------------------- writing


def run_qc(fileset: PlinkFileset, out_dir: str | Path, config: QCConfig | None = None) -> QCResult:
    """Run QC and write its outputs into ``out_dir`` (each file atomically).

    Writes ``variants_qc.tsv``, ``samples_qc.tsv``, ``duplicates.tsv``,
    ``qc_summary.json`` (see :meth:`QCResult.write`) and the filtered fileset ``qc.bed/.bim/.fam``
    (variants and samples that passed, A1 still counted), streamed by
    :func:`genopt.io.plink.write_plink` with PLINK's number format, so the
    three files are byte-identical to ``plink2 --make-bed``'s.
    """
    result = compute_qc(fileset, config)
    out = Path(out_dir)
    write_plink(
        out / "qc",
        fileset,
        variant_idx=result.kept_variant_idx,
        sample_idx=result.kept_sample_idx,
        float_format=PLINK_FLOAT_FORMAT,
    )
    result.write(out)
    return result
