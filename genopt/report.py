"""The run report: one self-contained HTML file per run directory (images embedded as PNG data URIs).

:func:`build_report` reads only files the run wrote (``search_summary.json``,
``history.tsv``, ``pareto.tsv``, ``variants.tsv``,
``hyperparameter_importance.tsv``, ``replication/<cohort>/``, and, for
``genopt run``, ``summary.json`` and ``assoc/``), so ``genopt report --run
RUN_DIR`` rebuilds it at any time. Sections: a plain-language summary for
geneticists, the variant list, GA convergence, the Pareto front with the
chosen model marked, the Manhattan plot with the listed variants marked and
the QQ plot (``genopt run`` only), replication per held-out cohort with
discovery vs replication effects, the ROC curve and the score distributions
by outcome (``replication/<cohort>/scores.tsv``), hyperparameter importance, selection
frequency, and how every number was computed.
"""

from __future__ import annotations

import base64
import html
import io
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genopt import __version__
from genopt.errors import GenoptError
from genopt.io.atomic import write_text

__all__ = ["build_report"]

_STYLE = """
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; line-height: 1.45; color: #222; }
h1 { border-bottom: 2px solid #444; } h2 { border-bottom: 1px solid #bbb; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: right; } th { background: #eee; }
td.l, th.l { text-align: left; } .how { color: #555; font-size: 0.88em; } img { max-width: 100%; }
.verdict { font-weight: bold; }
"""


