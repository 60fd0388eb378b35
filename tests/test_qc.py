"""QC against plink2 (fixtures in tests/fixtures/qc, made by COMMANDS.sh there).

Real data: ../shared/data hm3 and kg1. Synthetic: tiny (every genotype split
of 12 samples, two nonfounders) and wide (2,000 samples, extreme HWE).
"""

from __future__ import annotations

import gzip
import hashlib
import math
import re
import subprocess
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import FIXTURES, require_executable
from hypothesis import given, settings
from hypothesis import strategies as st

from genopt.config import QCConfig, load_config
from genopt.errors import GenoptError
from genopt.io.plink import PLINK_FLOAT_FORMAT, founder_mask, open_plink, write_plink
from genopt.qc import (
    SAMPLE_QC_COLUMNS,
    VARIANT_QC_COLUMNS,
    _hwe_blocks,
    compute_qc,
    find_duplicates,
    hwe_exact_p,
    run_qc,
    validate_qc_config,
)

QC = FIXTURES / "qc"
NO_FILTERS = QCConfig(maf=None, geno=None, mind=None, hwe=None)


def read_plink_table(name: str) -> pd.DataFrame:
    """A plink2 report from the fixtures, header '#' stripped."""
    path = QC / name
    frame = pd.read_csv(path, sep="\t", compression="gzip" if path.suffix == ".gz" else None)
    return frame.rename(columns=lambda c: c.lstrip("#"))


def removal_counts(name: str) -> dict[str, int]:
    """Removal counts from the plink2 log lines kept in <name>.removed.txt."""
    text = (QC / f"{name}.removed.txt").read_text()

    def grab(pattern: str) -> int:
        match = re.search(pattern, text)
        return int(match.group(1)) if match else 0

    return {
        "mind": grab(r"(\d+) samples? removed due to missing genotype data \(--mind\)"),
        "geno": grab(r"--geno: (\d+) variant"),
        "hwe": grab(r"--hwe[^:]*: (\d+) variant"),
        "maf": grab(r"(\d+) variants? removed due to allele frequency threshold"),
    }


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def filesets(hm3_prefix: Path, kg1_prefix: Path) -> dict[str, Path]:
    return {"hm3": hm3_prefix, "kg1": kg1_prefix, "tiny": QC / "tiny", "wide": QC / "wide"}


# --------------------------------------------------------------------------- HWE


HARDY_FIXTURES = ["hm3", "kg1", "hm3.mind0.005", "tiny", "tiny.nonfounders", "tiny.mind0.4", "wide"]


@pytest.mark.parametrize("name", HARDY_FIXTURES)
def test_hwe_p_matches_plink2_hardy(name: str) -> None:
    hardy = read_plink_table(f"{name}.hardy.gz")
    # plink2 --hardy's A1 is the REF allele (.bim A2); the test is symmetric anyway.
    p = hwe_exact_p(hardy["HET_A1_CT"], hardy["TWO_AX_CT"], hardy["HOM_A1_CT"])
    ref = hardy["P"].to_numpy()
    positive = ref > 0
    rel = np.abs(p[positive] - ref[positive]) / ref[positive]
    # plink2 prints 6 significant digits: rounding alone is up to 5e-6 relative.
    assert rel.max() < 1e-4, (name, rel.max())
    assert np.all(p[~positive] == 0.0)  # plink2's floor: below 2.2e-308 prints 0
    if name in ("hm3", "kg1"):
        assert positive.all() and rel.max() < 6e-6


@pytest.mark.parametrize("name", [n for n in HARDY_FIXTURES if n != "hm3.mind0.005"])
def test_hwe_midp_matches_plink2_hardy_midp(name: str) -> None:
    hardy = read_plink_table(f"{name}.hardy.gz")
    midp = read_plink_table(f"{name}.midp.hardy.gz")
    assert (midp["ID"] == hardy["ID"]).all()
    p = hwe_exact_p(hardy["HET_A1_CT"], hardy["HOM_A1_CT"], hardy["TWO_AX_CT"], midp=True)
    ref = midp["MIDP"].to_numpy()
    positive = ref > 0
    assert (np.abs(p[positive] - ref[positive]) / ref[positive]).max() < 1e-4
    assert np.all(p[~positive] == 0.0)
    # mid-p is below p wherever something is observed
    observed = (hardy[["HOM_A1_CT", "HET_A1_CT", "TWO_AX_CT"]].sum(axis=1) > 0).to_numpy()
    plain = hwe_exact_p(hardy["HET_A1_CT"], hardy["HOM_A1_CT"], hardy["TWO_AX_CT"])
    assert np.all(p[observed & (plain > 0)] < plain[observed & (plain > 0)])


