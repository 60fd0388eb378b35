"""Log a finished run directory to MLflow (the optional ``mlflow`` extra).

:func:`log_run` reads only the files a run wrote, so any finished run can be
logged afterwards as well as at the end of ``genopt run`` / ``genopt search``
(``[mlflow]`` in the config). What is logged:

* params: the resolved config from ``manifest.json``, flattened to dotted keys
  (``pool.assoc.n_pcs``; lists as JSON text; switched-off settings as ``"off"``),
  and ``seed``;
* metrics: every numeric value of ``search_summary.json`` as ``search.KEY``
  (nested tables as ``search.KEY.SUB``), step timings as ``timing.STEP``
  (seconds), the per-generation search history of ``history.tsv`` (step =
  generation), and ``replication.COHORT.{auc,score_or_per_sd,score_p}`` from
  ``replication/COHORT/summary.json``; how each metric was computed is logged as
  the artifact ``how.json`` (metric name -> text);
* tags: ``genopt.version``, package versions, host, start/finish times, the
  inputs' sha256, and ``verdict.COHORT`` per held-out cohort;
* artifacts: the run's model, score, variant, Pareto and history tables,
  ``report.html``, ``manifest.json``, ``search_summary.json``, ``config.toml``
  and ``replication/``, when present.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from genopt.config import MLflowConfig
from genopt.errors import GenoptError

#: history.tsv columns logged as per-generation metrics (name -> ``search.history.NAME``).
HISTORY_METRICS = ("best_fitness", "mean_fitness", "best_so_far", "diversity", "evaluations", "cache_hits")
#: Per-cohort replication numbers logged as ``replication.COHORT.KEY``.
REPLICATION_METRICS = ("auc", "score_or_per_sd", "score_p")
#: Run files logged as artifacts when present.
ARTIFACTS = (
    "model.json",
    "score.tsv",
    "variants.tsv",
    "pareto.tsv",
    "history.tsv",
    "report.html",
    "manifest.json",
    "search_summary.json",
    "config.toml",
)
_HOW = {
    "timing": "wall-clock seconds of the step (manifest.json timings_seconds)",
    "history": "per generation of the search (history.tsv); step = generation",
}


def default_tracking_uri(run_dir: Path) -> str:
    """The default store: the ``file:`` URI of ``RUN_DIR/mlruns``."""
    return (Path(run_dir).resolve() / "mlruns").as_uri()


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GenoptError("file not found; is this a finished genopt run directory?", path) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GenoptError(f"not valid JSON: {exc}", path) from None


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> dict[str, Any]:
    if isinstance(value, dict):
        for key, sub in value.items():
            _flatten(sub, f"{prefix}.{key}" if prefix else str(key), out)
    else:
        out[prefix] = value
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _params(manifest: dict[str, Any]) -> dict[str, str]:
    flat = _flatten(manifest.get("config", {}), "", {})
    params = {k: json.dumps(v) if isinstance(v, list) else str(v) for k, v in flat.items()}
    params["seed"] = str(manifest.get("seed"))
    return params


def _summary_metrics(summary: dict[str, Any]) -> tuple[dict[str, float], dict[str, str]]:
    metrics: dict[str, float] = {}
    how: dict[str, str] = {}
    for key, entry in summary.items():
        described = isinstance(entry, dict) and "value" in entry
        value, text = (entry["value"], entry.get("how")) if described else (entry, None)
        for name, sub in _flatten(value, f"search.{key}", {}).items():
            number = _number(sub)
            if number is not None:
                metrics[name] = number
                how[name] = str(text) if text else "search_summary.json"
    return metrics, how


def _history(path: Path) -> pd.DataFrame | None:
    if not path.exists():
        return None
    table = pd.read_csv(path, sep="\t")
    missing = [c for c in ("generation", *HISTORY_METRICS) if c not in table.columns]
    if missing:
        raise GenoptError(f"history table lacks column(s) {', '.join(missing)}", path)
    return table


def _mlflow_name(text: str) -> str:
    """``text`` with the characters MLflow refuses in names (anything but alphanumerics and ``_-. :/``) as ``_``."""
    return re.sub(r"[^A-Za-z0-9_\-. :/]", "_", str(text))


@contextmanager
def _allow_file_store(uri: str) -> Iterator[None]:
    """MLflow >= 3 refuses ``file:`` stores unless ``MLFLOW_ALLOW_FILE_STORE`` is set; set it for this call only."""
    key = "MLFLOW_ALLOW_FILE_STORE"
    previous = os.environ.get(key)
    if uri.startswith("file:") and previous is None:
        os.environ[key] = "true"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(key, None)


def log_run(run_dir: Path, config: MLflowConfig) -> str:
    """Log a finished run directory to MLflow; return the MLflow run id.

    Parameters
    ----------
    run_dir
        A finished genopt run directory (must hold ``manifest.json``).
    config
        Where and under which experiment/run name to log; ``tracking_uri``
        None logs to :func:`default_tracking_uri` (``RUN_DIR/mlruns``).

    Raises
    ------
    GenoptError
        mlflow is not installed (install the ``mlflow`` extra), or a run file
        is missing or malformed (naming the file).
    """
    try:
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise GenoptError(
            "MLflow logging is on ([mlflow] in the config) but mlflow is not installed; "
            "install the mlflow extra: pip install 'genopt[mlflow]'"
        ) from None
    run_dir = Path(run_dir).resolve()
    manifest = _read_json(run_dir / "manifest.json")
    summary_path = run_dir / "search_summary.json"
    summary = _read_json(summary_path) if summary_path.exists() else {}
    history = _history(run_dir / "history.tsv")
    replication = {p.parent.name: _read_json(p) for p in sorted(run_dir.glob("replication/*/summary.json"))}

    metrics, how = _summary_metrics(summary)
    for step, seconds in manifest.get("timings_seconds", {}).items():
        if (number := _number(seconds)) is not None:
            name = "timing." + _mlflow_name(step)
            metrics[name] = number
            how[name] = _HOW["timing"]
    tags = {"genopt.version": str(manifest.get("genopt_version")), "host": str(manifest.get("host"))}
    tags |= {"started": str(manifest.get("started")), "finished": str(manifest.get("finished"))}
    tags |= {f"version.{k}": str(v) for k, v in manifest.get("versions", {}).items()}
    tags |= {f"input_sha256.{Path(k).name}": str(v) for k, v in manifest.get("inputs", {}).items()}
    for cohort, rep in replication.items():
        tags[f"verdict.{cohort}"] = str(rep.get("verdict"))
        for key in REPLICATION_METRICS:
            if (number := _number(rep.get(key))) is not None:
                metrics[f"replication.{cohort}.{key}"] = number
                text = rep.get("how", {}).get(key, f"replication/{cohort}/summary.json")
                how[f"replication.{cohort}.{key}"] = str(text)

    now = int(time.time() * 1000)
    metric_rows = [Metric(k, v, now, 0) for k, v in metrics.items()]
    if history is not None:
        for col in HISTORY_METRICS:
            how[f"search.history.{col}"] = _HOW["history"]
            metric_rows += [
                Metric(f"search.history.{col}", float(v), now, int(g))
                for g, v in zip(history["generation"], history[col], strict=True)
                if _number(float(v)) is not None
            ]
    param_rows = [Param(k, v) for k, v in _params(manifest).items()]
    tag_rows = [RunTag(k, v) for k, v in tags.items()]

    uri = config.tracking_uri or default_tracking_uri(run_dir)
    with _allow_file_store(uri):
        client = MlflowClient(tracking_uri=uri)
        experiment = client.get_experiment_by_name(config.experiment)
        experiment_id = experiment.experiment_id if experiment else client.create_experiment(config.experiment)
        run = client.create_run(experiment_id, run_name=config.run_name or run_dir.name)
        run_id: str = run.info.run_id
        try:
            for i in range(0, len(param_rows), 100):  # MLflow's per-request limits
                client.log_batch(run_id, params=param_rows[i : i + 100])
            for i in range(0, len(tag_rows), 100):
                client.log_batch(run_id, tags=tag_rows[i : i + 100])
            for i in range(0, len(metric_rows), 1000):
                client.log_batch(run_id, metrics=metric_rows[i : i + 1000])
            client.log_dict(run_id, how, "how.json")
            for name in ARTIFACTS:
                if (run_dir / name).exists():
                    client.log_artifact(run_id, str(run_dir / name))
            if (run_dir / "replication").is_dir():
                client.log_artifacts(run_id, str(run_dir / "replication"), "replication")
        except BaseException:
            client.set_terminated(run_id, "FAILED")
            raise
        client.set_terminated(run_id, "FINISHED")
    return run_id