def _png(fig: Any) -> str:
    """A matplotlib figure as an ``<img>`` with an embedded PNG (the figure is closed)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return _img(buffer.getvalue())


def _img(data: bytes) -> str:
    return f'<img alt="figure" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def _read_tsv(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path, sep="\t") if path.is_file() else None


def _fmt(value: Any, spec: str = ".3f") -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "NA"
    return format(value, spec) if isinstance(value, int | float) else html.escape(str(value))


def _table(frame: pd.DataFrame, left: tuple[str, ...] = ()) -> str:
    head = "".join(f'<th class="{"l" if c in left else ""}">{html.escape(str(c))}</th>' for c in frame.columns)
    rows = []
    for _, row in frame.iterrows():
        cells = []
        for c in frame.columns:
            v = row[c]
            text = _fmt(v, ".4g") if isinstance(v, float) else html.escape(str(v))
            cells.append(f'<td class="{"l" if c in left else ""}">{text}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _convergence(history: pd.DataFrame) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(history["generation"], history["best_so_far"], label="best so far")
    ax.plot(history["generation"], history["mean_fitness"], label="population mean")
    ax.set_xlabel("generation")
    ax.set_ylabel("fitness (mean CV AUC - size penalty)")
    ax.legend()
    return _png(fig)


def _pareto(front: pd.DataFrame) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(front["n_variants"], front["mean_auc"], "o-", label="inner CV AUC (search part)")
    ax.errorbar(
        front["n_variants"],
        front["validation_auc"],
        yerr=front["validation_se"],
        fmt="s",
        alpha=0.7,
        label="validation AUC +- DeLong SE",
    )
    chosen = front[front["chosen"].astype(bool)]
    ax.plot(chosen["n_variants"], chosen["validation_auc"], "r*", markersize=16, label="chosen")
    ax.set_xlabel("number of variants")
    ax.set_ylabel("AUC")
    ax.legend()
    return _png(fig)


def _bars(labels: list[str], values: np.ndarray, xlabel: str) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 0.3 * len(labels) + 1))
    ax.barh(labels[::-1], values[::-1])
    ax.set_xlabel(xlabel)
    return _png(fig)


def _effects(rep: pd.DataFrame, cohort: str) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    d, r = rep["beta_discovery"].to_numpy(float), rep["beta"].to_numpy(float)
    ax.errorbar(
        d,
        r,
        xerr=1.96 * rep["standard_error_discovery"].to_numpy(float),
        yerr=1.96 * rep["standard_error"].to_numpy(float),
        fmt="o",
        alpha=0.7,
    )
    lim = np.nanmax(np.abs(np.concatenate([d, r]))) * 1.3 if np.isfinite(d).any() else 1.0
    ax.plot([-lim, lim], [-lim, lim], "k--", lw=0.8)
    ax.axhline(0, color="grey", lw=0.5)
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_xlabel("discovery log OR per A1 (95% CI)")
    ax.set_ylabel(f"{cohort} log OR per A1 (95% CI)")
    return _png(fig)


def _roc(scores: pd.DataFrame, cohort: str) -> str:
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_auc_score, roc_curve

    y, s = scores["outcome"].to_numpy(int), scores["score"].to_numpy(float)
    fpr, tpr, _ = roc_curve(y, s)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(fpr, tpr, label=f"{cohort}: AUC {roc_auc_score(y, s):.3f}")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="chance")
    ax.set_xlabel("false positive rate (defect scored as cooperate)")
    ax.set_ylabel("true positive rate (cooperate)")
    ax.legend(loc="lower right")
    return _png(fig)


def _distributions(scores: pd.DataFrame, cohort: str) -> str:
    import matplotlib.pyplot as plt

    y, s = scores["outcome"].to_numpy(int), scores["score"].to_numpy(float)
    bins = np.histogram_bin_edges(s, bins=30).tolist()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for value, label in ((1, "cooperate"), (0, "defect")):
        ax.hist(s[y == value], bins=bins, density=True, alpha=0.5, label=f"{label} (n={int((y == value).sum())})")
    ax.set_xlabel(f"genetic score in {cohort} (sum of weight x discovery-A1 count)")
    ax.set_ylabel("density")
    ax.legend()
    return _png(fig)


def _manhattan(run: Path, listed: list[str]) -> str:
    from genopt.assoc.plots import manhattan_plot

    table = pd.read_csv(run / "assoc" / "discovery.tsv", sep="\t")
    with tempfile.TemporaryDirectory() as tmp:
        path = manhattan_plot(table, Path(tmp) / "m.png", highlight=listed, title="discovery, listed variants marked")
        return _img(path.read_bytes())


def _how_items(summary: dict[str, Any]) -> list[tuple[str, str, str]]:
    out = []
    for key, item in summary.items():
        if isinstance(item, dict) and "how" in item and "value" in item and not isinstance(item["value"], dict):
            v = item["value"]
            text = ", ".join(map(str, v)) if isinstance(v, list) else str(v) if isinstance(v, str) else _fmt(v, ".4g")
            out.append((key, text, str(item["how"])))  # _table escapes the HTML
    return out


def build_report(run_dir: str | Path) -> Path:
    """Write ``RUN_DIR/report.html`` from the files of a search run; return its path.

    Raises
    ------
    GenoptError
        ``run_dir`` holds no search (no ``search_summary.json``).
    """
    run = Path(run_dir)
    summary_path = run / "search_summary.json"
    if not summary_path.is_file():
        raise GenoptError("no search_summary.json: the report needs a run of genopt search (or a [search] table)", run)
    search = json.loads(summary_path.read_text())
    variants = _read_tsv(run / "variants.tsv")
    history = _read_tsv(run / "history.tsv")
    front = _read_tsv(run / "pareto.tsv")
    importance = _read_tsv(run / "hyperparameter_importance.tsv")
    replications = {
        p.parent.name: json.loads(p.read_text()) for p in sorted((run / "replication").glob("*/summary.json"))
    }

    def value(key: str) -> Any:
        return search.get(key, {}).get("value")

    parts = [
        f"<h1>genopt run report</h1><p class='how'>Run directory <code>{html.escape(str(run.resolve()))}</code>; "
        f"genopt {__version__}; seed {_fmt(value('seed'), 'd')}.</p>"
    ]
    ids = [] if variants is None else [str(v) for v in variants["rsid"]]
    parts.append("<h2>Summary for geneticists</h2><ul>")
    parts.append(
        f"<li>The search chose <b>{len(ids)} variants</b> with a <b>{html.escape(str(value('chosen_family')))}</b> "
        f"model ({html.escape(json.dumps(value('chosen_params')))}), from {_fmt(value('n_columns'), 'd')} candidate "
        f"variants, after {_fmt(value('n_evaluations'), 'd')} model fits.</li>"
        f"<li>Validation AUC <b>{_fmt(value('validation_auc'))}</b> (DeLong SE {_fmt(value('validation_se'))}): "
        f"{html.escape(str(search.get('validation_auc', {}).get('how', '')))}.</li>"
        f"<li>Inner CV AUC {_fmt(value('inner_cv_auc'))}: {html.escape(str(search.get('inner_cv_auc', {}).get('how')))}"
        f"; optimism (inner - validation) {_fmt(value('optimism'), '+.3f')}.</li>"
    )
    if "outer_cv" in search:
        o = search["outer_cv"]
        parts.append(
            f"<li>Outer CV of the whole procedure: mean AUC {_fmt(o['mean_outer_auc']['value'])} "
            f"({html.escape(o['mean_outer_auc']['how'])}).</li>"
        )
    for name, r in replications.items():
        lo, hi = r["auc_ci95"]
        parts.append(
            f"<li>Held-out <b>{html.escape(name)}</b>: <span class='verdict'>{html.escape(r['verdict'])}</span>; "
            f"AUC {_fmt(r['auc'])} (95% CI {_fmt(lo)}-{_fmt(hi)}), OR per SD {_fmt(r['score_or_per_sd'], '.2f')} "
            f"(one-sided p {_fmt(r['score_p'], '.2g')}), {r['n_variants_used']} of {r['n_variants_listed']} variants "
            f"used. Rule: {html.escape(r['rule'])}</li>"
        )
    parts.append("</ul>")
    if variants is not None:
        cols = [
            c
            for c in (
                "rsid",
                "chromosome",
                "base_pair_location",
                "effect_allele",
                "other_allele",
                "model_weight",
                "beta",
                "p_value",
                "selection_frequency",
            )
            if c in variants.columns
        ]
        parts.append(
            "<h2>Listed variants</h2><p class='how'>Effect allele = discovery .bim A1; model_weight per "
            "A1 copy; beta and p from a logistic regression on all of discovery with the covariates and "
            "PCs (variants.tsv).</p>" + _table(variants[cols], left=("rsid", "effect_allele", "other_allele"))
        )
    if history is not None and len(history):
        parts.append(
            "<h2>Search convergence</h2><p class='how'>history.tsv: fitness per generation (batch for "
            "random and grid search).</p>" + _convergence(history)
        )
    if front is not None and len(front):
        parts.append(
            "<h2>Pareto front</h2><p class='how'>pareto.tsv: non-dominated (inner CV AUC, size) "
            "candidates; each refitted on the search part and scored on the validation part; the chosen "
            "one (star) is the smallest within one DeLong SE of the best validation AUC.</p>" + _pareto(front)
        )
    if (run / "assoc" / "discovery.tsv").is_file():
        parts.append("<h2>Association scan of discovery</h2>" + _manhattan(run, ids))
        qq = run / "assoc" / "discovery.qq.png"
        if qq.is_file():
            parts.append(_img(qq.read_bytes()))
    for name in replications:
        rep = _read_tsv(run / "replication" / name / "variants.tsv")
        if rep is not None and len(rep):
            parts.append(
                f"<h2>Replication in {html.escape(name)}</h2><p class='how'>Per-variant logistic "
                "regression with the covariates in the held-out cohort vs the discovery estimate; the "
                "dashed line is equality (winner's curse pulls points below it).</p>" + _effects(rep, name)
            )
        scores = _read_tsv(run / "replication" / name / "scores.tsv")
        if scores is not None and len(scores):
            parts.append(
                f"<h3>ROC curve in {html.escape(name)}</h3><p class='how'>scores.tsv: the frozen model's genetic "
                "score of each analysed held-out person against the outcome (cooperate positive), no covariates; "
                "sklearn roc_curve, AUC by roc_auc_score (equals the summary's AUC).</p>" + _roc(scores, name)
            )
            parts.append(
                f"<h3>Score distributions in {html.escape(name)}</h3><p class='how'>scores.tsv: histograms "
                "(30 common bins, each normalised to unit area) of the genetic score of cooperators and "
                "defectors; the more they are shifted apart, the higher the AUC.</p>" + _distributions(scores, name)
            )
    if importance is not None and importance["importance"].notna().any():
        ok = importance.dropna(subset=["importance"])
        parts.append(
            "<h2>Hyperparameter importance</h2><p class='how'>"
            + html.escape(str(importance["how"].iloc[0]))
            + "</p>"
            + _bars([str(p) for p in ok["parameter"]], ok["importance"].to_numpy(float), "importance")
        )
    if variants is not None and variants["selection_frequency"].notna().any():
        parts.append(
            "<h2>Selection frequency</h2><p class='how'>"
            + html.escape(str(search.get("selection_frequency", {}).get("how", "")))
            + "</p>"
            + _bars(
                ids,
                variants["selection_frequency"].to_numpy(float),
                "fraction of resampled searches that chose the variant",
            )
        )
    how = pd.DataFrame(_how_items(search), columns=["number", "value", "how it was computed"])
    parts.append("<h2>How every number was computed</h2>" + _table(how, left=tuple(how.columns)))
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>genopt report</title><style>{_STYLE}</style>"
        f"</head><body>{''.join(parts)}</body></html>\n"
    )
    out = run / "report.html"
    write_text(out, page)
    return out