def exact_hwe(het: int, hom1: int, hom2: int, midp: bool) -> float:
    """Textbook exact test with rational arithmetic (independent of genopt and PLINK)."""
    n = het + hom1 + hom2
    rare = 2 * min(hom1, hom2) + het
    if n == 0:
        return 0.5 if midp else 1.0

    def prob(h: int) -> Fraction:
        rr, cc = (rare - h) // 2, n - (rare + h) // 2
        return Fraction(
            math.factorial(n) * 2**h * math.factorial(rare) * math.factorial(2 * n - rare),
            math.factorial(rr) * math.factorial(h) * math.factorial(cc) * math.factorial(2 * n),
        )

    probs = [prob(h) for h in range(rare % 2, rare + 1, 2)]
    obs = prob(het)
    tail = sum((q for q in probs if q <= obs), Fraction(0))
    if midp:
        tail -= sum((q for q in probs if q == obs), Fraction(0)) / 2
    return float(tail / sum(probs, Fraction(0)))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40), st.integers(0, 40)), min_size=1, max_size=30))
def test_hwe_p_equals_rational_enumeration(counts: list[tuple[int, int, int]]) -> None:
    het, hom1, hom2 = (np.array(c) for c in zip(*counts, strict=True))
    for midp in (False, True):
        p = hwe_exact_p(het, hom1, hom2, midp=midp)
        expected = [exact_hwe(h, a, b, midp) for h, a, b in counts]
        np.testing.assert_allclose(p, expected, rtol=1e-9, atol=1e-300)


def test_hwe_ties_are_counted_in_the_tail() -> None:
    # het=2, hom=(1,3) and het=4, hom=(0,2) are equally likely (6 samples, 4 rare copies):
    # both belong to the tail; PLINK 2 gives 1 for the first (checked in tiny.hardy).
    assert hwe_exact_p([2], [1], [3])[0] == pytest.approx(1.0)
    assert hwe_exact_p([2], [1], [3], midp=True)[0] == pytest.approx(exact_hwe(2, 1, 3, True), rel=1e-12)
    # the symmetric split (hom1 <-> hom2) gives the same p
    assert hwe_exact_p([2], [3], [1])[0] == hwe_exact_p([2], [1], [3])[0]


