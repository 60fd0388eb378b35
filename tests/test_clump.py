"""LD clumping against plink1.9 --clump on real genotypes (fixtures in tests/fixtures/clump/)."""

from __future__ import annotations

import gzip
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import FIXTURES, HM3, REPO

from genopt.assoc.clump import _pair_tables, clump, haplotype_r2, write_clumps
from genopt.config import ClumpConfig
from genopt.errors import GenoptError
from genopt.io.plink import open_plink

CLUMP = FIXTURES / "clump"
DISCOVERY = REPO / "data" / "discovery"


def read_clumped(path: Path) -> list[tuple[str, float, list[str]]]:
    """(index SNP, P, [SP2 member IDs]) per clump of a plink1.9 .clumped file (gzipped or not)."""
    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    with opener(path, "rt") as f:  # type: ignore[operator]
        next(f)
        for line in f:
            t = line.split()
            if not t:
                continue
            members = [] if t[11] == "NONE" else [x.split("(")[0] for x in t[11].split(",")]
            rows.append((t[2], float(t[4]), members))
    return rows


@pytest.fixture(scope="module")
def assoc() -> pd.DataFrame:
    return pd.read_csv(CLUMP / "discovery.glm.assoc.gz", sep="\t")


R2_002 = ClumpConfig(p1=1e-3, p2=1e-2, r2=0.02, kb=5000)


@pytest.fixture(scope="module")
def clumps_002(assoc):
    """discovery, r2 0.02 / 5 Mb (as disc_r2_0.02 in COMMANDS.sh): (table, fileset, result)."""
    table, fs = _table(assoc, DISCOVERY)
    return table, fs, clump(table, fs, R2_002)


def _table(assoc: pd.DataFrame, prefix: Path) -> tuple[pd.DataFrame, object]:
    fs = open_plink(prefix)
    pos = pd.Series(np.arange(fs.n_variants), index=fs.variants["id"])
    table = pd.DataFrame({"variant_index": pos[assoc["SNP"]].to_numpy(), "p_value": assoc["P"], "rsid": assoc["SNP"]})
    return table, fs


