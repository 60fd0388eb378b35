"""The cluster workflow (workflows/Snakefile) calls genopt with flags genopt accepts, and its settings load."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from genopt.cli import build_parser
from genopt.config import RunConfig, load_config

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"


def _shell(rule: str) -> str:
    """The concatenated shell string of ``rule`` in the Snakefile."""
    text = (WORKFLOWS / "Snakefile").read_text()
    block = text.split(f"rule {rule}:", 1)[1].split("\nrule ", 1)[0]
    body = block.split("shell:", 1)[1]
    return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', body))


def _fill(template: str, values: dict[str, str]) -> list[str]:
    for key, value in values.items():
        template = template.replace("{" + key + "}", value)
    assert "{" not in template, f"unfilled placeholder in {template!r}"
    return shlex.split(template)


def test_snakefile_commands_parse_with_genopt_cli() -> None:
    values = {
        "DISCOVERY[bfile]": "data/discovery",
        "DISCOVERY[pheno]": "data/discovery.pheno.tsv",
        "DISCOVERY[covar]": "data/discovery.covar.tsv",
        "wildcards.trait": "cooperate",
        "wildcards.seed": "3",
        "params.settings": "workflows/search.toml",
        "params.out": "runs/many/cooperate/seed3",
        "params.run": "runs/many/cooperate/seed3",
        "params.cohorts": "--bfile data/heldout_a --name heldout_a --pheno data/heldout_a.pheno.tsv "
        "--covar data/heldout_a.covar.tsv --bfile data/heldout_b --name heldout_b",
        "threads": "1",
    }
    parser = build_parser()
    search = _fill(_shell("search"), values)
    assert search[0] == "genopt"
    args = parser.parse_args(search[1:])
    assert args.command == "search" and args.seed == 3 and args.resume and args.jobs == 1
    replicate = parser.parse_args(_fill(_shell("replicate"), values)[1:])
    assert replicate.command == "replicate" and replicate.name == ["heldout_a", "heldout_b"]


def test_workflow_settings_load() -> None:
    config = load_config(RunConfig, WORKFLOWS / "search.toml")
    assert config.search is not None and config.search.budget == 2000 and config.qc.hwe is None
