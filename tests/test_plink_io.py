"""PLINK fileset loading: A1 counting against plink2, subsets, streaming, writing, bad input.

Reference outputs are in tests/fixtures/io/ (made by COMMANDS.sh there). The
round-trip test runs plink2 on a fileset genopt wrote.
"""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import FIXTURES, require_executable

from genopt.errors import GenoptError
from genopt.io.plink import (
    PLINK_FLOAT_FORMAT,
    PlinkFileset,
    allele_frequencies,
    decode_bed,
    encode_bed,
    founder_mask,
    open_plink,
    read_bim,
    read_fam,
    write_plink,
)

IO_FIXTURES = FIXTURES / "io"


def read_plink2_table(path: Path) -> pd.DataFrame:
    with gzip.open(path, "rt") as handle:
        return pd.read_csv(handle, sep="\t", dtype={"#CHROM": str, "ID": str, "REF": str, "ALT": str})


def a1_counts(fs: PlinkFileset) -> tuple[np.ndarray, np.ndarray]:
    """A1 allele count and observed allele count per variant, streamed in chunks."""
    a1 = np.zeros(fs.n_variants, dtype=np.int64)
    obs = np.zeros(fs.n_variants, dtype=np.int64)
    for idx, block in fs.iter_variant_chunks(3000):
        called = block >= 0
        a1[idx] = np.where(called, block, 0).sum(axis=0)
        obs[idx] = 2 * called.sum(axis=0)
    return a1, obs


@pytest.fixture(scope="module")
def hm3(hm3_prefix: Path) -> PlinkFileset:
    return open_plink(hm3_prefix)


@pytest.fixture(scope="module")
def hm3_full(hm3: PlinkFileset) -> np.ndarray:
    return hm3.read()


# --------------------------------------------------------------------------- A1 against plink2


@pytest.mark.parametrize("cohort", ["hm3", "kg1"])
def test_a1_frequency_matches_plink2_freq(cohort: str, hm3_prefix: Path, kg1_prefix: Path) -> None:
    fs = open_plink(hm3_prefix if cohort == "hm3" else kg1_prefix)
    freq = read_plink2_table(IO_FIXTURES / f"{cohort}.afreq.gz")
    counts = read_plink2_table(IO_FIXTURES / f"{cohort}.acount.gz")
    assert len(freq) == fs.n_variants == 14079
    # plink2 calls the .bim A1 (column 5) ALT and A2 REF.
    assert (freq["ID"].to_numpy() == fs.variants["id"].to_numpy()).all()
    assert (freq["ALT"].to_numpy() == fs.variants["a1"].to_numpy()).all()
    assert (freq["REF"].to_numpy() == fs.variants["a2"].to_numpy()).all()
    a1, obs = a1_counts(fs)
    np.testing.assert_array_equal(obs, freq["OBS_CT"].to_numpy())
    np.testing.assert_array_equal(a1, counts["ALT_CTS"].to_numpy())
    ours = a1 / obs
    # plink2 prints 6 significant digits, so 1e-6 absolute is the bar its output allows.
    assert np.max(np.abs(ours - freq["ALT_FREQS"].to_numpy())) < 1e-6
    # The A2 frequency is visibly different: counting the wrong allele would fail above.
    assert np.max(np.abs((1 - ours) - freq["ALT_FREQS"].to_numpy())) > 0.5


def test_decoder_equals_pandas_plink(hm3_prefix: Path, hm3_full: np.ndarray) -> None:
    from pandas_plink import read_plink1_bin

    p = str(hm3_prefix)
    a1 = read_plink1_bin(p + ".bed", p + ".bim", p + ".fam", ref="a0", verbose=False).values
    np.testing.assert_array_equal(hm3_full, a1.astype(np.float32))
    assert np.isnan(hm3_full).sum() > 0  # the comparison covers missing calls too
    # pandas-plink's default counts A2: the trap the design notes warn about.
    a2 = read_plink1_bin(p + ".bed", p + ".bim", p + ".fam", verbose=False).values
    called = ~np.isnan(a2)
    np.testing.assert_array_equal(hm3_full[called], 2 - a2[called].astype(np.float32))


