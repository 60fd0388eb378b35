"""Bad input, systematically: property-based corruption of every input file.

Each case starts from a small valid fileset (10 samples x 7 variants written by
:func:`genopt.io.plink.write_plink`), phenotype and covariate tables and a TOML
config, corrupts one file in a way drawn by hypothesis, and requires one of two
outcomes:

* a :class:`genopt.errors.GenoptError` (any other exception type fails the
  test) whose message is one line and names the corrupted file; or
* for corruptions the loaders accept by policy (duplicate variant IDs, odd
  allele strings, nonzero .bed padding bits, ...), a result equal to an
  independent expectation: the genotypes written, or a pure-Python decoding of
  the .bed bytes.

A .fam whose line count is off by less than the 4-sample padding of the last
.bed byte cannot be detected from the file sizes (PLINK has the same blind
spot), so the .fam line-count cases below only use counts the sizes can
reveal; ``genopt.io.plink._check_sample_count`` probes the genotypes for the
rest (tested on real genotypes in ``tests/test_plink_io.py``).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from genopt.cli import main
from genopt.cohort import Cohort
from genopt.config import RunConfig, load_config
from genopt.errors import GenoptError
from genopt.io.plink import BED_MAGIC, open_plink, write_plink
from genopt.io.tables import read_covariates, read_phenotype, read_population_labels

N_SAMPLES, N_VARIANTS = 10, 7  # 10 samples: the last .bed byte of each variant has 2 padding slots
BYTES_PER_VARIANT = (N_SAMPLES + 3) // 4
BED_SIZE = 3 + N_VARIANTS * BYTES_PER_VARIANT
# Module-scoped data with a fresh directory per example, so the function-scoped check does not apply.
# GENOPT_BAD_INPUT_EXAMPLES=500 searches harder (the default keeps the file at a few seconds).
CASES = settings(
    max_examples=int(os.environ.get("GENOPT_BAD_INPUT_EXAMPLES", "20")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

# Field text without whitespace or control characters (what one .bim/.fam/table field can hold).
FIELD = st.text(st.characters(blacklist_categories=("Z", "C")), min_size=1, max_size=8)


@dataclass(frozen=True)
class Base:
    """The valid input files and what they hold."""

    root: Path
    genotypes: npt.NDArray[np.float64]  # samples x variants, A1 counts, NaN missing
    bim_lines: list[str]
    fam_lines: list[str]
    pheno_lines: list[str]
    covar_lines: list[str]
    config_text: str

    def case(self) -> Path:
        """A fresh copy of the valid files; returns the fileset prefix ``<dir>/x``."""
        case = Path(tempfile.mkdtemp(dir=self.root))
        for name in ("x.bed", "x.bim", "x.fam", "pheno.tsv", "covar.tsv", "run.toml"):
            shutil.copy(self.root / name, case / name)
        return case / "x"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    root = tmp_path_factory.mktemp("bad_input")
    rng = np.random.default_rng(7)
    g = rng.integers(0, 3, size=(N_SAMPLES, N_VARIANTS)).astype(np.float64)
    g[rng.random(g.shape) < 0.1] = np.nan
    variants = pd.DataFrame(
        {
            "chrom": "1",
            "id": [f"rs{i}" for i in range(N_VARIANTS)],
            "cm": 0.0,
            "pos": 1000 * np.arange(1, N_VARIANTS + 1),
            "a1": "A",
            "a2": "G",
        }
    )
    samples = pd.DataFrame(
        {
            "fid": [f"F{i}" for i in range(N_SAMPLES)],
            "iid": [f"I{i}" for i in range(N_SAMPLES)],
            "father": "0",
            "mother": "0",
            "sex": 1 + np.arange(N_SAMPLES) % 2,
            "phenotype": "-9",
        }
    )
    write_plink(root / "x", g, variants, samples)
    outcome = np.arange(N_SAMPLES) % 2
    pheno = ["FID\tIID\tcoop"] + [f"F{i}\tI{i}\t{outcome[i]}" for i in range(N_SAMPLES)]
    covar = ["FID\tIID\tage\tsite"] + [f"F{i}\tI{i}\t{20 + i}\t{'ab'[i % 2]}" for i in range(N_SAMPLES)]
    (root / "pheno.tsv").write_text("\n".join(pheno) + "\n")
    (root / "covar.tsv").write_text("\n".join(covar) + "\n")
    config = (
        'out = "out"\nseed = 3\n\n[discovery]\nname = "d"\nbfile = "x"\npheno = "pheno.tsv"\n'
        "\n[qc]\nmaf = 0.01\n\n[search]\nbudget = 10\npopulation = 4\n"
    )
    (root / "run.toml").write_text(config)
    assert load_config(RunConfig, root / "run.toml").search is not None  # the base config is valid
    return Base(
        root=root,
        genotypes=g,
        bim_lines=(root / "x.bim").read_text().splitlines(),
        fam_lines=(root / "x.fam").read_text().splitlines(),
        pheno_lines=pheno,
        covar_lines=covar,
        config_text=config,
    )


def user_error(call: Callable[[], Any], path: Path, line: int | None = None) -> str:
    """Run ``call``; require a one-line GenoptError naming ``path`` (and ``line``); return its message."""
    with pytest.raises(GenoptError) as info:  # any other exception propagates and fails the test
        call()
    message = str(info.value)
    assert "\n" not in message and "\r" not in message, message
    assert path.name in message, message
    if line is not None:
        assert f"line {line}" in message, message
    return message


def write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines))


def read_genotypes(prefix: Path) -> npt.NDArray[np.float32]:
    """All genotypes of an opened fileset, samples x variants (NaN missing)."""
    return open_plink(prefix).read()


def decode_reference(body: bytes, n_samples: int, n_variants: int) -> npt.NDArray[np.float64]:
    """Plain-Python .bed decoding (SNP-major), the independent check of :func:`decode_bed`."""
    per = (n_samples + 3) // 4
    counts = {0b00: 2.0, 0b01: np.nan, 0b10: 1.0, 0b11: 0.0}
    out = np.empty((n_samples, n_variants))
    for v in range(n_variants):
        for s in range(n_samples):
            out[s, v] = counts[(body[v * per + s // 4] >> (2 * (s % 4))) & 0b11]
    return out


# --------------------------------------------------------------------------- .bed


@CASES
@given(length=st.integers(0, BED_SIZE - 1))
def test_truncated_bed_is_an_error(base: Base, length: int) -> None:
    prefix = base.case()
    bed = prefix.with_suffix(".bed")
    bed.write_bytes(bed.read_bytes()[:length])
    message = user_error(lambda: open_plink(prefix), bed)
    assert ("truncated" if length >= 2 else "magic bytes") in message


@CASES
@given(extra=st.binary(min_size=1, max_size=2 * BYTES_PER_VARIANT + 1))
def test_bed_with_extra_bytes_is_an_error(base: Base, extra: bytes) -> None:
    prefix = base.case()
    bed = prefix.with_suffix(".bed")
    bed.write_bytes(bed.read_bytes() + extra)
    user_error(lambda: open_plink(prefix), bed)


@CASES
@given(magic=st.binary(min_size=3, max_size=3).filter(lambda m: m != BED_MAGIC))
def test_wrong_bed_magic_is_an_error(base: Base, magic: bytes) -> None:
    prefix = base.case()
    bed = prefix.with_suffix(".bed")
    bed.write_bytes(magic + bed.read_bytes()[3:])
    message = user_error(lambda: open_plink(prefix), bed)
    if magic[:2] == BED_MAGIC[:2]:  # the mode byte is named as found
        assert f"mode byte {magic[2]:02x}" in message


def test_sample_major_bed_is_an_error(base: Base) -> None:
    prefix = base.case()
    bed = prefix.with_suffix(".bed")
    bed.write_bytes(BED_MAGIC[:2] + b"\x00" + bed.read_bytes()[3:])
    assert "sample-major" in user_error(lambda: open_plink(prefix), bed)


@CASES
@given(padding=st.lists(st.integers(1, 15), min_size=N_VARIANTS, max_size=N_VARIANTS))
def test_nonzero_bed_padding_bits_are_ignored(base: Base, padding: list[int]) -> None:
    """The 2 unused slots of each variant's last byte hold junk: the genotypes are unchanged."""
    prefix = base.case()
    bed = prefix.with_suffix(".bed")
    data = bytearray(bed.read_bytes())
    for v, junk in enumerate(padding):
        data[3 + (v + 1) * BYTES_PER_VARIANT - 1] |= junk << 4  # slots of samples 10 and 11
    bed.write_bytes(bytes(data))
    np.testing.assert_array_equal(read_genotypes(prefix), base.genotypes)