# name, genotypes, p1, p2, r2, kb, samples (first n of the .fam) -- as in COMMANDS.sh
RUNS = [
    ("disc_default", DISCOVERY, 1e-4, 1e-2, 0.5, 250, None),
    ("disc_r2_0.2", DISCOVERY, 1e-3, 1e-2, 0.2, 5000, None),
    ("disc_r2_0.02", DISCOVERY, 1e-3, 1e-2, 0.02, 5000, None),
    ("disc_r2_0.01", DISCOVERY, 1e-2, 5e-2, 0.01, 2000, None),
    ("disc_fold", DISCOVERY, 1e-2, 5e-2, 0.01, 2000, 2000),
    ("hm3_r2_0.1", HM3, 1e-2, 5e-2, 0.1, 2000, None),
    pytest.param("disc_r2_0.005", DISCOVERY, 0.05, 0.5, 0.005, 1000, None, marks=pytest.mark.slow),
    pytest.param("hm3_r2_0.02", HM3, 0.1, 0.5, 0.02, 5000, None, marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("name", "prefix", "p1", "p2", "r2", "kb", "n_first"), RUNS)
def test_clumps_equal_plink19(assoc, name, prefix, p1, p2, r2, kb, n_first):
    table, fs = _table(assoc, prefix)
    samples = None if n_first is None else np.arange(n_first)
    res = clump(table, fs, ClumpConfig(p1=p1, p2=p2, r2=r2, kb=kb), samples=samples)
    ref = read_clumped(CLUMP / f"{name}.clumped.gz")
    # the same index variants, in the same order (PLINK writes clumps in the order it forms them)
    assert list(res.index["rsid"]) == [r[0] for r in ref]
    np.testing.assert_allclose(res.index["p_value"], [r[1] for r in ref], rtol=5e-3)
    # the same members for every clump, in .bim order
    mine = [m.split(",") if m else [] for m in res.index["members"]]
    assert mine == [r[2] for r in ref]
    assert res.index["n_members"].tolist() == [len(r[2]) for r in ref]
    assert len(res.members) == sum(len(r[2]) for r in ref)
    if name != "disc_default":  # the default settings form no clump with members on these thinned SNPs
        assert len(res.members) > 0 or name.startswith(("disc_r2_0.2", "hm3_r2_0.1"))
    if len(res.members):
        assert (res.members["r2"] > r2).all()
        assert (res.members["p_value"] < p2).all()
        assert (res.members["kb"].abs() < kb).all()
    assert res.n_samples == (n_first or fs.n_samples)


def test_window_boundary_matches_plink19():
    """plink1.9 --clump-kb 250 keeps variants 249,999 bp away and drops those 250,000 bp away."""
    fs = open_plink(CLUMP / "boundary")
    a = pd.read_csv(CLUMP / "boundary.assoc", sep=" ")
    pos = pd.Series(np.arange(fs.n_variants), index=fs.variants["id"])
    table = pd.DataFrame({"variant_index": pos[a["SNP"]].to_numpy(), "p_value": a["P"], "rsid": a["SNP"]})
    res = clump(table, fs, ClumpConfig(p1=1e-4, p2=1e-2, r2=0.5, kb=250))
    ref = read_clumped(CLUMP / "boundary.clumped")
    assert [(r[0], r[2]) for r in ref] == [("v0", ["v3", "v1"])]
    assert res.index["rsid"].tolist() == ["v0"]
    assert res.index["members"].tolist() == ["v3,v1"]
    np.testing.assert_allclose(res.members["r2"], 1.0)
    np.testing.assert_allclose(sorted(res.members["kb"]), [-249.999, 249.999])


def _em_r2(tabs: np.ndarray, iters: int = 5000) -> np.ndarray:
    """Reference: two-locus haplotype frequencies by plain EM iterations (all tables at once), then r^2."""
    t = tabs.astype(float)
    k11 = 2 * t[:, 0, 0] + t[:, 0, 1] + t[:, 1, 0]
    k12 = 2 * t[:, 0, 2] + t[:, 0, 1] + t[:, 1, 2]
    k21 = 2 * t[:, 2, 0] + t[:, 1, 0] + t[:, 2, 1]
    k22 = 2 * t[:, 2, 2] + t[:, 1, 2] + t[:, 2, 1]
    dh = t[:, 1, 1]
    total = k11 + k12 + k21 + k22 + 2 * dh
    h = np.full((t.shape[0], 4), 0.25)
    for _ in range(iters):
        share = h[:, 0] * h[:, 3] / (h[:, 0] * h[:, 3] + h[:, 1] * h[:, 2])
        c = np.stack([k11 + dh * share, k12 + dh * (1 - share), k21 + dh * (1 - share), k22 + dh * share], axis=1)
        h = c / total[:, None]
    p1, q1 = h[:, 0] + h[:, 1], h[:, 0] + h[:, 2]
    d = h[:, 0] - p1 * q1
    with np.errstate(invalid="ignore", divide="ignore"):
        return d * d / (p1 * (1 - p1) * q1 * (1 - q1))


def test_haplotype_r2_is_the_maximum_likelihood_solution():
    rng = np.random.default_rng(7)
    tabs = []
    for _ in range(300):
        # genotype pairs from random haplotype frequencies, with double heterozygotes
        hap = rng.dirichlet([1, 1, 1, 1])
        n = int(rng.integers(20, 400))
        h1 = rng.choice(4, size=n, p=hap)
        h2 = rng.choice(4, size=n, p=hap)
        a = (h1 < 2).astype(int) + (h2 < 2)  # copies of allele 1 at locus 1
        b = (h1 % 2 == 0).astype(int) + (h2 % 2 == 0)
        tab = np.zeros((3, 3), dtype=int)
        np.add.at(tab, (2 - a, 2 - b), 1)
        tabs.append(tab)
    tabs_arr = np.array(tabs)
    mine = np.abs(haplotype_r2(tabs_arr))
    ref = _em_r2(tabs_arr)
    ok = np.isfinite(ref) & np.isfinite(mine)
    assert ok.sum() > 250
    np.testing.assert_allclose(mine[ok], ref[ok], atol=2e-4)
    # symmetric in the two loci, and in which allele is counted
    np.testing.assert_allclose(np.abs(haplotype_r2(tabs_arr.transpose(0, 2, 1))), mine, atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(np.abs(haplotype_r2(tabs_arr[:, ::-1, :])), mine, atol=1e-9, equal_nan=True)


def test_haplotype_r2_simple_cases():
    # no double heterozygotes: haplotypes are known, r^2 is their correlation
    tab = np.array([[[30, 0, 0], [0, 0, 0], [0, 0, 10]]])  # perfect LD
    assert haplotype_r2(tab)[0] == pytest.approx(1.0)
    assert haplotype_r2(tab[:, :, ::-1])[0] == pytest.approx(-1.0)  # sign of D
    mono = np.array([[[10, 5, 3], [0, 0, 0], [0, 0, 0]]])  # locus 1 monomorphic
    assert np.isnan(haplotype_r2(mono)[0])
    indep = np.outer([0.25, 0.5, 0.25], [0.25, 0.5, 0.25])[None] * 1600  # independent loci
    assert abs(haplotype_r2(indep)[0]) < 1e-9


def test_pair_tables_drop_samples_missing_at_either_variant():
    idx = np.array([2, 2, 1, 0, -1, 1], dtype=np.int8)
    win = np.array([[2, 0], [1, -1], [1, 1], [0, 2], [2, 2], [-1, 0]], dtype=np.int8)
    tab = _pair_tables(idx, win)
    assert tab.shape == (2, 3, 3)
    # variant 0: pairs (2,2) (2,1) (1,1) (0,0); rows/cols are 2, 1, 0 copies of A1
    expect0 = np.zeros((3, 3))
    for a, b in [(2, 2), (2, 1), (1, 1), (0, 0)]:
        expect0[2 - a, 2 - b] += 1
    np.testing.assert_array_equal(tab[0], expect0)
    expect1 = np.zeros((3, 3))
    for a, b in [(2, 0), (1, 1), (0, 2), (1, 0)]:
        expect1[2 - a, 2 - b] += 1
    np.testing.assert_array_equal(tab[1], expect1)


def test_variants_already_clumped_cannot_become_index(tmp_path):
    """Three identical variants: the best is the index; the others join it, none forms its own clump."""
    from genopt.io.plink import write_plink

    rng = np.random.default_rng(3)
    g = rng.binomial(2, 0.3, size=300).astype(float)
    other = rng.binomial(2, 0.3, size=300).astype(float)
    geno = np.stack([g, g, other, g], axis=1)
    v = pd.DataFrame({"chrom": "1", "id": ["a", "b", "c", "d"], "cm": 0.0, "pos": [100, 200, 300, 400], "a1": "A"})
    v["a2"] = "G"
    s = pd.DataFrame({"fid": np.arange(300).astype(str), "iid": np.arange(300).astype(str)})
    s = s.assign(father="0", mother="0", sex=1, phenotype=-9)
    write_plink(tmp_path / "x", geno, v, s)
    fs = open_plink(tmp_path / "x")
    # b and d tie on p: the tie goes to the earlier .bim row; c (independent) forms its own clump
    table = pd.DataFrame({"variant_index": [0, 1, 2, 3], "p_value": [1e-3, 1e-6, 1e-5, 1e-6]})
    res = clump(table, fs, ClumpConfig(p1=1e-2, p2=1e-2, r2=0.5, kb=10))
    assert res.index["rsid"].tolist() == ["b", "c"]
    assert res.member_map() == {1: [0, 3], 2: []}
    # with p2 below a member's p it is absorbed (cannot become an index) but not listed
    res2 = clump(table, fs, ClumpConfig(p1=1e-2, p2=1e-4, r2=0.5, kb=10))
    assert res2.index["rsid"].tolist() == ["b", "c"]
    assert res2.member_map() == {1: [3], 2: []}
    out = tmp_path / "clumps.tsv"
    write_clumps(res, out)
    back = pd.read_csv(out, sep="\t")
    assert back["rsid"].tolist() == ["b", "c"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.assign(p_value=t["p_value"].where(t.index != 3, 1.5)), "outside [0, 1]"),
        (lambda t: t.assign(variant_index=t["variant_index"].where(t.index != 2, 10**7)), "not a row of the .bim"),
        (lambda t: pd.concat([t, t.iloc[:1]]), "more than once"),
        (lambda t: t.drop(columns="p_value"), "no 'p_value' column"),
    ],
)
def test_bad_tables_raise_genopt_error(assoc, change, message):
    table, fs = _table(assoc.iloc[:50], DISCOVERY)
    with pytest.raises(GenoptError, match=message.replace("[", r"\[").replace("]", r"\]")):
        clump(change(table), fs, ClumpConfig())


