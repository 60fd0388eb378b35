"""The CLI: one-line errors and exit codes for user mistakes, outputs for good input."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from genopt import __version__
from genopt.cli import EXIT_USER, main
from genopt.io.plink import open_plink, write_plink


def _copy_fileset(src: Path, dst: Path) -> Path:
    for ext in (".bed", ".bim", ".fam"):
        shutil.copy(str(src) + ext, str(dst) + ext)
    return dst


@pytest.fixture
def small_fileset(tmp_path: Path, hm3_prefix: Path) -> Path:
    """The first 300 hm3 samples x 2,000 variants, written by genopt."""
    fs = open_plink(hm3_prefix)
    out = tmp_path / "small"
    write_plink(
        out, fs.read(variants=slice(0, 2000), samples=slice(0, 300)), fs.variants.iloc[:2000], fs.samples.iloc[:300]
    )
    return out


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "genopt.cli", *args], capture_output=True, text=True, timeout=300)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_usage_error_is_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["qc", "--out", "x"])
    assert info.value.code == EXIT_USER
    assert "--bfile" in capsys.readouterr().err


def test_help_lists_defaults() -> None:
    proc = _run_cli("qc", "--help")
    assert proc.returncode == 0
    assert "--maf" in proc.stdout and "default 0.01" in proc.stdout


def _corrupt_truncated(prefix: Path) -> str:
    bed = Path(str(prefix) + ".bed")
    bed.write_bytes(bed.read_bytes()[:-7])
    return "truncated"


def _corrupt_magic(prefix: Path) -> str:
    bed = Path(str(prefix) + ".bed")
    data = bytearray(bed.read_bytes())
    data[0] = 0x00
    bed.write_bytes(bytes(data))
    return "magic bytes 00 1b"


def _corrupt_bim_count(prefix: Path) -> str:
    bim = Path(str(prefix) + ".bim")
    bim.write_text("".join(bim.read_text().splitlines(keepends=True)[:-3]))
    return "does not fit small.bim"


def _corrupt_fam_count(prefix: Path) -> str:
    fam = Path(str(prefix) + ".fam")
    lines = fam.read_text().splitlines(keepends=True)
    fam.write_text("".join(lines + [f"extra{i} extra{i} 0 0 1 -9\n" for i in range(4)]))
    return "does not fit small.bim"


def _corrupt_duplicate_ids(prefix: Path) -> str:
    fam = Path(str(prefix) + ".fam")
    lines = fam.read_text().splitlines(keepends=True)
    lines[5] = lines[2]
    fam.write_text("".join(lines))
    first = lines[2].split()
    return f"duplicate sample ID FID={first[0]} IID={first[1]}"


def _corrupt_empty(prefix: Path) -> str:
    for ext in (".bed", ".bim", ".fam"):
        Path(str(prefix) + ext).write_bytes(b"" if ext != ".bed" else bytes([0x6C, 0x1B, 0x01]))
    return "empty"


@pytest.mark.parametrize(
    "corrupt",
    [
        _corrupt_truncated,
        _corrupt_magic,
        _corrupt_bim_count,
        _corrupt_fam_count,
        _corrupt_duplicate_ids,
        _corrupt_empty,
    ],
)
def test_bad_fileset_gives_one_line_error_and_no_output(small_fileset: Path, tmp_path: Path, corrupt) -> None:  # type: ignore[no-untyped-def]
    needle = corrupt(small_fileset)
    out = tmp_path / "qc_out"
    proc = _run_cli("qc", "--bfile", str(small_fileset), "--out", str(out))
    assert proc.returncode == EXIT_USER, proc.stderr
    err = proc.stderr.strip()
    assert "\n" not in err and "Traceback" not in err
    assert needle in err
    assert "small." in err  # names the file
    assert not out.exists() or not any(out.iterdir())


def test_missing_fileset(tmp_path: Path) -> None:
    proc = _run_cli("qc", "--bfile", str(tmp_path / "absent"), "--out", str(tmp_path / "o"))
    assert proc.returncode == EXIT_USER
    assert "absent.bim" in proc.stderr and "not found" in proc.stderr


REPO = Path(__file__).resolve().parent.parent


def _write_run_config(tmp_path: Path, pheno: Path, covar: Path) -> Path:
    data = REPO / "data"
    path = tmp_path / "run.toml"
    path.write_text(
        f'out = "{tmp_path / "run"}"\n[discovery]\nname = "d"\nbfile = "{data / "heldout_a"}"\n'
        f'pheno = "{pheno}"\ncovar = "{covar}"\n'
    )
    return path


def _edit_table(src: Path, dst: Path, line: int, column: int, value: str) -> Path:
    lines = src.read_text().splitlines()
    fields = lines[line - 1].split("\t")
    fields[column] = value
    lines[line - 1] = "\t".join(fields)
    dst.write_text("\n".join(lines) + "\n")
    return dst


@pytest.mark.parametrize(
    ("table", "line", "column", "value", "needles"),
    [
        ("pheno", 7, 2, "3", ["pheno.tsv, line 7", "'3'"]),
        ("covar", 12, 3, "forty", ["covar.tsv, line 12", "'forty'", "age"]),
        ("pheno", 9, 1, "NOBODY", ["pheno.tsv", "not in", "NOBODY"]),
        ("pheno", 9, 1, "A5", ["pheno.tsv", "A5"]),  # a duplicate ID (A5 is on line 6)
    ],
)
def test_bad_tables_through_run(
    tmp_path: Path, table: str, line: int, column: int, value: str, needles: list[str]
) -> None:
    data = REPO / "data"
    pheno, covar = data / "heldout_a.pheno.tsv", data / "heldout_a.covar.tsv"
    if table == "pheno":
        pheno = _edit_table(pheno, tmp_path / "bad.pheno.tsv", line, column, value)
        if column == 1:  # keep FID = IID so only the IID is at fault
            pheno = _edit_table(pheno, pheno, line, 0, value)
    else:
        covar = _edit_table(covar, tmp_path / "bad.covar.tsv", line, column, value)
    proc = _run_cli("run", str(_write_run_config(tmp_path, pheno, covar)))
    assert proc.returncode == EXIT_USER, proc.stderr
    err = proc.stderr.strip().splitlines()[-1]
    assert err.startswith("genopt: error:") and "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in err
    assert not (tmp_path / "run" / "summary.json").exists()