@CASES
@given(body=st.binary(min_size=BED_SIZE - 3, max_size=BED_SIZE - 3))
def test_any_bed_body_decodes_as_plain_python_does(base: Base, body: bytes) -> None:
    """Random genotype bytes are data, not corruption: decoded exactly as the format says."""
    prefix = base.case()
    prefix.with_suffix(".bed").write_bytes(BED_MAGIC + body)
    np.testing.assert_array_equal(read_genotypes(prefix), decode_reference(body, N_SAMPLES, N_VARIANTS))


# --------------------------------------------------------------------------- .bim and .fam


@CASES
@given(data=st.data(), which=st.sampled_from([".bim", ".fam"]))
def test_wrong_column_count_is_an_error_naming_the_line(base: Base, data: st.DataObject, which: str) -> None:
    lines = list(base.bim_lines if which == ".bim" else base.fam_lines)
    row = data.draw(st.integers(0, len(lines) - 1), label="row")
    n_fields = data.draw(st.integers(1, 10).filter(lambda k: k != 6), label="n_fields")
    fields = (lines[row].split("\t") + ["x"] * 10)[:n_fields]
    lines[row] = "\t".join(fields)
    prefix = base.case()
    path = prefix.with_suffix(which)
    write_lines(path, lines)
    # A short first line sets pandas' column count, so the error is on line 2 (the first wider one).
    line = 2 if row == 0 and n_fields < 6 else row + 1
    user_error(lambda: open_plink(prefix), path, line)