def test_hwe_window_agrees_with_full_enumeration_at_scale() -> None:
    rng = np.random.default_rng(3)
    n = 5000
    q = rng.uniform(0.0005, 0.5, 600)
    counts = np.stack([rng.multinomial(n, [a * a, 2 * a * (1 - a), (1 - a) ** 2]) for a in q])
    counts[:100, 1] //= 2  # too few hets
    counts[100:200, 1] = counts[100:200, 1] * 3 // 2  # too many hets
    hom1, het, hom2 = counts.T
    windowed = hwe_exact_p(het, hom1, hom2)
    k = np.minimum(hom1, hom2)
    rare = 2 * k + het
    full, _ = _hwe_blocks(hom1 + het + hom2, rare, k, np.zeros_like(k), rare // 2, False, 1 << 22)
    full[full < np.finfo(float).tiny] = 0
    assert (windowed[:200] < 1e-10).sum() > 50  # the deviations are really in the far tail
    np.testing.assert_allclose(windowed, full, rtol=1e-10, atol=0)


def test_hwe_rejects_bad_counts() -> None:
    with pytest.raises(ValueError):
        hwe_exact_p([1, 2], [1], [1])
    with pytest.raises(ValueError):
        hwe_exact_p([-1], [1], [1])


# --------------------------------------------------------------------------- statistics


STAT_CASES = [
    ("hm3", "hm3", NO_FILTERS),
    ("kg1", "kg1", NO_FILTERS),
    ("tiny", "tiny", NO_FILTERS),
    ("tiny", "tiny.nonfounders", replace(NO_FILTERS, nonfounders=True)),
    ("wide", "wide", NO_FILTERS),
    ("hm3", "hm3.mind0.005", replace(NO_FILTERS, mind=0.005)),
    ("tiny", "tiny.mind0.4", replace(NO_FILTERS, mind=0.4)),
]


@pytest.mark.parametrize(("cohort", "name", "config"), STAT_CASES, ids=[c[1] for c in STAT_CASES])
def test_statistics_match_plink2(filesets: dict[str, Path], cohort: str, name: str, config: QCConfig) -> None:
    fs = open_plink(filesets[cohort])
    result = compute_qc(fs, config)
    v = result.variants
    acount = read_plink_table(f"{name}.acount.gz")
    vmiss = read_plink_table(f"{name}.vmiss.gz")
    smiss = read_plink_table(f"{name}.smiss.gz")
    hardy = read_plink_table(f"{name}.hardy.gz")
    assert (acount["ID"].to_numpy() == v["ID"].to_numpy()).all()
    # A1 counts and frequencies (plink2's ALT is the .bim A1), founders only unless nonfounders.
    assert (acount["ALT"].to_numpy() == v["A1"].to_numpy()).all()
    assert (acount["ALT_CTS"].to_numpy() == v["A1_CT"].to_numpy()).all()
    assert (acount["OBS_CT"].to_numpy() == v["ALLELE_CT"].to_numpy()).all()
    observed = acount["OBS_CT"].to_numpy() > 0
    freq = acount["ALT_CTS"].to_numpy() / np.where(observed, acount["OBS_CT"].to_numpy(), 1)
    assert np.abs(v["A1_FREQ"].to_numpy()[observed] - freq[observed]).max() < 1e-12
    assert v["A1_FREQ"][~observed].isna().all()
    # genotype counts: plink2 --hardy's A1 is the .bim A2
    assert (hardy["TWO_AX_CT"].to_numpy() == v["HOM_A1_CT"].to_numpy()).all()
    assert (hardy["HET_A1_CT"].to_numpy() == v["HET_CT"].to_numpy()).all()
    assert (hardy["HOM_A1_CT"].to_numpy() == v["HOM_A2_CT"].to_numpy()).all()
    # missingness: every sample (that passed --mind)
    assert (vmiss["MISSING_CT"].to_numpy() == v["MISSING_CT"].to_numpy()).all()
    assert np.abs(vmiss["F_MISS"].to_numpy() - v["MISSING_RATE"].to_numpy()).max() < 1e-6
    kept = result.samples[result.sample_pass]
    assert (smiss["IID"].astype(str).to_numpy() == kept["IID"].to_numpy()).all()
    assert (smiss["MISSING_CT"].to_numpy() == kept["MISSING_CT"].to_numpy()).all()
    assert np.abs(smiss["F_MISS"].to_numpy() - kept["MISSING_RATE"].to_numpy()).max() < 1e-6
    # HWE (plink2 reports p = 1 where no founder is observed; genopt NA)
    ref = hardy["P"].to_numpy()
    ours = v["HWE_P"].to_numpy()
    assert np.all(ref[~observed] == 1)
    assert np.isnan(ours[~observed]).all()
    positive = observed & (ref > 0)
    assert (np.abs(ours[positive] - ref[positive]) / ref[positive]).max() < 1e-4
    assert np.all(ours[observed & (ref == 0)] == 0)
    if name != "hm3.mind0.005":
        midp = compute_qc(fs, replace(config, hwe_midp=True)).variants["HWE_P"].to_numpy()
        ref_mid = read_plink_table(f"{name}.midp.hardy.gz")["MIDP"].to_numpy()
        pos = observed & (ref_mid > 0)
        assert (np.abs(midp[pos] - ref_mid[pos]) / ref_mid[pos]).max() < 1e-4


def test_a1_is_the_bim_column_5(hm3_prefix: Path) -> None:
    fs = open_plink(hm3_prefix)
    v = compute_qc(fs, NO_FILTERS).variants
    g = fs.read(variants=slice(0, 50))
    assert (v["A1"].to_numpy()[:50] == fs.variants["a1"].to_numpy()[:50]).all()
    np.testing.assert_allclose(v["A1_FREQ"].to_numpy()[:50], np.nanmean(g, axis=0) / 2, atol=1e-6)


def test_chunk_size_does_not_change_results(filesets: dict[str, Path]) -> None:
    fs = open_plink(filesets["tiny"])
    config = QCConfig(mind=0.4, geno=0.25, hwe=0.05, maf=0.25)
    a = compute_qc(fs, config, chunk_size=7)
    b = compute_qc(fs, config, chunk_size=100_000)
    pd.testing.assert_frame_equal(a.variants, b.variants)
    pd.testing.assert_frame_equal(a.samples, b.samples)


def test_recount_and_subtract_paths_agree(filesets: dict[str, Path]) -> None:
    # mind=0.2 removes 9 of the 12 tiny samples (recount of the kept), 0.3 five (subtraction).
    fs = open_plink(filesets["tiny"])
    for mind, removed in ((0.2, 9), (0.3, 5)):
        result = compute_qc(fs, replace(NO_FILTERS, mind=mind))
        kept = result.kept_sample_idx
        direct = compute_qc(fs, NO_FILTERS, samples=kept)
        cols = ["A1_CT", "ALLELE_CT", "HOM_A1_CT", "HET_CT", "HOM_A2_CT", "MISSING_CT", "MISSING_RATE", "HWE_P"]
        pd.testing.assert_frame_equal(result.variants[cols], direct.variants[cols])
        assert result.removed["mind"] == removed


def test_sample_selection_equals_subset_fileset(filesets: dict[str, Path], tmp_path: Path) -> None:
    fs = open_plink(filesets["tiny"])
    idx = np.array([0, 2, 3, 5, 8, 10, 11])
    write_plink(tmp_path / "sub", fs, sample_idx=idx)
    a = compute_qc(fs, QCConfig(mind=0.4, geno=0.3, hwe=0.01, maf=0.1), samples=idx)
    b = compute_qc(open_plink(tmp_path / "sub"), QCConfig(mind=0.4, geno=0.3, hwe=0.01, maf=0.1))
    pd.testing.assert_frame_equal(a.variants, b.variants)
    pd.testing.assert_frame_equal(a.samples, b.samples)
    assert (a.kept_sample_idx == idx[b.sample_pass]).all()


def test_founders_are_samples_without_parents(filesets: dict[str, Path]) -> None:
    fs = open_plink(filesets["tiny"])
    mask = founder_mask(fs.samples)
    assert mask.sum() == 10 and not mask[10] and not mask[11]  # plink2: "10 founders"


def test_monomorphic_and_unobserved_counts(filesets: dict[str, Path]) -> None:
    fs = open_plink(filesets["tiny"])
    result = compute_qc(fs, NO_FILTERS)
    acount = read_plink_table("tiny.acount.gz")
    alt, obs = acount["ALT_CTS"].to_numpy(), acount["OBS_CT"].to_numpy()
    assert result.n_monomorphic == int(((obs > 0) & ((alt == 0) | (alt == obs))).sum())
    assert result.n_unobserved == int((obs == 0).sum()) > 0
    assert result.counts()["monomorphic"] == result.n_monomorphic > 0


# --------------------------------------------------------------------------- filters


FILTER_CASES = [
    ("hm3", "hm3.filt", QCConfig(maf=0.05, geno=0.008, mind=0.005, hwe=1e-4)),
    ("hm3", "hm3.filt_midp", QCConfig(maf=0.05, geno=0.008, mind=0.005, hwe=1e-4, hwe_midp=True)),
    ("kg1", "kg1.filt", QCConfig(maf=0.05, geno=0.01, mind=0.005, hwe=1e-4)),
    ("tiny", "tiny.filtA", QCConfig(mind=0.4, geno=0.25, hwe=0.05, maf=0.25)),
    ("tiny", "tiny.filtB", QCConfig(mind=None, geno=0.25, hwe=0.2, hwe_midp=True, maf=0.375)),
    ("tiny", "tiny.filtC", QCConfig(mind=0.3, geno=0.5, hwe=0.2, maf=0.125, nonfounders=True)),
    ("wide", "wide.filt", QCConfig(mind=None, geno=None, hwe=1e-300, maf=0.01)),
]


@pytest.mark.parametrize(("cohort", "name", "config"), FILTER_CASES, ids=[c[1] for c in FILTER_CASES])
def test_kept_sets_and_removal_counts_match_plink2(
    filesets: dict[str, Path], cohort: str, name: str, config: QCConfig
) -> None:
    fs = open_plink(filesets[cohort])
    result = compute_qc(fs, config)
    snps = gzip.decompress((QC / f"{name}.snplist.gz").read_bytes()).decode().split()
    ids = pd.read_csv(QC / f"{name}.id", sep="\t").rename(columns=lambda c: c.lstrip("#"))
    assert list(result.variants["ID"][result.variant_pass]) == snps
    kept = result.samples[result.sample_pass]
    assert list(kept["IID"]) == list(ids["IID"].astype(str))
    expected = removal_counts(name)
    if name == "tiny.filtB":
        # plink2 v2.00a3.5's threshold shortcut removes a mid-p exactly equal to the
        # threshold (1/2/5 genotypes: mid-p = 13/65 = 0.2); these three also fail --maf,
        # so the kept set agrees and only the attribution moves from hwe to maf.
        tie = np.isclose(result.variants["HWE_P"].to_numpy(), 0.2, rtol=1e-12, atol=0)
        tie &= ~result.variants["FAIL_REASON"].str.contains("geno").to_numpy()
        assert tie.sum() == 3 and not result.variant_pass[tie].any()
        expected["hwe"] -= 3
        expected["maf"] += 3
    assert result.removed == expected


def test_plink2_hwe_filter_disagrees_with_its_own_hardy_p_on_tiny_samples(filesets: dict[str, Path]) -> None:
    """Documented exception: plink2 v2.00a3.5 --hwe 0.5 drops variants whose --hardy p is >= 0.5.

    genopt filters on the p-value it reports (equal to --hardy's); the only
    variants it keeps and plink2 drops are ones plink2's own --hardy p keeps.
    """
    fs = open_plink(filesets["tiny"])
    result = compute_qc(fs, QCConfig(maf=None, geno=None, mind=None, hwe=0.5))
    snps = set(gzip.decompress((QC / "tiny.hwe0.5.snplist.gz").read_bytes()).decode().split())
    ours = set(result.variants["ID"][result.variant_pass])
    assert snps <= ours
    extra = sorted(ours - snps)
    hardy = read_plink_table("tiny.hardy.gz").set_index("ID")
    assert len(extra) >= 1 and (hardy.loc[extra, "P"] >= 0.5).all()
    counts = hardy.loc[extra, ["HOM_A1_CT", "HET_A1_CT", "TWO_AX_CT"]].sum(axis=1)
    assert (counts <= 8).all()  # tiny samples only; hm3/kg1 agree exactly (above)


def test_real_data_filters_remove_something() -> None:
    # the thresholds of the hm3 comparison exercise every filter
    counts = removal_counts("hm3.filt")
    assert all(counts[k] > 0 for k in ("mind", "geno", "hwe", "maf")), counts
    assert removal_counts("kg1.filt")["hwe"] > 0 and removal_counts("kg1.filt")["maf"] > 0


def test_thresholds_at_exact_boundaries_are_kept(filesets: dict[str, Path]) -> None:
    # maf 0.25 with 8 alleles = 2/8 kept; geno 0.25 with 12 samples: 3 missing kept, 4 removed
    fs = open_plink(filesets["tiny"])
    v = compute_qc(fs, QCConfig(mind=None, geno=0.25, hwe=None, maf=0.25)).variants
    at_geno = v["MISSING_CT"] == 3
    assert at_geno.any() and not v.loc[at_geno, "FAIL_REASON"].str.contains("geno").any()
    assert v.loc[v["MISSING_CT"] == 4, "FAIL_REASON"].str.contains("geno").all()
    at_maf = v["MAF"] == 0.25
    assert at_maf.any() and not v.loc[at_maf, "FAIL_REASON"].str.contains("maf").any()


def test_disabled_filters_keep_everything(filesets: dict[str, Path]) -> None:
    fs = open_plink(filesets["tiny"])
    for config in (NO_FILTERS, QCConfig(maf=0.0, geno=1.0, mind=1.0, hwe=1.0)):
        result = compute_qc(fs, config)
        assert result.variant_pass.all() and result.sample_pass.all()
        assert (result.variants["FAIL_REASON"] == ".").all()


# --------------------------------------------------------------------------- writing


def test_run_qc_writes_plink2_identical_fileset_and_tables(hm3_prefix: Path, tmp_path: Path) -> None:
    fs = open_plink(hm3_prefix)
    config = QCConfig(maf=0.05, geno=0.008, mind=0.005, hwe=1e-4)
    result = run_qc(fs, tmp_path, config)
    expected = dict(line.split()[::-1] for line in (QC / "hm3.filt.make-bed.sha256").read_text().splitlines())
    for ext in ("bed", "bim", "fam"):
        assert sha256(tmp_path / f"qc.{ext}") == expected[f"hm3.filt.mb.{ext}"], ext
    out = open_plink(tmp_path / "qc")
    assert out.shape == (911, 13281)
    np.testing.assert_array_equal(
        out.read_int8(), fs.read_int8(variants=result.kept_variant_idx, samples=result.kept_sample_idx)
    )
    variants = pd.read_csv(tmp_path / "variants_qc.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert list(variants.columns) == VARIANT_QC_COLUMNS
    assert len(variants) == fs.n_variants and set(variants["PASS"]) == {"TRUE", "FALSE"}
    assert (variants["PASS"] == "TRUE").sum() == 13281
    assert (variants["FAIL_REASON"] == ".").sum() == 13281
    np.testing.assert_allclose(variants["A1_FREQ"].astype(float), result.a1_freq, rtol=1e-9)
    samples = pd.read_csv(tmp_path / "samples_qc.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert list(samples.columns) == SAMPLE_QC_COLUMNS
    assert (samples["PASS"] == "FALSE").sum() == 46 and (samples["FAIL_REASON"] == "mind").sum() == 46
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries left
    assert "13281/14079 variants and 911/957 samples" in result.summary()


@pytest.mark.parametrize(("cohort", "name", "config"), FILTER_CASES[3:], ids=[c[1] for c in FILTER_CASES[3:]])
def test_filtered_synthetic_filesets_are_byte_identical_to_plink2(
    filesets: dict[str, Path], cohort: str, name: str, config: QCConfig, tmp_path: Path
) -> None:
    fs = open_plink(filesets[cohort])
    result = compute_qc(fs, config)
    kept = {"variant_idx": result.kept_variant_idx, "sample_idx": result.kept_sample_idx}
    write_plink(tmp_path / "qc", fs, **kept, float_format=PLINK_FLOAT_FORMAT)
    expected = dict(line.split()[::-1] for line in (QC / f"{name}.make-bed.sha256").read_text().splitlines())
    for ext in ("bed", "bim", "fam"):
        assert sha256(tmp_path / f"qc.{ext}") == expected[f"{name}.mb.{ext}"], ext


def test_make_bed_round_trip_with_plink2(filesets: dict[str, Path], tmp_path: Path) -> None:
    plink2 = require_executable("plink2")
    fs = open_plink(filesets["tiny"])
    config = QCConfig(mind=0.4, geno=0.25, hwe=0.05, maf=0.25)
    run_qc(fs, tmp_path / "ours", config)
    subprocess.run(
        [plink2, "--bfile", str(filesets["tiny"]), "--mind", "0.4", "--geno", "0.25", "--hwe", "0.05",
         "--maf", "0.25", "--make-bed", "--threads", "1", "--out", str(tmp_path / "theirs")],
        check=True, capture_output=True,
    )  # fmt: skip
    ours, theirs = open_plink(tmp_path / "ours" / "qc"), open_plink(tmp_path / "theirs")
    np.testing.assert_array_equal(ours.read_int8(), theirs.read_int8())
    pd.testing.assert_frame_equal(ours.variants, theirs.variants)
    pd.testing.assert_frame_equal(ours.samples, theirs.samples)


def test_failed_write_leaves_no_output(filesets: dict[str, Path], tmp_path: Path) -> None:
    fs = open_plink(filesets["tiny"])
    with pytest.raises(IndexError):
        write_plink(tmp_path / "qc", fs, variant_idx=np.array([0, 10_000]), sample_idx=np.arange(12))
    assert list(tmp_path.iterdir()) == []
    # A failure after the .bed is streamed (a .bim table without cM) leaves nothing either.
    with pytest.raises(ValueError, match="lacks columns"):
        write_plink(tmp_path / "qc", fs, variants=fs.variants.drop(columns="cm"), sample_idx=np.arange(12))
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- duplicates


def test_duplicates_reported(filesets: dict[str, Path], tmp_path: Path) -> None:
    fs = open_plink(filesets["tiny"])
    report = compute_qc(fs, NO_FILTERS).duplicates
    # tiny: snp1/snp2 share 1:1010 (alleles differ); snp3/snp4 share 1:1030 with alleles swapped
    assert set(report.by_position["ID"]) == {"snp1", "snp2", "snp3", "snp4"}
    assert list(report.by_position_alleles["ID"]) == ["snp3", "snp4"]
    assert report.by_id.empty
    run_qc(fs, tmp_path, NO_FILTERS)
    written = pd.read_csv(tmp_path / "duplicates.tsv", sep="\t", dtype=str)
    assert list(written.columns) == ["KIND", "KEY", "ID", "INDEX"]
    assert list(written.loc[written["KIND"] == "position_alleles", "KEY"]) == ["1:1030:A:C"] * 2
    assert (written["KIND"] == "position").sum() == 4
    variants = pd.DataFrame(
        {
            "chrom": ["1", "1", "1", "2", "2"],
            "id": ["a", "a", ".", ".", "b"],
            "pos": [5, 6, 7, 7, 7],
            "a1": ["A", "A", "C", "C", "G"],
            "a2": ["G", "G", "T", "T", "T"],
        }
    )
    dup = find_duplicates(variants)
    assert list(dup.by_id["INDEX"]) == [0, 1]  # '.' IDs are not duplicates of each other
    assert list(dup.by_position["KEY"]) == ["2:7"] * 2
    assert dup.by_position_alleles.empty
    assert dup.counts()["duplicate_id_groups"] == 1 and dup.counts()["duplicate_position_variants"] == 2


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("key", "value"),
    [("maf", -0.01), ("maf", 0.6), ("geno", -0.1), ("geno", 1.5), ("mind", -1.0), ("hwe", 0.0),
     ("hwe", 1.5), ("hwe", -1e-6), ("maf", float("nan"))],
)  # fmt: skip
def test_bad_config_values_name_key_and_value(key: str, value: float) -> None:
    with pytest.raises(GenoptError, match=rf"{key} = {re.escape(repr(value))}"):
        QCConfig(**{key: value})  # type: ignore[arg-type]


def test_bad_config_from_toml_names_key(tmp_path: Path) -> None:
    path = tmp_path / "qc.toml"
    path.write_text("maf = 0.7\n")
    with pytest.raises(GenoptError, match=r"maf = 0.7 is outside \[0, 0.5\]"):
        load_config(QCConfig, path)


def test_validate_rechecks_an_instance() -> None:
    config = QCConfig()
    object.__setattr__(config, "hwe", 2.0)
    with pytest.raises(GenoptError, match=r"hwe = 2.0"):
        validate_qc_config(config)


# --------------------------------------------------------------------------- throughput


@pytest.mark.slow
def test_throughput_10k_samples(tmp_path: Path) -> None:
    """10,000 samples x 20,000 variants: prints genotypes per second (see the QC report)."""
    import time

    from genopt.io.plink import BED_MAGIC, encode_bed

    n, m = 10_000, 20_000
    rng = np.random.default_rng(0)
    prefix = tmp_path / "big"
    with open(f"{prefix}.bed", "wb") as handle:
        handle.write(BED_MAGIC)
        for _ in range(0, m, 2000):
            q = rng.uniform(0.0, 0.5, 2000)
            g = rng.binomial(2, q[None, :], size=(n, 2000)).astype(np.int8)
            g[rng.random((n, 2000)) < 0.01] = -1
            handle.write(encode_bed(g).tobytes())
    pd.DataFrame({"c": 1, "id": [f"v{i}" for i in range(m)], "cm": 0, "pos": np.arange(m) + 1, "a1": "A", "a2": "G"}
                 ).to_csv(f"{prefix}.bim", sep="\t", header=False, index=False)  # fmt: skip
    ids = [f"s{i}" for i in range(n)]
    pd.DataFrame({"f": ids, "i": ids, "p": 0, "m": 0, "s": 0, "ph": -9}).to_csv(
        f"{prefix}.fam", sep="\t", header=False, index=False
    )
    fs = open_plink(prefix)
    start = time.perf_counter()
    result = compute_qc(fs, QCConfig(mind=0.0105))
    seconds = time.perf_counter() - start
    print(f"compute_qc: {n * m / seconds / 1e6:.0f} M genotypes/s ({seconds:.1f} s for {n} x {m})")
    assert result.removed["mind"] > 0  # throughput is reported above, measured in benchmarks/, not asserted
