"""Config dataclasses: TOML round trip, unknown keys and bad types are errors naming the key and file."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from genopt.config import QCConfig, RunConfig, dump_config, from_dict, load_config
from genopt.errors import GenoptError


def test_round_trip_preserves_every_field() -> None:
    config = RunConfig(seed=7, qc=QCConfig(maf=0.05, hwe=None))
    text = dump_config(config)
    again = from_dict(RunConfig, tomllib.loads(text))
    assert again.seed == 7
    assert again.qc.maf == 0.05
    assert again.qc.hwe is None
    assert again == config


def test_nested_cohorts_parse(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text(
        'out = "r"\n[discovery]\nname = "d"\nbfile = "x"\ncovar_names = ["sex", "age"]\n'
        '[[heldout]]\nname = "a"\nbfile = "y"\n[[heldout]]\nname = "b"\nbfile = "z"\n'
    )
    config = load_config(RunConfig, path)
    assert config.discovery.covar_names == ("sex", "age")
    assert [c.name for c in config.heldout] == ["a", "b"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[qc]\nmaff = 0.1\n", "unknown key 'qc.maff'"),
        ('[qc]\nmaf = "high"\n', "key 'qc.maf' must be float"),
        ("seed = 1.5\n", "key 'seed' must be int"),
        ("[pca.prune]\nwindow = true\n", "key 'pca.prune.window' must be int"),
        ("nonsense = [\n", "invalid TOML"),
    ],
)
def test_bad_configs_name_the_key_and_file(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(GenoptError) as info:
        load_config(RunConfig, path)
    assert needle in str(info.value)
    assert str(path) in str(info.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(GenoptError, match="config file not found"):
        load_config(RunConfig, tmp_path / "absent.toml")


def test_switched_off_filter_survives_round_trip(tmp_path: Path) -> None:
    config = RunConfig(qc=QCConfig(hwe=None, maf=0.02))
    path = tmp_path / "c.toml"
    path.write_text(dump_config(config))
    assert 'hwe = "off"' in path.read_text()
    again = load_config(RunConfig, path)
    assert again.qc.hwe is None and again.qc.maf == 0.02
    assert again == config