@CASES
@given(
    row=st.integers(0, N_VARIANTS - 1),
    pos=FIELD.filter(lambda t: re.fullmatch(r"[+-]?[0-9]+", t) is None)
    | st.integers(2**63, 10**30).map(str)
    | st.integers(-(10**30), -(2**63) - 1).map(str),
)
def test_non_integer_or_huge_bim_position_is_an_error(base: Base, row: int, pos: str) -> None:
    lines = list(base.bim_lines)
    fields = lines[row].split("\t")
    fields[3] = pos
    lines[row] = "\t".join(fields)
    prefix = base.case()
    write_lines(prefix.with_suffix(".bim"), lines)
    user_error(lambda: open_plink(prefix), prefix.with_suffix(".bim"), row + 1)


@CASES
@given(rows=st.lists(st.integers(0, N_VARIANTS - 1), min_size=2, max_size=4, unique=True))
def test_duplicate_variant_ids_are_read_as_written(base: Base, rows: list[int]) -> None:
    """PLINK accepts duplicate variant IDs (QC reports them): the table and genotypes are unchanged otherwise."""
    lines = list(base.bim_lines)
    ids = [line.split("\t")[1] for line in lines]
    for row in rows[1:]:
        ids[row] = ids[rows[0]]
        fields = lines[row].split("\t")
        fields[1] = ids[row]
        lines[row] = "\t".join(fields)
    prefix = base.case()
    write_lines(prefix.with_suffix(".bim"), lines)
    fileset = open_plink(prefix)
    assert fileset.variants["id"].tolist() == ids
    np.testing.assert_array_equal(fileset.read(), base.genotypes)


@CASES
@given(text=st.sampled_from(["", "\n", " \n\t\n\n", "\t"]), which=st.sampled_from([".bim", ".fam"]))
def test_empty_bim_or_fam_is_an_error(base: Base, text: str, which: str) -> None:
    prefix = base.case()
    path = prefix.with_suffix(which)
    path.write_text(text)
    assert "empty" in user_error(lambda: open_plink(prefix), path)


