"""Evaluation: WER/CER/WAR/CAR with named normalisation presets, reports and plots."""

from emendo.eval.metrics import Comparison, Scores, compare, score
from emendo.eval.normalize import get_preset, preset_names
from emendo.eval.report import EvalItem, Report, build_report, plot_comparison

__all__ = ["Comparison", "EvalItem", "Report", "Scores", "build_report", "compare", "get_preset",
           "plot_comparison", "preset_names", "score"]
