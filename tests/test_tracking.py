"""MLflow logging of a finished run, read back with a real MLflow client (no mocks)."""

from __future__ import annotations

import json
import sys
from dataclasses import replace

import pandas as pd
import pytest
from test_search_pipeline import SMALL, SPEC

from genopt.config import MLflowConfig, RunConfig, dump_config, load_config
from genopt.errors import GenoptError
from genopt.pipeline import search_discovery
from genopt.tracking import HISTORY_METRICS, default_tracking_uri, log_run

mlflow = pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny search logged through the ``[mlflow]`` option, to a file store in tmp."""
    root = tmp_path_factory.mktemp("tracking")
    uri = (root / "store").as_uri()
    config = replace(SMALL, mlflow=MLflowConfig(tracking_uri=uri, experiment="test-exp", run_name="tiny"))
    summary, _ = search_discovery(SPEC, config, root / "run")
    return root / "run", uri, summary


def _artifacts(client: MlflowClient, run_id: str, path: str | None = None) -> set[str]:
    out = set()
    for item in client.list_artifacts(run_id, path):
        out |= _artifacts(client, run_id, item.path) if item.is_dir else {item.path}
    return out


def test_params_metrics_history_and_artifacts_read_back(run, monkeypatch) -> None:
    run_dir, uri, summary = run
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient(tracking_uri=uri)
    logged = client.get_run(summary["mlflow_run_id"])
    assert logged.info.status == "FINISHED"
    assert logged.info.run_name == "tiny"
    assert client.get_experiment(logged.info.experiment_id).name == "test-exp"
    params = logged.data.params
    assert params["seed"] == "5"
    assert params["search.budget"] == "40"
    assert params["pool.assoc.exact_top"] == "10"
    assert params["qc.hwe"] == "off"  # a switched-off filter, as the config writes it
    assert params["search.families"] == '["ridge"]'
    assert params["mlflow.experiment"] == "test-exp"
    search = json.loads((run_dir / "search_summary.json").read_text())
    assert logged.data.metrics["search.validation_auc"] == pytest.approx(search["validation_auc"]["value"])
    assert logged.data.metrics["search.n_evaluations"] == search["n_evaluations"]["value"]
    assert logged.data.tags["genopt.version"] == json.loads((run_dir / "manifest.json").read_text())["genopt_version"]
    history = pd.read_csv(run_dir / "history.tsv", sep="\t")
    for col in HISTORY_METRICS:
        points = client.get_metric_history(logged.info.run_id, f"search.history.{col}")
        assert len(points) == len(history)
        assert [p.step for p in sorted(points, key=lambda p: p.step)] == history["generation"].tolist()
        assert [p.value for p in sorted(points, key=lambda p: p.step)] == pytest.approx(history[col].to_numpy())
    files = _artifacts(client, logged.info.run_id)
    assert {"model.json", "score.tsv", "variants.tsv", "pareto.tsv", "history.tsv", "report.html"} <= files
    assert "how.json" in files
    how = mlflow.artifacts.load_dict(f"{logged.info.artifact_uri}/how.json")
    assert how["search.validation_auc"] == search["validation_auc"]["how"]


def test_replication_metrics_and_verdicts_and_default_store(run, monkeypatch) -> None:
    run_dir, _, _ = run
    rep = run_dir / "replication" / "cohort_x"
    rep.mkdir(parents=True)
    numbers = {"auc": 0.61, "score_or_per_sd": 1.4, "score_p": 0.003}
    rep_how = {"auc": "ROC AUC of the score"}
    (rep / "summary.json").write_text(json.dumps({**numbers, "verdict": "replicated", "how": rep_how}))
    (rep / "variants.tsv").write_text("ID\tBETA\nrs1\t0.1\n")
    run_id = log_run(run_dir, MLflowConfig())  # default: RUN_DIR/mlruns, run named after the directory
    assert (run_dir / "mlruns").is_dir()
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient(tracking_uri=default_tracking_uri(run_dir))
    logged = client.get_run(run_id)
    assert logged.info.run_name == run_dir.name
    for key, value in numbers.items():
        assert logged.data.metrics[f"replication.cohort_x.{key}"] == pytest.approx(value)
    assert logged.data.tags["verdict.cohort_x"] == "replicated"
    assert {"replication/cohort_x/summary.json", "replication/cohort_x/variants.tsv"} <= _artifacts(client, run_id)
    how = mlflow.artifacts.load_dict(f"{logged.info.artifact_uri}/how.json")
    assert how["replication.cohort_x.auc"] == "ROC AUC of the score"


def test_config_section_round_trips(tmp_path) -> None:
    config = replace(RunConfig(), mlflow=MLflowConfig(tracking_uri="sqlite:///x.db", experiment="e"))
    path = tmp_path / "c.toml"
    path.write_text(dump_config(config))
    assert load_config(RunConfig, path).mlflow == config.mlflow
    path.write_text('[mlflow]\nexperimnt = "e"\n')
    with pytest.raises(GenoptError, match=r"mlflow\.experimnt"):
        load_config(RunConfig, path)


def test_user_errors(tmp_path, monkeypatch) -> None:
    with pytest.raises(GenoptError, match="finished genopt run directory") as err:
        log_run(tmp_path, MLflowConfig())
    assert err.value.path is not None and str(err.value.path).endswith("manifest.json")
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)  # as if mlflow were not installed
    with pytest.raises(GenoptError, match="mlflow extra"):
        log_run(tmp_path, MLflowConfig())
