"""Evaluation: WER/CER/WAR/CAR with named normalisation presets, reports and plots."""