@CASES
@given(row=st.integers(0, N_VARIANTS - 1), duplicate=st.booleans())
def test_bim_line_deleted_or_duplicated_is_a_size_error(base: Base, row: int, duplicate: bool) -> None:
    lines = list(base.bim_lines)
    if duplicate:
        lines.insert(row, lines[row])
    else:
        del lines[row]
    prefix = base.case()
    write_lines(prefix.with_suffix(".bim"), lines)
    message = user_error(lambda: open_plink(prefix), prefix.with_suffix(".bed"))
    assert "x.bim" in message


@CASES
@given(row=st.integers(0, N_VARIANTS - 1), a1=FIELD, a2=FIELD)
def test_weird_alleles_are_read_verbatim(base: Base, row: int, a1: str, a2: str) -> None:
    """Any allele text (quotes, '0', symbolic alleles, non-ASCII) is kept exactly; genotypes unchanged."""
    lines = list(base.bim_lines)
    fields = lines[row].split("\t")
    fields[4:6] = [a1, a2]
    lines[row] = "\t".join(fields)
    prefix = base.case()
    write_lines(prefix.with_suffix(".bim"), lines)
    fileset = open_plink(prefix)
    expected = [["A", "G"]] * N_VARIANTS
    expected[row] = [a1, a2]
    assert fileset.variants[["a1", "a2"]].to_numpy().tolist() == expected
    np.testing.assert_array_equal(fileset.read(), base.genotypes)


@CASES
@given(rows=st.lists(st.integers(0, N_SAMPLES - 1), min_size=2, max_size=2, unique=True), same_fid=st.booleans())
def test_duplicate_fam_ids(base: Base, rows: list[int], same_fid: bool) -> None:
    """A repeated (FID, IID) is an error naming both lines; a repeated IID in another family is a new sample."""
    first, second = sorted(rows)
    lines = list(base.fam_lines)
    fields = lines[second].split("\t")
    fields[1] = lines[first].split("\t")[1]
    if same_fid:
        fields[0] = lines[first].split("\t")[0]
    lines[second] = "\t".join(fields)
    prefix = base.case()
    fam = prefix.with_suffix(".fam")
    write_lines(fam, lines)
    if same_fid:
        message = user_error(lambda: open_plink(prefix), fam)
        assert f"lines {first + 1} and {second + 1}" in message
    else:
        fileset = open_plink(prefix)
        iids = fileset.samples["iid"].tolist()
        assert iids[second] == iids[first] == f"I{first}"
        np.testing.assert_array_equal(fileset.read(), base.genotypes)


