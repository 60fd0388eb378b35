"""Manhattan and QQ plots: valid PNGs, written atomically, fast with many points."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import FIXTURES

from genopt.assoc.plots import manhattan_plot, qq_plot
from genopt.errors import GenoptError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert data[12:16] == b"IHDR"
    w, h = struct.unpack(">II", data[16:24])
    assert data.rstrip(b"\x00")[-8:-4] == b"IEND"
    return w, h


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    a = pd.read_csv(FIXTURES / "clump" / "discovery.glm.assoc.gz", sep="\t")
    return pd.DataFrame(
        {
            "chromosome": a["CHR"],
            "base_pair_location": a["BP"],
            "p_value": a["P"],
            "rsid": a["SNP"],
            "variant_index": np.arange(len(a)),
        }
    )


def test_manhattan_png(table, tmp_path):
    out = manhattan_plot(table, tmp_path / "m.png", highlight=[*table["rsid"][:5], 100, 200], title="t")
    w, h = png_size(out)
    assert (w, h) == (1440, 540)  # 12 x 4.5 in at 120 dpi
    assert out.stat().st_size > 20_000
    assert [p.name for p in tmp_path.iterdir()] == ["m.png"]  # no temporary left behind


def test_qq_png_and_lambda(table, tmp_path):
    out = qq_plot(table, tmp_path / "q.png")
    assert png_size(out) == (660, 660)
    assert out.stat().st_size > 10_000
    out2 = qq_plot(table["p_value"].to_numpy(), tmp_path / "q2.png", lambda_gc=1.0)
    assert png_size(out2) == (660, 660)


def test_many_points_are_quick(tmp_path):
    rng = np.random.default_rng(0)
    n = 200_000
    chrom = np.repeat(np.arange(1, 23), n // 22 + 1)[:n]
    t = pd.DataFrame(
        {
            "chromosome": chrom.astype(str),
            "base_pair_location": rng.integers(1, 2e8, size=n),
            "p_value": rng.uniform(size=n),
        }
    )
    t.loc[:5, "p_value"] = [0.0, 1e-320, 1e-60, 1e-9, np.nan, 1.0]  # zero, subnormal, missing
    manhattan_plot(t, tmp_path / "m.png")
    qq_plot(t, tmp_path / "q.png")
    assert png_size(tmp_path / "m.png")[0] == 1440


def test_bad_p_raises_and_writes_nothing(table, tmp_path):
    bad = table.assign(p_value=table["p_value"].where(table.index != 7, 2.0))
    with pytest.raises(GenoptError, match=str(table["rsid"][7])):
        manhattan_plot(bad, tmp_path / "m.png")
    with pytest.raises(GenoptError, match="outside"):
        qq_plot(bad, tmp_path / "q.png")
    with pytest.raises(GenoptError, match="no p-values"):
        qq_plot(np.array([np.nan]), tmp_path / "q.png")
    with pytest.raises(GenoptError, match="chromosome"):
        manhattan_plot(table.drop(columns="chromosome"), tmp_path / "m.png")
    assert list(tmp_path.iterdir()) == []
