"""Allele harmonisation: every case on synthetic tables, and hm3 vs kg1 for real."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genopt.config import HarmoniseConfig
from genopt.errors import GenoptError
from genopt.harmonise import (
    DROP_REASONS,
    MATCH_STATUSES,
    align_genotypes,
    harmonise,
    harmonise_filesets,
)
from genopt.io.plink import allele_frequencies, open_plink

NAN = float("nan")


def _table(rows: list[tuple[str, str, str, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "chrom": "1",
            "id": [r[0] for r in rows],
            "cm": 0.0,
            "pos": [r[4] for r in rows],
            "a1": [r[1] for r in rows],
            "a2": [r[2] for r in rows],
        }
    )


# (id, ref A1, ref A2, ref freq, other A1, other A2, other freq, expected status or drop reason, sign, flipped)
CASES = [
    ("same", "A", "C", 0.30, "A", "C", 0.32, "as-is", 1, False),
    ("lower", "a", "c", 0.30, "A", "C", 0.30, "as-is", 1, False),
    ("swap", "A", "C", 0.30, "C", "A", 0.69, "swapped", -1, False),
    ("flip", "A", "C", 0.30, "T", "G", 0.31, "strand-flipped", 1, True),
    ("flipswap", "A", "C", 0.30, "G", "T", 0.70, "strand-flipped+swapped", -1, True),
    # Palindromic A/T and C/G: strand told by frequency when both MAFs < 0.4.
    ("pal_same", "A", "T", 0.20, "A", "T", 0.22, "as-is", 1, False),
    ("pal_samestr_opp", "A", "T", 0.20, "A", "T", 0.78, "strand-flipped+swapped", -1, True),
    ("pal_swapstr_same", "A", "T", 0.20, "T", "A", 0.21, "strand-flipped", 1, True),
    ("pal_swapstr_opp", "C", "G", 0.20, "G", "C", 0.80, "swapped", -1, False),
    ("pal_ambiguous", "C", "G", 0.45, "C", "G", 0.20, "palindromic, MAF too high to tell strand", 0, False),
    ("pal_ambiguous_other", "G", "C", 0.20, "G", "C", 0.58, "palindromic, MAF too high to tell strand", 0, False),
    ("pal_nofreq", "T", "A", 0.20, "T", "A", NAN, "palindromic, no frequencies", 0, False),
    ("mismatch", "A", "C", 0.30, "A", "G", 0.30, "allele mismatch", 0, False),
    ("mismatch_palin_other", "A", "C", 0.30, "C", "G", 0.30, "allele mismatch", 0, False),
    ("indel_same", "AT", "A", 0.30, "AT", "A", 0.30, "as-is", 1, False),
    ("indel_swap", "AT", "A", 0.30, "A", "AT", 0.70, "swapped", -1, False),
    ("indel_comp", "AT", "A", 0.30, "TA", "T", 0.30, "allele mismatch", 0, False),
    ("id_swap", "I", "D", 0.30, "D", "I", 0.70, "swapped", -1, False),
    ("id_comp_not", "I", "D", 0.30, "A", "T", 0.30, "allele mismatch", 0, False),
    ("freq_bad", "A", "G", 0.10, "A", "G", 0.50, "frequency discordance", 0, False),
    ("freq_ok_after_swap", "A", "G", 0.10, "G", "A", 0.88, "swapped", -1, False),
    ("freq_bad_after_swap", "A", "G", 0.10, "G", "A", 0.12, "frequency discordance", 0, False),
    ("freq_unknown", "A", "G", NAN, "A", "G", 0.50, "as-is", 1, False),
]


def _synthetic() -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray]:
    ref_rows = [(c[0], c[1], c[2], "", 0) for c in CASES]
    ref_f = [c[3] for c in CASES]
    oth_rows = [(c[0], c[4], c[5], "", 0) for c in CASES]
    oth_f = [c[6] for c in CASES]
    # Reference-only, duplicated and ID-less variants.
    ref_rows += [
        ("absent", "A", "C", "", 0),
        ("dup_other", "A", "C", "", 0),
        ("dup_ref", "A", "C", "", 0),
        ("dup_ref", "A", "G", "", 0),
        (".", "A", "C", "", 0),
    ]
    ref_f += [0.3, 0.3, 0.3, 0.3, 0.3]
    oth_rows += [
        ("dup_other", "A", "C", "", 0),
        ("dup_other", "A", "T", "", 0),
        ("dup_ref", "A", "C", "", 0),
        (".", "A", "C", "", 0),
        ("other_only", "A", "C", "", 0),
    ]
    oth_f += [0.3, 0.3, 0.3, 0.3, 0.3]
    ref = _table([(r[0], r[1], r[2], r[3], 100 + i) for i, r in enumerate(ref_rows)])
    oth = _table([(r[0], r[1], r[2], r[3], 100 + i) for i, r in enumerate(oth_rows)])
    # Shuffle the other table so that other_index is not the identity.
    perm = np.random.default_rng(1).permutation(len(oth))
    return ref, oth.iloc[perm].reset_index(drop=True), np.array(ref_f), np.array(oth_f)[perm]


def test_every_case_gets_the_right_outcome() -> None:
    ref, oth, f_ref, f_oth = _synthetic()
    h = harmonise(ref, oth, f_ref, f_oth, HarmoniseConfig())
    got = pd.concat(
        [
            h.matched.set_index("id")[["status", "sign", "strand_flipped"]],
            h.drops.set_index("id")[["reason"]].rename(columns={"reason": "status"}),
        ]
    )
    for name, *_, expected, sign, flipped in CASES:
        row = got.loc[name]
        assert row["status"] == expected, name
        if expected in MATCH_STATUSES:
            assert row["sign"] == sign, name
            assert bool(row["strand_flipped"]) == flipped, name
    drops = h.drops.groupby("id")["reason"].agg(list).to_dict()
    assert drops["absent"] == ["not in other cohort"]
    assert drops["dup_other"] == ["duplicate in other cohort"]
    assert drops["dup_ref"] == ["duplicate in reference"] * 2
    assert drops["."] == ["missing ID"]
    # Matched rows point at the right row of the shuffled other table.
    assert (oth["id"].to_numpy()[h.other_index] == h.matched["id"].to_numpy()).all()
    assert (ref["id"].to_numpy()[h.ref_index] == h.matched["id"].to_numpy()).all()
    assert np.all(np.diff(h.ref_index) > 0)
    # Every reference variant is counted exactly once, with its reason.
    assert sum(h.counts().values()) == len(ref) == h.n_matched + len(h.drops)
    assert set(h.counts()) == set(MATCH_STATUSES) | set(DROP_REASONS)
    assert h.counts()["as-is"] == 5 and h.counts()["swapped"] == 5
    assert h.counts()["allele mismatch"] == 4 and h.counts()["frequency discordance"] == 2
    # Aligned frequencies of kept variants agree with the reference.
    kept = h.matched.dropna(subset=["ref_freq"])
    assert np.abs(kept["ref_freq"] - kept["other_freq_aligned"]).max() < 0.05
    assert "matched" in h.summary() and "allele mismatch" in h.summary()


def test_without_frequencies_palindromic_snps_are_dropped_and_no_frequency_check() -> None:
    ref, oth, _, _ = _synthetic()
    h = harmonise(ref, oth)
    palindromic = [c[0] for c in CASES if c[0].startswith("pal_")]
    reasons = h.drops.set_index("id")["reason"]
    assert all(reasons[p] == "palindromic, no frequencies" for p in palindromic)
    assert h.counts()["frequency discordance"] == 0
    assert "freq_bad" in set(h.matched["id"])


def test_thresholds_come_from_the_config() -> None:
    ref, oth, f_ref, f_oth = _synthetic()
    loose = harmonise(ref, oth, f_ref, f_oth, HarmoniseConfig(palindromic_maf_max=0.5, max_freq_diff=0.5))
    assert "pal_ambiguous_other" in set(loose.matched["id"])
    assert "freq_bad" in set(loose.matched["id"])
    strict = harmonise(ref, oth, f_ref, f_oth, HarmoniseConfig(palindromic_maf_max=0.1))
    assert strict.counts()["palindromic, MAF too high to tell strand"] == 6


def test_match_by_position_normalises_chromosome_codes() -> None:
    ref = pd.DataFrame(
        {
            "chrom": ["1", "X", "2", "2"],
            "id": ["a", "b", "c", "d"],
            "cm": 0.0,
            "pos": [10, 20, 30, 40],
            "a1": ["A", "C", "G", "A"],
            "a2": ["G", "T", "A", "C"],
        }
    )
    oth = pd.DataFrame(
        {
            "chrom": ["chr1", "23", "chr2", "2"],
            "id": ["x", "y", "z", "w"],
            "cm": 0.0,
            "pos": [10, 20, 31, 40],
            "a1": ["A", "T", "G", "A"],
            "a2": ["G", "C", "A", "C"],
        }
    )
    h = harmonise(ref, oth, config=HarmoniseConfig(match_by="position"))
    assert h.matched["id"].tolist() == ["a", "b", "d"]
    assert h.matched["other_id"].tolist() == ["x", "y", "w"]
    assert h.matched["sign"].tolist() == [1, -1, 1]
    assert h.drops.set_index("id")["reason"].to_dict() == {"c": "not in other cohort"}
    by_id = harmonise(ref, oth)
    assert by_id.n_matched == 0 and by_id.counts()["not in other cohort"] == 4
    with pytest.raises(GenoptError, match="match_by"):
        harmonise(ref, oth, config=HarmoniseConfig(match_by="rsid"))


def test_align_genotypes_float_and_int8() -> None:
    ref, oth, f_ref, f_oth = _synthetic()
    h = harmonise(ref, oth, f_ref, f_oth)
    rng = np.random.default_rng(0)
    g8 = rng.integers(-1, 3, size=(7, len(oth))).astype(np.int8)
    gf = np.where(g8 < 0, np.nan, g8).astype(np.float32)
    a8 = align_genotypes(g8, h)
    af = align_genotypes(gf, h)
    assert a8.dtype == np.int8 and af.dtype == np.float32 and a8.shape == (7, h.n_matched)
    raw = g8[:, h.other_index]
    expected = np.where(raw < 0, -1, np.where(h.sign < 0, 2 - raw, raw))
    np.testing.assert_array_equal(a8, expected)
    np.testing.assert_array_equal(np.isnan(af), a8 < 0)
    np.testing.assert_array_equal(af[a8 >= 0], a8[a8 >= 0])
    np.testing.assert_array_equal(align_genotypes(raw, h, subset=True), a8)
    assert (h.sign < 0).any() and (h.sign > 0).any()
    with pytest.raises(ValueError, match="columns"):
        align_genotypes(g8[:, :3], h)


def test_hm3_vs_kg1(hm3_prefix, kg1_prefix) -> None:
    hm3, kg1 = open_plink(hm3_prefix), open_plink(kg1_prefix)
    h = harmonise_filesets(hm3, kg1)
    # The two sets share all 14,079 IDs with identical A1/A2 strings; 1,015 are
    # A/T or C/G, of which 846 have a MAF >= 0.4 in one cohort (the thinned set
    # is rich in common SNPs) and cannot be oriented by frequency.
    assert h.n_ref == 14079 and sum(h.counts().values()) == 14079
    assert h.counts() == {
        "as-is": 13231,
        "swapped": 0,
        "strand-flipped": 0,
        "strand-flipped+swapped": 0,
        "missing ID": 0,
        "duplicate in reference": 0,
        "not in other cohort": 0,
        "duplicate in other cohort": 0,
        "allele mismatch": 0,
        "palindromic, no frequencies": 0,
        "palindromic, MAF too high to tell strand": 846,
        "frequency discordance": 2,
    }
    assert int(h.matched["palindromic"].sum()) == 169
    # kg1 positions are on another genome build than hm3's: matching by
    # chromosome:position finds only 5 variants at the same coordinates.
    by_pos = harmonise(hm3.variants, kg1.variants, config=HarmoniseConfig(match_by="position"))
    assert by_pos.n_matched == 5 and by_pos.counts()["not in other cohort"] == 14074


def _scramble(
    kg1_variants: pd.DataFrame, g: np.ndarray, seed: int
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Relabel kg1 as another lab might: swap A1/A2 (recoding the genotypes)
    and/or report the opposite strand (complement the labels), at random."""
    rng = np.random.default_rng(seed)
    n = len(kg1_variants)
    swap = rng.random(n) < 0.4
    comp = rng.random(n) < 0.4
    v = kg1_variants.copy()
    a1, a2 = v["a1"].to_numpy().copy(), v["a2"].to_numpy().copy()
    a1[swap], a2[swap] = a2[swap].copy(), a1[swap].copy()
    table = {"A": "T", "T": "A", "C": "G", "G": "C"}
    a1[comp] = [table[x] for x in a1[comp]]
    a2[comp] = [table[x] for x in a2[comp]]
    v["a1"], v["a2"] = a1, a2
    g2 = g.copy()
    g2[:, swap] = np.where(g[:, swap] < 0, -1, 2 - g[:, swap])
    return v, g2, swap, comp


