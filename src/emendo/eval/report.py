"""Evaluation reports: overall and per-group scores as a JSON-ready dict, Markdown or a PNG.

A report is built from :class:`EvalItem` rows. When every item carries a ``corrected``
text the report compares the recogniser's output (before) with emendo's (after)
(:class:`~emendo.eval.metrics.Comparison` per group); otherwise it scores the
hypotheses alone (:class:`~emendo.eval.metrics.Scores` per group). Groups are
``all``, then one per source (``asr``/``htr``) and optionally one per data set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emendo.errors import MissingExtraError
from emendo.eval.metrics import Comparison, Scores, compare, score
from emendo.eval.normalize import DEFAULT_PRESET, get_preset

__all__ = ["EvalItem", "GroupResult", "Report", "build_report", "plot_comparison"]

NO_GROUP = "(none)"


@dataclass(frozen=True)
class EvalItem:
    """One utterance to score: reference, recogniser output and, optionally, the correction."""

    id: str
    reference: str
    hypothesis: str
    corrected: str | None = None
    source: str | None = None
    set: str | None = None


@dataclass(frozen=True)
class GroupResult:
    """The scores of one group: ``kind`` is ``all``, ``source`` or ``set``."""

    kind: str
    name: str
    scores: Scores
    comparison: Comparison | None = None

    @property
    def label(self) -> str:
        return "all" if self.kind == "all" else f"{self.kind}={self.name}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"group": self.label, "kind": self.kind, "name": self.name}
        if self.comparison is not None:
            out.update(self.comparison.to_dict())
        else:
            out.update(n=self.scores.n, scores=self.scores.to_dict())
        return out


@dataclass(frozen=True)
class Report:
    """All groups of one evaluation run."""

    preset: str
    groups: tuple[GroupResult, ...]

    @property
    def is_comparison(self) -> bool:
        return bool(self.groups) and self.groups[0].comparison is not None

    def to_dict(self) -> dict[str, Any]:
        return {"preset": self.preset, "mode": "compare" if self.is_comparison else "score",
                "groups": [g.to_dict() for g in self.groups]}

    def to_markdown(self) -> str:
        lines = [f"Normalisation preset: `{self.preset}`", ""]
        if self.is_comparison:
            lines += [
                "| group | n | WER before | WER after | ΔWER pp (rel) | CER before | CER after "
                "| ΔCER pp (rel) | improved | worsened | harm | word harm |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            ]
            for g in self.groups:
                c = g.comparison
                assert c is not None
                lines.append(
                    f"| {g.label} | {c.n} | {_pct(c.before.wer)} | {_pct(c.after.wer)} "
                    f"| {_delta(c.wer_delta, c.wer_rel)} | {_pct(c.before.cer)} | {_pct(c.after.cer)} "
                    f"| {_delta(c.cer_delta, c.cer_rel)} | {c.improved} | {c.worsened} "
                    f"| {c.harmed}/{c.correct_before} ({_pct(c.harm)}) | {_pct(c.word_harm)} |"
                )
        else:
            lines += [
                "| group | n | ref words | WER | CER | WAR | CAR | S | D | I |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            ]
            for g in self.groups:
                s = g.scores
                lines.append(
                    f"| {g.label} | {s.n} | {s.ref_words} | {_pct(s.wer)} | {_pct(s.cer)} | {_pct(s.war)} "
                    f"| {_pct(s.car)} | {s.substitutions} | {s.deletions} | {s.insertions} |"
                )
        return "\n".join(lines) + "\n"


def build_report(
    items: Sequence[EvalItem],
    preset: str = DEFAULT_PRESET,
    *,
    by_source: bool = True,
    by_set: bool = False,
) -> Report:
    """Score ``items`` overall and per source / per set.

    Items without a source (or set) fall in the group ``(none)``. A per-source or
    per-set breakdown is only added when at least one item carries that attribute.
    Raises ``ValueError`` when some but not all items carry a ``corrected`` text.
    """
    p = get_preset(preset)
    with_corr = sum(it.corrected is not None for it in items)
    if with_corr not in (0, len(items)):
        raise ValueError(f"{with_corr} of {len(items)} items have a corrected text; need all or none")
    groups = [_group("all", "all", items, p.name, bool(with_corr))]
    for kind, wanted in (("source", by_source), ("set", by_set)):
        keys = [getattr(it, kind) for it in items]
        if not wanted or all(k is None for k in keys):
            continue
        for name in sorted({k or NO_GROUP for k in keys}):
            members = [it for it, k in zip(items, keys, strict=True) if (k or NO_GROUP) == name]
            groups.append(_group(kind, name, members, p.name, bool(with_corr)))
    return Report(p.name, tuple(groups))


def plot_comparison(report: Report, path: str | Path) -> Path:
    """Write a PNG bar chart of WER and CER per group (before/after when comparing).

    Needs matplotlib (the ``plot`` extra), drawn off-screen with the Agg backend;
    raises :class:`~emendo.errors.MissingExtraError` when it is not installed.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MissingExtraError("matplotlib", "plot") from exc
    labels = [g.label for g in report.groups]
    if report.is_comparison:
        series = {
            "before": [(_cmp(g).before.wer, _cmp(g).before.cer) for g in report.groups],
            "after": [(_cmp(g).after.wer, _cmp(g).after.cer) for g in report.groups],
        }
    else:
        series = {"hypothesis": [(g.scores.wer, g.scores.cer) for g in report.groups]}
    fig = Figure(figsize=(max(6.0, 1.6 * len(labels) + 2.0), 4.0), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    width = 0.8 / len(series)
    for col, (ax, metric) in enumerate(zip(axes, ("WER", "CER"), strict=True)):
        for k, (name, values) in enumerate(series.items()):
            xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(labels))]
            bars = ax.bar(xs, [100 * v[col] for v in values], width, label=name)
            ax.bar_label(bars, fmt="%.1f", fontsize=7)
        ax.set_xticks(range(len(labels)), labels, rotation=20, ha="right")
        ax.set_ylabel(f"{metric} (%)")
        ax.set_title(f"{metric} (preset {report.preset})")
        ax.margins(y=0.25)
        ax.legend(loc="upper left", fontsize=8)
    out = Path(path)
    fig.savefig(out, format="png", dpi=120)
    return out


def _group(kind: str, name: str, items: Sequence[EvalItem], preset: str, compared: bool) -> GroupResult:
    refs = [it.reference for it in items]
    hyps = [it.hypothesis for it in items]
    if compared:
        c = compare(refs, hyps, [it.corrected or "" for it in items], preset)
        return GroupResult(kind, name, c.before, c)
    return GroupResult(kind, name, score(refs, hyps, preset))


def _cmp(g: GroupResult) -> Comparison:
    assert g.comparison is not None
    return g.comparison


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def _delta(absolute: float, relative: float | None) -> str:
    rel = "n/a" if relative is None else f"{100 * relative:+.1f}%"
    return f"{100 * absolute:+.2f} ({rel})"