def test_missing_p_values_are_skipped_and_bad_settings_rejected(assoc):
    table, fs = _table(assoc, DISCOVERY)
    cfg = ClumpConfig(p1=1e-4, p2=1e-2, r2=0.5, kb=250)
    full = clump(table, fs, cfg)
    best = int(full.index["variant_index"].iloc[0])
    masked = table.assign(p_value=np.where(table["variant_index"] == best, np.nan, table["p_value"]))
    res = clump(masked, fs, cfg)
    assert best not in set(res.index["variant_index"])
    assert len(res.index) == len(full.index) - 1
    for bad in (ClumpConfig(p1=0.0), ClumpConfig(p2=2.0), ClumpConfig(r2=1.0), ClumpConfig(kb=0)):
        with pytest.raises(GenoptError):
            clump(table, fs, bad)
    with pytest.raises(GenoptError, match="sample index"):
        clump(table, fs, cfg, samples=[0, fs.n_samples])


def test_every_pair_r2_consistent_with_direct_table(clumps_002):
    """The r^2 reported for members equals haplotype_r2 of the directly counted genotype table."""
    _, fs, res = clumps_002
    sub = res.members.head(20)
    for iv, mv, r2 in zip(sub["index_variant"], sub["variant_index"], sub["r2"], strict=True):
        g = fs.read_int8(variants=[iv, mv])
        ok = (g >= 0).all(axis=1)
        tab = np.zeros((3, 3))
        for a, b in itertools.product(range(3), range(3)):
            tab[2 - a, 2 - b] = np.sum(ok & (g[:, 0] == a) & (g[:, 1] == b))
        assert abs(haplotype_r2(tab[None])[0]) == pytest.approx(r2, rel=1e-9)