def test_alignment_recovers_relabelled_kg1(hm3_prefix, kg1_prefix) -> None:
    hm3, kg1 = open_plink(hm3_prefix), open_plink(kg1_prefix)
    g_kg1 = kg1.read_int8()
    v, g_scr, swap, comp = _scramble(kg1.variants, g_kg1, seed=7)
    f_hm3, _ = allele_frequencies(hm3)

    h = harmonise(hm3.variants, v, f_hm3, allele_frequencies(g_scr)[0])
    # Same variants kept as without relabelling (strand and swaps do not lose any).
    h0 = harmonise_filesets(hm3, kg1)
    np.testing.assert_array_equal(h.ref_index, h0.ref_index)
    # The recorded operations are the ones applied (palindromic SNPs look
    # swapped when complemented, and are told apart by frequency).
    idx = h.other_index
    np.testing.assert_array_equal(h.sign < 0, swap[idx])
    np.testing.assert_array_equal(h.matched["strand_flipped"].to_numpy(), comp[idx])
    assert h.counts()["swapped"] > 1000 and h.counts()["strand-flipped"] > 1000
    assert h.counts()["strand-flipped+swapped"] > 1000
    # Aligned genotypes are exactly kg1's original A1 counts.
    aligned = align_genotypes(g_scr, h)
    np.testing.assert_array_equal(aligned, g_kg1[:, idx])
    # Aligned A1 frequencies track hm3's; ignoring the signs does not.
    f_aligned = allele_frequencies(aligned)[0]
    r_good = np.corrcoef(f_hm3[h.ref_index], f_aligned)[0, 1]
    r_broken = np.corrcoef(f_hm3[h.ref_index], allele_frequencies(g_scr[:, idx])[0])[0, 1]
    assert r_good > 0.9
    assert r_broken < 0.5