def test_as_dask_equals_read(hm3: PlinkFileset, hm3_full: np.ndarray) -> None:
    arr = hm3.as_dask()
    assert arr.shape == hm3.shape
    sub = np.asarray(arr[:, 5000:7000].compute(), dtype=np.float32)
    np.testing.assert_array_equal(sub, hm3_full[:, 5000:7000])
    full = np.asarray(arr.compute(), dtype=np.float32)
    np.testing.assert_array_equal(full, hm3_full)


def test_read_int8_and_read_agree(hm3: PlinkFileset, hm3_full: np.ndarray) -> None:
    g8 = hm3.read_int8()
    assert g8.dtype == np.int8 and g8.shape == (957, 14079)
    assert set(np.unique(g8)) == {-1, 0, 1, 2}
    np.testing.assert_array_equal(g8 < 0, np.isnan(hm3_full))
    np.testing.assert_array_equal(g8[g8 >= 0], hm3_full[g8 >= 0].astype(np.int8))
    assert hm3_full.dtype == np.float32
    assert hm3.read(variants=[0, 1], dtype=np.float64).dtype == np.float64


# --------------------------------------------------------------------------- subsets


def test_subset_reads_equal_slices_of_full_read(hm3: PlinkFileset, hm3_full: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    n, m = hm3.shape
    variants = rng.choice(m, 500, replace=False)  # unsorted
    samples = rng.choice(n, 300, replace=False)
    full = hm3_full
    np.testing.assert_array_equal(hm3.read(variants=variants), full[:, variants])
    np.testing.assert_array_equal(hm3.read(samples=samples), full[samples, :])
    np.testing.assert_array_equal(hm3.read(variants=variants, samples=samples), full[np.ix_(samples, variants)])
    vmask = rng.random(m) < 0.1
    smask = rng.random(n) < 0.5
    np.testing.assert_array_equal(hm3.read(variants=vmask, samples=smask), full[np.ix_(smask, vmask)])
    np.testing.assert_array_equal(
        hm3.read(variants=slice(100, 900, 7), samples=slice(1, None, 3)), full[1::3, 100:900:7]
    )
    # negative indices and repeats mean what they mean in numpy
    np.testing.assert_array_equal(hm3.read(variants=[-1, 0, 0], samples=[-2, 5]), full[np.ix_([-2, 5], [-1, 0, 0])])
    # sample selections that leave a single sample or cross byte boundaries
    for s in ([0], [3], [4], [956], [1, 2, 3, 4, 5]):
        np.testing.assert_array_equal(hm3.read(variants=variants, samples=s), full[np.ix_(s, variants)])
    assert hm3.read(variants=[]).shape == (n, 0)
    assert hm3.read(variants=[], samples=[1, 2]).shape == (2, 0)
    assert hm3.read(variants=[3], samples=[]).shape == (0, 1)


def test_subset_selection_errors(hm3: PlinkFileset) -> None:
    with pytest.raises(IndexError):
        hm3.read(variants=[hm3.n_variants])
    with pytest.raises(ValueError, match="mask"):
        hm3.read(samples=np.ones(10, dtype=bool))


def test_decode_bed_lut_against_bitwise_reference() -> None:
    rng = np.random.default_rng(1)
    n = 13
    bed = rng.integers(0, 256, size=(5, (n + 3) // 4), dtype=np.uint8)
    # straightforward per-genotype decoding as the .bed spec states it
    code_to_count = {0b00: 2, 0b01: -1, 0b10: 1, 0b11: 0}
    expected = np.array(
        [[code_to_count[(bed[v, j // 4] >> (2 * (j % 4))) & 3] for j in range(n)] for v in range(5)], dtype=np.int8
    )
    np.testing.assert_array_equal(decode_bed(bed, n), expected)
    idx = np.array([12, 0, 5, 5])
    np.testing.assert_array_equal(decode_bed(bed, n, np.array([4, 1]), idx), expected[np.ix_([4, 1], idx)])


def test_iter_variant_chunks_covers_every_variant_once(hm3: PlinkFileset, hm3_full: np.ndarray) -> None:
    seen = []
    for idx, block in hm3.iter_variant_chunks(chunk_size=1000):
        assert block.shape == (hm3.n_samples, len(idx)) and len(idx) <= 1000
        np.testing.assert_array_equal(block < 0, np.isnan(hm3_full[:, idx]))
        seen.append(idx)
    allidx = np.concatenate(seen)
    np.testing.assert_array_equal(allidx, np.arange(hm3.n_variants))
    assert len(seen) == 15  # 14,079 / 1,000 rounded up
    # with selections: chunks follow the requested variants, in order
    variants = np.arange(10, 2000, 3)
    samples = np.arange(0, 957, 2)
    got = list(hm3.iter_variant_chunks(chunk_size=97, samples=samples, variants=variants))
    np.testing.assert_array_equal(np.concatenate([i for i, _ in got]), variants)
    stacked = np.concatenate([b for _, b in got], axis=1).astype(np.float32)
    stacked[stacked < 0] = np.nan
    np.testing.assert_array_equal(stacked, hm3_full[np.ix_(samples, variants)])


# --------------------------------------------------------------------------- writing


def test_allele_frequencies_match_plink2_freq_for_filesets_arrays_and_selections(
    hm3: PlinkFileset, hm3_full: np.ndarray
) -> None:
    expected = read_plink2_table(IO_FIXTURES / "hm3.afreq.gz")
    freq, called = allele_frequencies(hm3, chunk_size=1000)
    np.testing.assert_array_equal(2 * called, expected["OBS_CT"].to_numpy())
    assert np.max(np.abs(freq - expected["ALT_FREQS"].to_numpy())) < 1e-6  # plink2 prints 6 digits
    # The same numbers, bit for bit, from an in-memory array (float NaN or int8 -1 missing).
    for arr in (hm3_full, hm3.read_int8()):
        f2, c2 = allele_frequencies(arr, chunk_size=777)
        np.testing.assert_array_equal(f2, freq)
        np.testing.assert_array_equal(c2, called)
    # Selections: the frequencies of the subset, in the order asked.
    samples, variants = np.arange(0, 957, 3), np.array([50, 7, 13_000, 7])
    f3, c3 = allele_frequencies(hm3, samples=samples, variants=variants)
    sub = hm3_full[samples][:, variants]
    np.testing.assert_array_equal(c3, (~np.isnan(sub)).sum(0))
    np.testing.assert_allclose(f3, np.nanmean(sub.astype(np.float64), axis=0) / 2, rtol=1e-12)
    np.testing.assert_array_equal(allele_frequencies(hm3_full, samples, variants)[0], f3)
    with pytest.raises(ValueError, match="PlinkFileset"):
        allele_frequencies(hm3_full, founders_only=True)


@pytest.mark.plink
def test_founders_and_founder_frequencies_as_plink2(tmp_path: Path) -> None:
    """A named parent makes a nonfounder even when absent from the .fam (plink2 --freq counts founders only)."""
    plink2 = require_executable("plink2")
    rng = np.random.default_rng(5)
    g = rng.integers(0, 3, size=(8, 40)).astype(np.float32)
    g[rng.random(g.shape) < 0.1] = np.nan
    variants = pd.DataFrame(
        {"chrom": "1", "id": [f"v{j}" for j in range(40)], "cm": 0.0, "pos": np.arange(1, 41), "a1": "A", "a2": "G"}
    )
    samples = pd.DataFrame(
        {
            "fid": ["f", "f", "f", "f", "f", "f", "g", "f"],
            "iid": [f"s{i}" for i in range(1, 9)],
            # s5: father absent from the .fam; s6: father present; s7: father's ID in another family; s8: mother
            "father": ["0", "0", "0", "0", "ghost", "s1", "s1", "0"],
            "mother": ["0", "0", "0", "0", "0", "0", "0", "s2"],
            "sex": 0,
            "phenotype": "-9",
        }
    )
    write_plink(tmp_path / "fam", g, variants, samples)
    fs = open_plink(tmp_path / "fam")
    assert founder_mask(fs.samples).tolist() == [True] * 4 + [False] * 4
    subprocess.run(
        [plink2, "--bfile", str(fs.prefix), "--freq", "counts", "--threads", "1", "--out", str(tmp_path / "p")],
        check=True,
        capture_output=True,
    )
    assert "4 founders" in (tmp_path / "p.log").read_text()
    theirs = pd.read_csv(tmp_path / "p.acount", sep="\t")
    freq, called = allele_frequencies(fs, founders_only=True)
    np.testing.assert_array_equal(2 * called, theirs["OBS_CT"].to_numpy())
    np.testing.assert_allclose(freq * 2 * called, theirs["ALT_CTS"].to_numpy())
    # Founders among a selection: s1, s5, s6 -> s1 only.
    f1, c1 = allele_frequencies(fs, samples=[0, 4, 5], founders_only=True)
    np.testing.assert_array_equal(c1, (~np.isnan(g[0])).astype(int))
    np.testing.assert_array_equal(f1[c1 > 0], g[0][c1 > 0] / 2)


def test_write_plink_streams_a_subset_of_a_fileset(tmp_path: Path, hm3: PlinkFileset, hm3_full: np.ndarray) -> None:
    variants = np.array([5, 0, 14_078, 300])  # any order, as given
    samples = np.arange(956, 0, -7)
    write_plink(tmp_path / "sub", hm3, variant_idx=variants, sample_idx=samples, chunk_size=3)
    back = open_plink(tmp_path / "sub")
    np.testing.assert_array_equal(back.read(), hm3_full[samples][:, variants])
    pd.testing.assert_frame_equal(back.variants, hm3.variants.iloc[variants].reset_index(drop=True))
    pd.testing.assert_frame_equal(back.samples, hm3.samples.iloc[samples].reset_index(drop=True))
    assert (tmp_path / "sub.bim").read_text().split("\n")[0].split("\t")[2] == "0.0"
    # PLINK's number format for the .bim: cM written as plink2 --make-bed does.
    mask = np.zeros(hm3.n_variants, dtype=bool)
    mask[:10] = True
    write_plink(tmp_path / "plinkfmt", hm3, variant_idx=mask, float_format=PLINK_FLOAT_FORMAT)
    original = hm3.prefix.with_name(hm3.prefix.name + ".bim").read_text().splitlines()[:10]
    assert (tmp_path / "plinkfmt.bim").read_text().splitlines() == [line.replace(" ", "\t") for line in original]
    with pytest.raises(ValueError, match="PlinkFileset"):
        write_plink(tmp_path / "x", hm3_full, hm3.variants, hm3.samples, variant_idx=[0])
    assert not (tmp_path / "x.bed").exists()


def test_write_plink_round_trip_and_plink2_reads_it(tmp_path: Path, hm3: PlinkFileset, hm3_full: np.ndarray) -> None:
    plink2 = require_executable("plink2")
    out = tmp_path / "copy"
    write_plink(out, hm3, chunk_size=1000)  # streamed from the fileset
    back = open_plink(out)
    np.testing.assert_array_equal(back.read(), hm3_full)
    pd.testing.assert_frame_equal(back.variants, hm3.variants)
    pd.testing.assert_frame_equal(back.samples, hm3.samples)
    assert back.bed_path.read_bytes() == hm3.bed_path.read_bytes()  # byte-identical .bed
    subprocess.run(
        [plink2, "--bfile", str(out), "--freq", "--threads", "1", "--out", str(tmp_path / "copy")],
        check=True,
        capture_output=True,
    )
    theirs = pd.read_csv(tmp_path / "copy.afreq", sep="\t", dtype={"#CHROM": str, "ID": str, "REF": str, "ALT": str})
    original = read_plink2_table(IO_FIXTURES / "hm3.afreq.gz")
    pd.testing.assert_frame_equal(theirs, original, check_dtype=False)


def test_write_plink_array_round_trip_odd_sizes(tmp_path: Path, hm3: PlinkFileset) -> None:
    rng = np.random.default_rng(2)
    for n in (1, 2, 3, 4, 5, 7, 9):
        g = rng.integers(0, 3, size=(n, 11)).astype(np.float32)
        g[rng.random(g.shape) < 0.2] = np.nan
        samples = hm3.samples.iloc[:n].reset_index(drop=True)
        variants = hm3.variants.iloc[:11].reset_index(drop=True)
        write_plink(tmp_path / f"g{n}", g, variants, samples, chunk_size=4)
        back = open_plink(tmp_path / f"g{n}")
        np.testing.assert_array_equal(back.read(), g)
        # int8 input with -1 for missing writes the same bytes
        g8 = np.where(np.isnan(g), -1, g).astype(np.int8)
        write_plink(tmp_path / f"h{n}", g8, variants, samples)
        assert (tmp_path / f"h{n}.bed").read_bytes() == (tmp_path / f"g{n}.bed").read_bytes()
    # subset of a real fileset: what QC writes
    keep = np.arange(0, 957, 5)
    write_plink(
        tmp_path / "sub",
        hm3.read(variants=slice(0, 300), samples=keep),
        hm3.variants.iloc[:300],
        hm3.samples.iloc[keep],
    )
    np.testing.assert_array_equal(open_plink(tmp_path / "sub").read(), hm3.read(variants=slice(0, 300), samples=keep))


def test_encode_bed_matches_plink_bytes(hm3: PlinkFileset) -> None:
    block = hm3.read(variants=slice(0, 50))
    expected = np.fromfile(hm3.bed_path, dtype=np.uint8, offset=3, count=50 * 240).reshape(50, 240)
    np.testing.assert_array_equal(encode_bed(block), expected)


@pytest.mark.parametrize("bad", [3, 1.5, 7])
def test_failed_write_leaves_nothing_behind(tmp_path: Path, hm3: PlinkFileset, bad: float) -> None:
    g = hm3.read(variants=slice(0, 20), samples=slice(0, 10))
    g[4, 17] = bad
    with pytest.raises(ValueError, match=f"{bad}.*sample 4, variant 17"):
        write_plink(tmp_path / "out", g, hm3.variants.iloc[:20], hm3.samples.iloc[:10], chunk_size=8)
    assert list(tmp_path.iterdir()) == []  # no .bed/.bim/.fam, no temporaries


def test_failed_write_keeps_previous_output(tmp_path: Path, hm3: PlinkFileset) -> None:
    g = hm3.read(variants=slice(0, 20), samples=slice(0, 10))
    write_plink(tmp_path / "out", g, hm3.variants.iloc[:20], hm3.samples.iloc[:10])
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    g[0, 0] = 3
    with pytest.raises(ValueError):
        write_plink(tmp_path / "out", g, hm3.variants.iloc[:20], hm3.samples.iloc[:10])
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_write_refuses_mismatched_tables(tmp_path: Path, hm3: PlinkFileset) -> None:
    g = hm3.read(variants=slice(0, 20), samples=slice(0, 10))
    with pytest.raises(ValueError, match="9 samples for 10"):
        write_plink(tmp_path / "out", g, hm3.variants.iloc[:20], hm3.samples.iloc[:9])
    with pytest.raises(ValueError, match="21 variants for 20"):
        write_plink(tmp_path / "out", g, hm3.variants.iloc[:21], hm3.samples.iloc[:10])
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- bad input


@pytest.fixture
def small(tmp_path: Path, hm3: PlinkFileset) -> Path:
    """A 9-sample x 30-variant fileset copied out of hm3 (3 bytes per variant)."""
    prefix = tmp_path / "small"
    write_plink(
        prefix, hm3.read(variants=slice(0, 30), samples=slice(0, 9)), hm3.variants.iloc[:30], hm3.samples.iloc[:9]
    )
    return prefix


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


def test_small_fixture_opens(small: Path) -> None:
    fs = open_plink(small)
    assert fs.shape == (9, 30)
    # opening by any of the three file names works too
    assert open_plink(str(small) + ".bed").shape == (9, 30)


def test_truncated_bed(small: Path) -> None:
    bed = small.with_suffix(".bed")
    bed.write_bytes(bed.read_bytes()[:-2])
    with pytest.raises(GenoptError, match=r"small\.bed.*size 91 bytes.*30 variants.*9 samples.*truncated") as err:
        open_plink(small)
    assert err.value.path == str(bed)


def test_wrong_magic_bytes(small: Path) -> None:
    bed = small.with_suffix(".bed")
    data = bytearray(bed.read_bytes())
    data[0:2] = b"\x00\xff"
    bed.write_bytes(bytes(data))
    with pytest.raises(GenoptError, match=r"small\.bed: not a PLINK 1 \.bed file: magic bytes 00 ff 01"):
        open_plink(small)
    data[0:3] = b"\x6c\x1b\x00"
    bed.write_bytes(bytes(data))
    with pytest.raises(GenoptError, match=r"small\.bed: sample-major"):
        open_plink(small)
    bed.write_bytes(b"")
    with pytest.raises(GenoptError, match=r"small\.bed: .*magic bytes \(none\)"):
        open_plink(small)


def test_bim_line_count_does_not_fit_bed(small: Path) -> None:
    bim = small.with_suffix(".bim")
    lines = _lines(bim)
    bim.write_text("".join([*lines, lines[-1].replace("\t", "\tx", 1)]))
    with pytest.raises(GenoptError, match=r"small\.bed: .*small\.bim \(31 variants\).*extra lines"):
        open_plink(small)
    bim.write_text("".join(lines[:-1]))
    with pytest.raises(GenoptError, match=r"small\.bed: .*small\.bim \(29 variants\).*lacks lines"):
        open_plink(small)


def test_fam_line_count_does_not_fit_bed(small: Path) -> None:
    fam = small.with_suffix(".fam")
    lines = _lines(fam)
    fam.write_text("".join(lines[:-1]))  # 8 samples: 2 bytes per variant instead of 3
    with pytest.raises(GenoptError, match=r"small\.bed: .*small\.fam \(8 samples\)"):
        open_plink(small)
    extra = [f"X{i} Y{i} 0 0 1 -9\n" for i in range(4)]  # 13 samples: 4 bytes per variant
    fam.write_text("".join(lines + extra))
    with pytest.raises(GenoptError, match=r"small\.bed: .*small\.fam \(13 samples\).*extra lines"):
        open_plink(small)


def test_duplicate_sample_ids(small: Path) -> None:
    fam = small.with_suffix(".fam")
    lines = _lines(fam)
    lines[6] = lines[2]
    fam.write_text("".join(lines))
    fid, iid = lines[2].split()[:2]
    with pytest.raises(GenoptError, match=rf"small\.fam: duplicate sample ID FID={fid} IID={iid} on lines 3 and 7"):
        open_plink(small)


@pytest.mark.parametrize("ext", [".bim", ".fam"])
def test_empty_fileset(small: Path, ext: str) -> None:
    small.with_suffix(ext).write_text("")
    with pytest.raises(GenoptError, match=rf"small\{ext}: {ext} file is empty"):
        open_plink(small)
    small.with_suffix(ext).write_text("\n\n")
    with pytest.raises(GenoptError, match=rf"small\{ext}: {ext} file is empty"):
        open_plink(small)


def test_malformed_bim_lines(small: Path) -> None:
    bim = small.with_suffix(".bim")
    lines = _lines(bim)

    def with_line(i: int, text: str) -> None:
        changed = list(lines)
        changed[i] = text
        bim.write_text("".join(changed))

    fields = lines[11].split()
    with_line(11, "\t".join(fields[:5]) + "\n")
    with pytest.raises(GenoptError, match=r"small\.bim, line 12: expected 6 .*found 5") as err:
        open_plink(small)
    assert err.value.line == 12
    with_line(11, "\t".join([*fields, "extra"]) + "\n")
    with pytest.raises(GenoptError, match=r"small\.bim, line 12: expected 6 .*found 7"):
        open_plink(small)
    with_line(11, "\t".join([*fields[:3], "12x", *fields[4:]]) + "\n")
    with pytest.raises(GenoptError, match=r"small\.bim, line 12: base-pair position '12x' is not an integer"):
        open_plink(small)
    with_line(11, "\t".join([*fields[:3], "1.5", *fields[4:]]) + "\n")
    with pytest.raises(GenoptError, match=r"small\.bim, line 12: base-pair position '1.5' is not an integer"):
        open_plink(small)
    with_line(11, "\t".join([fields[0], fields[1], "abc", *fields[3:]]) + "\n")
    with pytest.raises(GenoptError, match=r"small\.bim, line 12: genetic position 'abc' is not a number"):
        open_plink(small)
    # every line with 7 columns: refused at line 1 (not silently shifted)
    bim.write_text("".join(line.rstrip("\n") + "\tX\n" for line in lines))
    with pytest.raises(GenoptError, match=r"small\.bim, line 1: expected 6 .*found 7"):
        open_plink(small)


def test_blank_lines_are_skipped_and_line_numbers_stay_true(small: Path) -> None:
    bim = small.with_suffix(".bim")
    lines = _lines(bim)
    changed = [*lines[:3], "\n", *lines[3:]]
    bim.write_text("".join(changed))
    assert open_plink(small).n_variants == 30
    fields = changed[12].split()
    changed[12] = "\t".join([*fields[:3], "oops", *fields[4:]]) + "\n"
    bim.write_text("".join(changed))
    with pytest.raises(GenoptError, match=r"line 13: base-pair position 'oops'"):
        read_bim(bim)


def test_malformed_fam_line(small: Path) -> None:
    fam = small.with_suffix(".fam")
    lines = _lines(fam)
    lines[4] = " ".join(lines[4].split()[:4]) + "\n"
    fam.write_text("".join(lines))
    with pytest.raises(GenoptError, match=r"small\.fam, line 5: expected 6 .*found 4"):
        read_fam(fam)


@pytest.mark.parametrize("ext", [".bed", ".bim", ".fam"])
def test_missing_file(small: Path, ext: str) -> None:
    small.with_suffix(ext).unlink()
    with pytest.raises(GenoptError, match=rf"small\{ext}: \{ext} file not found"):
        open_plink(small)


def test_missing_prefix(tmp_path: Path) -> None:
    with pytest.raises(GenoptError, match=r"nothing_here\.bim: \.bim file not found"):
        open_plink(tmp_path / "nothing_here")


@pytest.mark.parametrize("n_samples_sel", [5, 100, 600, None])
def test_decoder_paths_agree(hm3_prefix: Path, n_samples_sel: int | None) -> None:
    """Few-sample (bit extraction) and many-sample (row lookup) paths, int8 and float32, threaded blocks."""
    from genopt.io.plink import decode_bed

    fs = open_plink(hm3_prefix)
    rng = np.random.default_rng(n_samples_sel or 0)
    variants = rng.permutation(fs.n_variants)[:5000]  # > 2 decode blocks, unsorted
    samples = None if n_samples_sel is None else rng.choice(fs.n_samples, n_samples_sel, replace=False)
    full = fs.read_int8()
    expect = full[:, variants] if samples is None else full[np.ix_(samples, variants)]
    got8 = decode_bed(fs._bed, fs.n_samples, variants, samples).T
    got32 = decode_bed(fs._bed, fs.n_samples, variants, samples, dtype=np.float32).T
    assert np.array_equal(got8, expect)
    assert np.array_equal(np.isnan(got32), expect < 0)
    assert np.array_equal(got32[expect >= 0], expect[expect >= 0].astype(np.float32))
    assert np.array_equal(fs.read(variants, samples, dtype=np.float64), got32.astype(np.float64), equal_nan=True)


# --------------------------------------------------------------------------- .fam off by less than a byte


@pytest.fixture(scope="module")
def fileset_1002(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,002 real people x 400 variants: 251 bytes per variant, 2 unused 2-bit slots in the last byte."""
    from conftest import REPO

    prefix = tmp_path_factory.mktemp("fam_off") / "c"
    source = open_plink(REPO / "data" / "discovery")
    write_plink(prefix, source, variant_idx=np.arange(0, 14000, 35), sample_idx=np.arange(1002))
    return prefix


def _copy_with_fam(prefix: Path, folder: Path, fam_lines: list[str]) -> Path:
    out = folder / "c"
    for ext in (".bed", ".bim"):
        out.with_suffix(ext).write_bytes(prefix.with_suffix(ext).read_bytes())
    out.with_suffix(".fam").write_text("".join(fam_lines))
    return out


def test_fam_with_a_phantom_last_person_is_refused(fileset_1002: Path, tmp_path: Path) -> None:
    """One extra .fam line fits the .bed size; the extra person would read the zero padding (all hom A1)."""
    lines = fileset_1002.with_suffix(".fam").read_text().splitlines(keepends=True)
    prefix = _copy_with_fam(fileset_1002, tmp_path, [*lines, "X1 X1 0 0 1 -9\n"])
    with pytest.raises(GenoptError) as err:
        open_plink(prefix)
    message = str(err.value)
    assert "c.bed" in message and "X1 X1, line 1003" in message and "lists more people (1003)" in message
    assert "\n" not in message


def test_fam_short_of_the_bed_gives_a_warning_and_the_listed_genotypes(
    fileset_1002: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """One .fam line fewer also fits the size; the real last person's codes sit in the padding bits."""
    lines = fileset_1002.with_suffix(".fam").read_text().splitlines(keepends=True)
    prefix = _copy_with_fam(fileset_1002, tmp_path, lines[:-1])
    with caplog.at_level("WARNING", logger="genopt"):
        short = open_plink(prefix)
    assert "may list fewer people than the .bed holds" in caplog.text and "c.fam" in caplog.text
    np.testing.assert_array_equal(short.read_int8(), open_plink(fileset_1002).read_int8()[:-1])


def test_fitting_fam_gives_neither_warning_nor_error(fileset_1002: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="genopt"):
        open_plink(fileset_1002)
    assert not caplog.records