def read_verbose_r2(path: Path) -> dict[tuple[str, str], tuple[float, float]]:
    """{(index SNP, member SNP): (KB, RSQ)} from a plink1.9 --clump-verbose file."""
    out: dict[tuple[str, str], tuple[float, float]] = {}
    index = None
    with gzip.open(path, "rt") as f:
        for line in f:
            t = line.split()
            if not t:
                continue
            if t[0] == "(INDEX)":
                index = t[1]
            elif t[0] in ("RANGE:", "SPAN:") or t[0].startswith("---"):
                if t[0].startswith("---"):
                    index = None
            elif index is not None and len(t) == 6 and t[0] != "KB":
                out[(index, t[0])] = (float(t[1]), float(t[2]))
    return out


def test_member_r2_equals_plink19_verbose(clumps_002):
    _, fs, res = clumps_002
    ref = read_verbose_r2(CLUMP / "disc_r2_0.02.verbose.clumped.gz")
    ids = fs.variants["id"].to_numpy()
    mine = {
        (ids[i], r): (kb, r2)
        for i, r, kb, r2 in zip(
            res.members["index_variant"], res.members["rsid"], res.members["kb"], res.members["r2"], strict=True
        )
    }
    assert len(ref) == 418
    assert set(mine) == set(ref)
    keys = sorted(ref)
    r2_mine = np.array([mine[k][1] for k in keys])
    r2_ref = np.array([ref[k][1] for k in keys])
    # PLINK prints 3 significant digits
    np.testing.assert_allclose(r2_mine, r2_ref, rtol=5.1e-3)
    np.testing.assert_allclose([mine[k][0] for k in keys], [ref[k][0] for k in keys], rtol=5.1e-3)


def test_small_window_blocks_give_the_same_clumps(clumps_002):
    """Decoding each window in blocks of 3 variants (bounded memory) changes nothing."""
    table, fs, a = clumps_002
    b = clump(table, fs, R2_002, window_block=3)
    pd.testing.assert_frame_equal(a.index, b.index)
    pd.testing.assert_frame_equal(a.members, b.members)
