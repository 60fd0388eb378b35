"""KING-robust kinship and cross-cohort sample overlap.

Reference tables: tests/fixtures/relatedness/*.kin0.gz, made by
``plink2 --make-king-table`` (see COMMANDS.sh there).
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pandas as pd
import pytest
from conftest import FIXTURES

from genopt import relatedness
from genopt.config import OverlapConfig
from genopt.errors import GenoptError
from genopt.io.plink import open_plink
from genopt.relatedness import (
    OVERLAP_COLUMNS,
    classify,
    find_overlap,
    king_robust,
    kinship_within,
    select_variants,
    write_overlap,
)

FIX = FIXTURES / "relatedness"


def _brute_king(gi: np.ndarray, gj: np.ndarray) -> tuple[float, int]:
    """KING-robust between-family estimator for one pair, written out plainly."""
    both = (gi >= 0) & (gj >= 0)
    a, b = gi[both], gj[both]
    hethet = np.sum((a == 1) & (b == 1))
    ibs0 = np.sum(((a == 2) & (b == 0)) | ((a == 0) & (b == 2)))
    het_i = np.sum(a == 1)
    het_j = np.sum(b == 1)
    phi = (hethet - 2 * ibs0) / (2 * min(het_i, het_j)) + 0.5 - 0.25 * (het_i + het_j) / min(het_i, het_j)
    return float(phi), int(both.sum())


def test_king_robust_matches_the_published_formula_with_missing_calls() -> None:
    rng = np.random.default_rng(3)
    g = rng.integers(0, 3, size=(9, 300)).astype(np.int8)
    g[4] = g[1]  # a duplicate
    g[rng.random(g.shape) < 0.05] = -1
    kc = king_robust(g[:5], g[5:], variant_block=64)  # several variant blocks
    assert kc.kinship.shape == (5, 4)
    for i, j in itertools.product(range(5), range(4)):
        phi, n = _brute_king(g[i], g[5 + j])
        assert kc.n_snps[i, j] == n
        assert kc.kinship[i, j] == pytest.approx(phi, abs=1e-12)
    gf = np.where(g < 0, np.nan, g).astype(np.float32)
    np.testing.assert_allclose(king_robust(gf[:5], gf[5:]).kinship, kc.kinship)
    within = king_robust(g)
    assert within.kinship[1, 4] > 0.45 and np.allclose(np.diag(within.kinship), 0.5)
    np.testing.assert_allclose(within.kinship, within.kinship.T)


def test_sample_blocks_do_not_change_results(hm3_prefix, kg1_prefix, monkeypatch) -> None:
    hm3, kg1 = open_plink(hm3_prefix), open_plink(kg1_prefix)
    cfg = OverlapConfig(n_variants=800, min_kinship=0.02)
    whole_within = kinship_within(hm3, config=cfg)
    whole_between = find_overlap(hm3, kg1, cfg)
    monkeypatch.setattr(relatedness, "_SAMPLE_BLOCK", 100)  # 10 x 11 blocks, diagonal ones included
    pd.testing.assert_frame_equal(kinship_within(hm3, config=cfg), whole_within)
    pd.testing.assert_frame_equal(find_overlap(hm3, kg1, cfg).pairs, whole_between.pairs)
    assert len(whole_within) > 100 and len(whole_between.pairs) > 600


def test_classify_uses_kings_cutoffs() -> None:
    cfg = OverlapConfig()
    labels = classify([0.5, 0.354, 0.3539, 0.177, 0.1, 0.0884, 0.05, -0.2, np.nan], cfg)
    assert labels.tolist() == [
        "duplicate",
        "duplicate",
        "first-degree",
        "first-degree",
        "second-degree",
        "second-degree",
        "unrelated",
        "unrelated",
        "unrelated",
    ]


def test_select_variants_spreads_evenly() -> None:
    eligible = np.ones(1000, bool)
    eligible[::3] = False
    idx = select_variants(eligible, 100)
    assert len(idx) == 100 and eligible[idx].all() and np.all(np.diff(idx) > 0)
    assert idx[0] == 1 and idx[-1] == 998  # spans the whole table
    gaps = np.diff(idx)
    assert gaps.max() - gaps.min() <= 3
    assert len(select_variants(eligible[:30], 100)) == eligible[:30].sum()


def _compare_with_plink(ours: pd.DataFrame, kin0: str) -> pd.DataFrame:
    ref = pd.read_csv(FIX / kin0, sep="\t")
    key = lambda a, b: np.where(a < b, a + "|" + b, b + "|" + a)  # noqa: E731
    ours = ours.assign(key=key(ours["IID1"].to_numpy(), ours["IID2"].to_numpy()))
    ref = ref.assign(key=key(ref["IID1"].to_numpy(), ref["IID2"].to_numpy()))
    m = ref.merge(ours, on="key", suffixes=("_plink", ""), validate="one_to_one")
    assert len(m) == len(ref)
    # Counts agree exactly (proportions x our NSNP give our integer counts).
    np.testing.assert_array_equal(np.rint(m["HETHET"] * m["NSNP"]), m["HETHET_plink"])
    np.testing.assert_array_equal(np.rint(m["IBS0"] * m["NSNP"]), m["IBS0_plink"])
    # plink2 2.00a3.5 over-counts NSNP by one for a few pairs (checked by hand:
    # the variants called in both are ours); kinship does not use NSNP.
    diff = m["NSNP_plink"] - m["NSNP"]
    assert diff.isin([0, 1]).all() and (diff == 0).mean() > 0.99
    # Kinship to plink2's printed precision (6 significant digits).
    np.testing.assert_allclose(m["KINSHIP"], m["KINSHIP_plink"], atol=1e-6, rtol=0)
    return m


def test_kinship_within_hm3_matches_plink2(hm3_prefix) -> None:
    fs = open_plink(hm3_prefix)
    ids = (FIX / "hm3.king_variants.txt").read_text().split()
    idx = np.flatnonzero(fs.variants["id"].isin(ids).to_numpy())
    assert len(idx) == 5000
    ours = kinship_within(fs, variants=idx, min_kinship=-np.inf)
    assert len(ours) == 957 * 956 // 2
    m = _compare_with_plink(ours, "hm3.kin0.gz")
    assert (m["KINSHIP_plink"] > 0.177).sum() >= 10  # the fixture holds real relatives
    # The default variant choice is the one the fixture was made with.
    default = kinship_within(fs)
    assert set(zip(default["IID1"], default["IID2"], strict=True)) == set(
        zip(*ours.loc[ours["KINSHIP"] >= OverlapConfig().min_kinship, ["IID1", "IID2"]].T.to_numpy(), strict=True)
    )


def test_kinship_within_kg1_all_variants_matches_plink2(kg1_prefix) -> None:
    fs = open_plink(kg1_prefix)
    ours = kinship_within(fs, variants=np.arange(fs.n_variants), min_kinship=-np.inf)
    m = _compare_with_plink(ours, "kg1.kin0.gz")
    close = m["KINSHIP_plink"] > 0.0884
    np.testing.assert_array_equal(m.loc[close, "RELATION"], classify(m.loc[close, "KINSHIP_plink"]))


@pytest.fixture(scope="module")
def hm3_kg1(hm3_prefix, kg1_prefix):
    return open_plink(hm3_prefix), open_plink(kg1_prefix)


def test_overlap_hm3_kg1_by_id_and_genotype(hm3_kg1) -> None:
    hm3, kg1 = hm3_kg1
    res = find_overlap(hm3, kg1)
    assert res.counts()["shared IID"] == 564 == len(res.by_id)
    assert len(res.variant_ids) == OverlapConfig().n_variants
    dup = res.pairs[res.pairs["RELATION"] == "duplicate"]
    # Every person in both sets is found as a duplicate, and nobody else is.
    assert set(dup["IID_A"]) == set(res.by_id["IID_A"])
    assert dup["SAME_IID"].all() and len(dup) == 564
    assert dup["KINSHIP"].min() > 0.45
    assert not res.pairs.loc[res.pairs["SAME_IID"], "RELATION"].ne("duplicate").any()
    assert list(res.pairs.columns[:4]) == ["IID_A", "IID_B", "KINSHIP", "RELATION"]
    assert res.summary() == (
        f"564 duplicates, {res.counts()['first-degree']} first-degree, "
        f"{res.counts()['second-degree']} second-degree pairs; 564 shared IDs"
    )


def test_overlap_found_after_renaming_every_iid(hm3_kg1) -> None:
    hm3, kg1 = hm3_kg1
    samples = kg1.samples.copy()
    samples["iid"] = [f"anon{k:05d}" for k in range(len(samples))]
    samples["fid"] = samples["iid"]
    renamed = dataclasses.replace(kg1, samples=samples)
    res = find_overlap(hm3, renamed)
    assert res.counts()["shared IID"] == 0 and res.by_id.empty
    dup = res.pairs[res.pairs["RELATION"] == "duplicate"]
    # Map the anonymous IDs back: the duplicates are exactly the 564 same-IID pairs.
    back = dict(zip(samples["iid"], kg1.samples["iid"], strict=True))
    found = {(a, back[b]) for a, b in zip(dup["IID_A"], dup["IID_B"], strict=True)}
    shared = set(hm3.samples["iid"]) & set(kg1.samples["iid"])
    assert found == {(iid, iid) for iid in shared}
    # The relatives found are the same as with the original IDs.
    orig = find_overlap(hm3, kg1)
    assert res.counts()["first-degree"] == orig.counts()["first-degree"] > 0


def test_overlap_of_a_cohort_with_itself_agrees_with_kinship_within(hm3_prefix) -> None:
    fs = open_plink(hm3_prefix)
    res = find_overlap(fs, fs)
    dup = res.pairs[res.pairs["RELATION"] == "duplicate"]
    assert len(dup) == fs.n_samples and dup["SAME_IID"].all()
    assert np.allclose(dup["KINSHIP"], 0.5)
    rel = res.pairs[~res.pairs["SAME_IID"]]
    # Same variants (cross-cohort harmonisation drops ambiguous A/T, C/G SNPs).
    idx = np.flatnonzero(fs.variants["id"].isin(res.variant_ids).to_numpy())
    assert len(idx) == OverlapConfig().n_variants
    within = kinship_within(fs, variants=idx)
    assert len(within) > 50
    assert len(rel) == 2 * len(within)  # each unordered pair once per direction
    a = rel.set_index(["IID_A", "IID_B"])["KINSHIP"]
    b = within.set_index(["IID1", "IID2"])["KINSHIP"]
    np.testing.assert_allclose(a.loc[b.index].to_numpy(), b.to_numpy(), atol=1e-12)


def test_write_overlap_tsv(hm3_kg1, tmp_path) -> None:
    hm3, kg1 = hm3_kg1
    res = find_overlap(hm3, kg1, OverlapConfig(n_variants=1000))
    out = tmp_path / "sub" / "overlap.tsv"
    write_overlap(res, out)
    back = pd.read_csv(out, sep="\t")
    assert list(back.columns) == OVERLAP_COLUMNS
    assert len(back) == len(res.pairs) and (back["N_SNPS"] <= 1000).all()
    np.testing.assert_allclose(back["KINSHIP"], res.pairs["KINSHIP"], atol=1e-6)
    assert set(back["RELATION"]) <= {"duplicate", "first-degree", "second-degree"}
    assert [p.name for p in out.parent.iterdir()] == ["overlap.tsv"]  # no temporary left


def test_no_shared_variants_is_a_user_error(hm3_kg1) -> None:
    hm3, kg1 = hm3_kg1
    variants = kg1.variants.copy()
    variants["id"] = "x" + variants["id"]
    other = dataclasses.replace(kg1, variants=variants)
    with pytest.raises(GenoptError, match=r"hm3: no common variants shared with .*kg1.*14079 not in other cohort"):
        find_overlap(hm3, other)