@CASES
@given(change=st.integers(-N_SAMPLES + 1, 8).filter(lambda k: (N_SAMPLES + k + 3) // 4 != BYTES_PER_VARIANT))
def test_fam_line_count_mismatch_is_a_size_error(base: Base, change: int) -> None:
    lines = list(base.fam_lines)
    if change < 0:
        lines = lines[:change]
    else:
        lines += [f"G{i}\tJ{i}\t0\t0\t1\t-9" for i in range(change)]
    prefix = base.case()
    write_lines(prefix.with_suffix(".fam"), lines)
    message = user_error(lambda: open_plink(prefix), prefix.with_suffix(".bed"))
    assert "x.fam" in message


@CASES
@given(garbage=st.binary(min_size=1, max_size=200), which=st.sampled_from([".bim", ".fam"]))
def test_byte_garbage_bim_or_fam_is_an_error(base: Base, garbage: bytes, which: str) -> None:
    prefix = base.case()
    path = prefix.with_suffix(which)
    path.write_bytes(garbage)
    # Garbage that happens to be a well-formed one-line table still misfits the .bed size.
    with pytest.raises(GenoptError) as info:
        open_plink(prefix)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message, message
    assert path.name in message or "x.bed" in message, message


# --------------------------------------------------------------------------- phenotype and covariate tables


def table_path(prefix: Path, kind: str) -> Path:
    return prefix.with_name("pheno.tsv" if kind == "phenotype" else "covar.tsv")


def read_table(kind: str, path: Path) -> Any:
    return read_phenotype(path) if kind == "phenotype" else read_covariates(path)


KINDS = st.sampled_from(["phenotype", "covariate"])


def base_lines(base: Base, kind: str) -> list[str]:
    return list(base.pheno_lines if kind == "phenotype" else base.covar_lines)


@CASES
@given(kind=KINDS)
def test_table_without_header_is_an_error(base: Base, kind: str) -> None:
    prefix = base.case()
    path = table_path(prefix, kind)
    write_lines(path, base_lines(base, kind)[1:])
    user_error(lambda: read_table(kind, path), path, 1)


@CASES
@given(kind=KINDS, text=st.sampled_from(["", "\n", "\n \n\t\n"]))
def test_empty_table_is_an_error(base: Base, kind: str, text: str) -> None:
    prefix = base.case()
    path = table_path(prefix, kind)
    path.write_text(text)
    user_error(lambda: read_table(kind, path), path)


@CASES
@given(kind=KINDS, garbage=st.binary(min_size=1, max_size=200))
def test_byte_garbage_table_is_an_error(base: Base, kind: str, garbage: bytes) -> None:
    assume(not garbage.lstrip().startswith((b"FID", b"#FID")))
    prefix = base.case()
    path = table_path(prefix, kind)
    path.write_bytes(garbage)
    user_error(lambda: read_table(kind, path), path)


@CASES
@given(kind=KINDS, rows=st.lists(st.integers(1, N_SAMPLES), min_size=2, max_size=2, unique=True))
def test_duplicate_table_ids_are_an_error_naming_both_lines(base: Base, kind: str, rows: list[int]) -> None:
    first, second = sorted(rows)
    lines = base_lines(base, kind)
    fields = lines[second].split("\t")
    fields[:2] = lines[first].split("\t")[:2]
    lines[second] = "\t".join(fields)
    prefix = base.case()
    path = table_path(prefix, kind)
    write_lines(path, lines)
    message = user_error(lambda: read_table(kind, path), path)
    assert f"lines {first + 1} and {second + 1}" in message


@CASES
@given(row=st.integers(1, N_SAMPLES), value=FIELD.filter(lambda t: t not in ("NA", "nan", "NaN")))
def test_non_numeric_value_is_an_error_naming_the_line(base: Base, row: int, value: str) -> None:
    """A phenotype, or a numeric covariate, holding text that is not a number."""
    try:
        float(value)
    except ValueError:
        pass
    else:
        assume(False)  # a number (e.g. '1e0', 'inf'): not this case
    for kind, column in (("phenotype", 2), ("covariate", 2)):
        lines = base_lines(base, kind)
        fields = lines[row].split("\t")
        fields[column] = value
        lines[row] = "\t".join(fields)
        prefix = base.case()
        path = table_path(prefix, kind)
        write_lines(path, lines)
        user_error(lambda kind=kind, path=path: read_table(kind, path), path, row + 1)  # type: ignore[misc]


@CASES
@given(row=st.integers(1, N_SAMPLES), value=st.floats(allow_nan=False).filter(lambda x: x not in (-9, 0, 1, 2)))
def test_third_outcome_value_is_an_error(base: Base, row: int, value: float) -> None:
    lines = base_lines(base, "phenotype")
    fields = lines[row].split("\t")
    fields[2] = repr(value)
    lines[row] = "\t".join(fields)
    prefix = base.case()
    path = table_path(prefix, "phenotype")
    write_lines(path, lines)
    user_error(lambda: read_phenotype(path), path, row + 1)


@CASES
@given(row=st.integers(1, N_SAMPLES))
def test_a_two_in_a_zero_one_column_switches_to_plink_coding_and_says_so(base: Base, row: int) -> None:
    """{0, 1, 2} is PLINK 1/2 coding with 0 missing (documented auto-detection), not a silent 0/1 read."""
    lines = base_lines(base, "phenotype")
    fields = lines[row].split("\t")
    fields[2] = "2"
    lines[row] = "\t".join(fields)
    prefix = base.case()
    path = table_path(prefix, "phenotype")
    write_lines(path, lines)
    pheno = read_phenotype(path)
    raw = np.array([line.split("\t")[2] for line in lines[1:]])
    expected = np.select([raw == "1", raw == "2"], [0.0, 1.0], np.nan)
    assert pheno.coding == "12" and pheno.detected and "coding 12 (detected" in pheno.describe()
    np.testing.assert_array_equal(pheno.values.to_numpy(), expected)


@CASES
@given(kind=KINDS, token=st.sampled_from(["NA", "nan", "NaN"]))
def test_all_missing_column_is_an_error(base: Base, kind: str, token: str) -> None:
    lines = base_lines(base, kind)
    for row in range(1, len(lines)):
        fields = lines[row].split("\t")
        fields[2] = token
        lines[row] = "\t".join(fields)
    prefix = base.case()
    path = table_path(prefix, kind)
    write_lines(path, lines)
    if kind == "phenotype":
        user_error(lambda: read_phenotype(path), path)
    else:  # readable, but no sample keeps complete covariates
        pheno = prefix.with_name("pheno.tsv")
        user_error(lambda: Cohort.from_files(prefix, pheno, covar=path), path)


def with_unknown_ids(base: Base, kind: str, rows: list[int]) -> tuple[Path, Path]:
    """A case whose ``kind`` table ("phenotype" or "covariate") has IIDs absent from the .fam on ``rows``."""
    lines = base_lines(base, kind)
    for row in rows:
        lines[row] = lines[row].replace("\tI", "\tUNKNOWN", 1)
    prefix = base.case()
    path = table_path(prefix, kind)
    write_lines(path, lines)
    return prefix, path


@CASES
@given(rows=st.lists(st.integers(1, N_SAMPLES), min_size=1, max_size=N_SAMPLES - 1, unique=True), allow=st.booleans())
def test_unknown_phenotype_ids(base: Base, rows: list[int], allow: bool) -> None:
    """IDs not in the .fam: an error naming the phenotype file, or (allowed) counted and dropped exactly."""
    prefix, path = with_unknown_ids(base, "phenotype", rows)
    if not allow:
        user_error(lambda: Cohort.from_files(prefix, path), path)
        return
    cohort = Cohort.from_files(prefix, path, allow_ungenotyped=True)
    kept = np.setdiff1d(np.arange(N_SAMPLES), np.array(rows) - 1)
    np.testing.assert_array_equal(cohort.sample_idx, kept)
    np.testing.assert_array_equal(cohort.y, kept % 2)
    assert cohort.dropped == {"no phenotype": len(rows), "missing covariate": 0, "not genotyped": len(rows)}
    np.testing.assert_array_equal(cohort.genotypes(), base.genotypes[kept])


@CASES
@given(rows=st.lists(st.integers(1, N_SAMPLES), min_size=1, max_size=N_SAMPLES - 1, unique=True))
def test_unknown_covariate_ids_drop_exactly_those_samples(base: Base, rows: list[int]) -> None:
    prefix, path = with_unknown_ids(base, "covariate", rows)
    cohort = Cohort.from_files(prefix, prefix.with_name("pheno.tsv"), covar=path)
    kept = np.setdiff1d(np.arange(N_SAMPLES), np.array(rows) - 1)
    np.testing.assert_array_equal(cohort.sample_idx, kept)
    assert cohort.dropped == {"no phenotype": 0, "missing covariate": len(rows), "not genotyped": len(rows)}
    np.testing.assert_array_equal(cohort.covariates["age"].to_numpy(), 20.0 + kept)
    np.testing.assert_array_equal(cohort.covariates["site=b"].to_numpy(), kept % 2)


@CASES
@given(levels=st.lists(FIELD.filter(lambda t: t not in ("NA", "nan", "NaN")), min_size=N_SAMPLES, max_size=N_SAMPLES))
def test_text_covariate_is_one_hot_encoded_exactly(base: Base, levels: list[str]) -> None:
    """A column of arbitrary text (none of it a number) becomes exact 0/1 level indicators."""
    assume(not any(pd.to_numeric(pd.Series(levels), errors="coerce").notna()))
    lines = base_lines(base, "covariate")
    for row in range(1, len(lines)):
        fields = lines[row].split("\t")
        fields[3] = levels[row - 1]
        lines[row] = "\t".join(fields)
    prefix = base.case()
    path = table_path(prefix, "covariate")
    write_lines(path, lines)
    cov = read_covariates(path)
    (site,) = [e for e in cov.encoding if e.column == "site"]
    assert site.kind == "categorical" and set(site.levels) == set(levels)
    for level in site.levels[1:]:
        np.testing.assert_array_equal(cov.frame[f"site={level}"].to_numpy(), [float(x == level) for x in levels])


# --------------------------------------------------------------------------- TOML configs

SECTIONS = ["", "discovery", "qc", "search"]
KEY = st.from_regex(r"[a-z][a-z_]{0,11}", fullmatch=True)


def config_with(base: Base, section: str, line: str) -> Path:
    """The base config with ``line`` added at the top level or to ``[section]``."""
    prefix = base.case()
    path = prefix.with_name("run.toml")
    text = base.config_text
    if section:
        text = text.replace(f"[{section}]\n", f"[{section}]\n{line}\n", 1)
    else:
        text = line + "\n" + text
    path.write_text(text)
    return path


@CASES
@given(section=st.sampled_from(SECTIONS), key=KEY)
def test_unknown_config_key_is_an_error(base: Base, section: str, key: str) -> None:
    known = {"": RunConfig(), "discovery": RunConfig().discovery, "qc": RunConfig().qc}
    from genopt.config import SearchConfig

    known["search"] = SearchConfig()
    assume(not hasattr(known[section], key) and f"\n{key} =" not in base.config_text)
    path = config_with(base, section, f"{key} = 1")
    message = user_error(lambda: load_config(RunConfig, path), path)
    assert repr(f"{section}.{key}" if section else key) in message


WRONG_TYPES = [
    ("", 'seed = "3"'),
    ("", "seed = 1.5"),
    ("", "seed = true"),
    ("", "heldout = 5"),
    ("", "heldout = [1, 2]"),
    ("", "truth = 5"),
    ("qc", "maf = [0.1]"),
    ("qc", 'maf = "0.1"'),
    ("qc", "maf = true"),
    ("qc", "hwe_midp = 1"),
    ("search", 'budget = "10"'),
    ("search", "population = 4.0"),
    ("search", "folds = [5]"),
    ("search", "engine = 3"),
    ("discovery", "covar_names = 5"),
    ("discovery", "covar_names = [1]"),
    ("discovery", 'allow_ungenotyped = "yes"'),
    ("discovery", "pheno_name = 1979-05-27"),
]


@CASES
@given(case=st.sampled_from(WRONG_TYPES))
def test_wrong_config_type_is_an_error(base: Base, case: tuple[str, str]) -> None:
    section, line = case
    text = base.config_text
    key = line.split(" = ")[0]
    # Replace an existing key instead of repeating it (a repeat is a TOML error, not a type error).
    text = re.sub(rf"(?m)^{key} = .*\n", "", text) if f"\n{key} =" in text else text
    path = config_with(Base(base.root, base.genotypes, [], [], [], [], text), section, line)
    message = user_error(lambda: load_config(RunConfig, path), path)
    assert "invalid TOML" not in message


SYNTAX_ERRORS = [
    "seed = ",
    "[qc",
    "= 3",
    "seed = 3\nseed = 4",
    'out = "unterminated',
    "[[discovery]]",
    "x = [1,",
    "a.b = 1\na = 2",
]


@CASES
@given(bad=st.sampled_from(SYNTAX_ERRORS), section=st.sampled_from(SECTIONS))
def test_invalid_toml_is_an_error(base: Base, bad: str, section: str) -> None:
    path = config_with(base, section, bad)
    assert "invalid TOML" in user_error(lambda: load_config(RunConfig, path), path)


OUT_OF_RANGE = st.one_of(
    st.tuples(
        st.just("qc"), st.just("maf"), st.floats(0.5, 1e6, exclude_min=True) | st.floats(-1e6, 0, exclude_max=True)
    ),
    st.tuples(st.just("qc"), st.sampled_from(["geno", "mind"]), st.floats(1, 1e6, exclude_min=True)),
    st.tuples(st.just("qc"), st.just("hwe"), st.floats(-1e6, 0) | st.floats(1, 1e6, exclude_min=True)),
    st.tuples(st.just("qc"), st.just("maf"), st.just(float("nan"))),
    st.tuples(st.just("search"), st.just("budget"), st.integers(-(10**6), 0)),
    st.tuples(st.just("search"), st.just("population"), st.integers(-(10**6), 1)),
    st.tuples(st.just("search"), st.just("validation_fraction"), st.floats(1, 1e3) | st.floats(-1e3, 0)),
)


@CASES
@given(case=OUT_OF_RANGE)
def test_out_of_range_config_value_is_an_error(base: Base, case: tuple[str, str, float]) -> None:
    section, key, value = case
    literal = "nan" if value != value else repr(value)
    text = re.sub(rf"(?m)^{key} = .*\n", "", base.config_text)
    path = config_with(Base(base.root, base.genotypes, [], [], [], [], text), section, f"{key} = {literal}")
    message = user_error(lambda: load_config(RunConfig, path), path)
    assert key in message


def test_non_utf8_config_is_an_error(base: Base) -> None:
    path = config_with(base, "", "# caf\xe9")
    path.write_bytes(path.read_bytes().replace("\xe9".encode(), b"\xe9"))
    assert "not a UTF-8 text file" in user_error(lambda: load_config(RunConfig, path), path)


# --------------------------------------------------------------------------- the CLI


def cli_error(capsys: pytest.CaptureFixture[str], argv: list[str], path: Path) -> None:
    """``genopt argv`` exits 1 with one stderr line naming ``path``."""
    capsys.readouterr()
    assert main(["-q", *argv]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("genopt: error: ") and path.name in err[0], err


def test_cli_corrupted_bim_exits_1_with_one_line(base: Base, capsys: pytest.CaptureFixture[str]) -> None:
    prefix = base.case()
    bim = prefix.with_suffix(".bim")
    write_lines(bim, [*base.bim_lines[:3], "1\trs_bad\t0\tnot_a_position\tA\tG", *base.bim_lines[4:]])
    out = prefix.with_name("qc_out")
    cli_error(capsys, ["qc", "--bfile", str(prefix), "--out", str(out)], bim)
    assert not out.exists() or not any(out.iterdir())  # nothing half-written
    config = prefix.with_name("run.toml")  # a whole run on the same fileset
    cli_error(capsys, ["run", str(config)], bim)
    assert not (config.parent / "out").exists() or not any((config.parent / "out").iterdir())


def test_cli_bad_toml_exits_1_with_one_line(base: Base, capsys: pytest.CaptureFixture[str]) -> None:
    for section, line in [("qc", "maf = 0.7"), ("search", "budget = 0"), ("", "seed = "), ("qc", "colour = 1")]:
        path = config_with(base, section, line)
        cli_error(capsys, ["run", str(path)], path)
        assert not (path.parent / "out").exists()


# --------------------------------------------------------------------------- population labels


@CASES
@given(
    content=st.binary(max_size=120)
    | st.sampled_from(
        [
            b"",
            b"\n\n",
            b"IID population\na b c\n",
            b"IID population\nonly_one\n",
            b"IID IID population\n",
            b'IID Population\n"a b\n\nc\tNA\n',
        ]
    )
)
def test_bad_population_label_file_is_an_error_or_read_verbatim(base: Base, content: bytes) -> None:
    """Garbage, empty, ragged or duplicate-header label tables: an error, or fields exactly as in the file."""
    path = base.case().with_name("labels.txt")
    path.write_bytes(content)
    try:
        labels = read_population_labels(path)
    except GenoptError as exc:
        message = str(exc)
        assert "\n" not in message and "\r" not in message and path.name in message, message
        return
    lines = re.split(r"\r\n|\r|\n", content.decode())
    rows = [re.split(r"[ \t]+", line.strip(" \t")) for line in lines if line.strip(" \t")]
    header = [name.lower() for name in rows[0]]
    got = labels[["IID", "population"]].to_numpy().tolist()
    assert got == [[row[header.index("iid")], row[header.index("population")]] for row in rows[1:]]
