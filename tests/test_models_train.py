"""Denoising-LM training side: tokenizer, configs, data, the tiny CPU training run, checkpoints and resume.

Tests that need torch skip in the torch-free main venv; run them with ``.venv-train``.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from emendo.errors import ConfigError
from emendo.models.config import ModelConfig, TrainConfig, load_train_config
from emendo.records import encode
from tests.sentences import EN, RU

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"



# ---------------------------------------------------------------- no torch needed


def test_tokenizer_round_trip_latin_cyrillic(tmp_path: Path) -> None:
    pytest.importorskip("tokenizers")
    from emendo.models.inputs import format_input
    from emendo.models.tokenizer import SPECIAL_TOKENS, load_tokenizer, train_tokenizer

    path = tmp_path / "tokenizer.json"
    train_tokenizer((EN + RU) * 20, 600, path)
    tok = load_tokenizer(tmp_path)  # a directory holding tokenizer.json works too
    assert [tok.token_to_id(t) for t in SPECIAL_TOKENS] == list(range(len(SPECIAL_TOKENS)))
    for text in [*EN, *RU, "Ёжик в тумане — «ура»!", "naïve café, 東京 🙂", "  two  spaces\tand tab", "ЪЫЬ ъыь ŒÆ"]:
        ids = tok.encode(text, add_special_tokens=False).ids
        assert 2 not in ids  # never <unk>
        assert tok.decode(ids, skip_special_tokens=False) == text
    enc = tok.encode(format_input("the cat", ["the cap"], "asr", "en"), add_special_tokens=False)
    assert enc.ids[:2] == [3, 5]
    assert enc.tokens[2] == tok.encode("the", add_special_tokens=False).tokens[0]  # tags swallow the space
    assert 7 in enc.ids  # <sep>
    with pytest.raises(ConfigError):
        train_tokenizer(EN, 100)


def test_configs_load_and_round_trip() -> None:
    for name in ("tiny", "small", "base"):
        cfg = load_train_config(CONFIGS / f"dlm-{name}.json")
        assert cfg.name == f"dlm-{name}"
        assert TrainConfig.from_dict(json.loads(cfg.to_json())) == cfg
    with pytest.raises(ConfigError, match="unknown"):
        TrainConfig.from_dict({"stepz": 3})
    with pytest.raises(ConfigError):
        ModelConfig(d_model=0)
    # checkpoint bookkeeping keys are accepted
    assert TrainConfig.from_dict({"format": "x", "format_version": 1, "version": "v", "step": 3}) == TrainConfig()


# ---------------------------------------------------------------- torch


def _pairs_file(path: Path, n: int, seed: int) -> Path:
    from emendo.synth.textnoise import TextNoiser, Vocabulary

    noiser = TextNoiser({"en": Vocabulary.from_texts(EN, "en"), "ru": Vocabulary.from_texts(RU, "ru")})
    with path.open("wb") as fh:
        for i in range(n):
            lang, texts = ("en", EN) if i % 2 else ("ru", RU)
            pair = noiser.pair(f"{path.stem}-{i}", texts[(i // 2) % len(texts)], "asr" if i % 3 else "htr", lang, seed)
            fh.write(encode(pair) + b"\n")
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    d = tmp_path_factory.mktemp("dlm-data")
    return {"train": _pairs_file(d / "train.jsonl", 400, 1), "dev": _pairs_file(d / "dev.jsonl", 24, 2)}


def _tiny(data: dict[str, Path], run_dir: Path, **kw: Any) -> TrainConfig:
    cfg = load_train_config(CONFIGS / "dlm-tiny.json")
    defaults: dict[str, Any] = dict(train_files=(str(data["train"]),), dev_file=str(data["dev"]), run_dir=str(run_dir),
                                    steps=30, warmup_steps=5, batch_size=16, eval_every=30, eval_samples=16,
                                    log_every=5, tokenizer_sample=1000,
                                    model=dataclasses.replace(cfg.model, vocab_size=1024))
    return dataclasses.replace(cfg, **{**defaults, **kw})


def _log(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "log.jsonl").read_text(encoding="utf-8").splitlines()]


def test_data_batches_and_collate(data: dict[str, Path]) -> None:
    from emendo.models.data import BucketBatches, PairDataset, collate, read_pairs
    from emendo.models.inputs import InputOptions
    from emendo.models.tokenizer import EOS_ID, train_tokenizer

    pairs = read_pairs([data["train"]])
    tok = train_tokenizer([p.clean for p in pairs], 600)
    ds = PairDataset(pairs, tok, InputOptions(), 128, 64, keep_pairs=True)
    assert len(ds) + ds.skipped == len(pairs) and len(ds.pairs) == len(ds)
    assert all(e.labels[-1] == EOS_ID and EOS_ID not in e.input_ids for e in ds.examples)
    short = PairDataset(pairs, tok, InputOptions(), 8, 64)
    assert short.skipped > 0
    batches = BucketBatches(ds.lengths(), 16, seed=3)
    epoch = batches.epoch(0)
    assert sorted(i for b in epoch for i in b) == list(range(len(ds)))
    assert batches.batch_for_step(len(batches) + 2) == batches.epoch(1)[2]
    assert BucketBatches(ds.lengths(), 16, seed=3).batch_for_step(5) == epoch[5]
    b = collate([ds[i] for i in epoch[0]])
    assert b["input_ids"].shape == b["attention_mask"].shape
    assert int(b["attention_mask"].sum()) == sum(len(ds[i].input_ids) for i in epoch[0])
    assert (b["labels"] == -100).sum() == b["labels"].numel() - sum(len(ds[i].labels) for i in epoch[0])
    for r, i in enumerate(epoch[0]):  # each row holds its example's ids, then padding
        n, m = len(ds[i].input_ids), len(ds[i].labels)
        assert b["input_ids"][r, :n].tolist() == list(ds[i].input_ids) and not b["input_ids"][r, n:].any()
        assert b["labels"][r, :m].tolist() == list(ds[i].labels) and (b["labels"][r, m:] == -100).all()
    assert b["input_ids"].dtype == b["attention_mask"].dtype == b["labels"].dtype


def test_shards_encoded_in_parallel_give_the_serial_dataset(data: dict[str, Path], tmp_path: Path) -> None:
    from emendo.models.data import PairDataset, iter_pairs
    from emendo.models.inputs import InputOptions
    from emendo.models.tokenizer import train_tokenizer

    lines = data["train"].read_text(encoding="utf-8").splitlines()
    for k in range(3):  # three shards of unequal size
        (tmp_path / f"train-{k:05d}.jsonl").write_text("\n".join(lines[k * 150: (k + 1) * 150]) + "\n",
                                                     encoding="utf-8")
    pattern = [str(tmp_path / "train-*.jsonl")]
    tok = train_tokenizer([p.clean for p in iter_pairs(pattern)], 600)
    serial = PairDataset(iter_pairs(pattern), tok, InputOptions(), 24, 64)
    parallel = PairDataset.from_files(pattern, tok, InputOptions(), 24, 64, workers=2)
    assert serial.skipped > 0 and parallel.skipped == serial.skipped
    assert [(list(e.input_ids), list(e.labels)) for e in parallel.examples] == \
        [(list(e.input_ids), list(e.labels)) for e in serial.examples]


def test_tiny_training_lowers_loss_and_writes_checkpoint(data: dict[str, Path], tmp_path: Path) -> None:
    from safetensors import safe_open
    from transformers import T5ForConditionalGeneration

    from emendo.models.tokenizer import load_tokenizer
    from emendo.models.train import train

    run = tmp_path / "run"
    cfg = _tiny(data, run)
    ckpt = train(cfg, device="cpu", progress=False)
    assert ckpt == run / "checkpoints" / "step-0000030"
    log = _log(run)
    losses = [r["loss"] for r in log if r["event"] == "train"]
    assert log[0]["event"] == "start" and log[0]["params"] < 400_000
    assert losses[-1] < losses[0] - 0.5, losses
    # the checkpoint format the ONNX export reads
    for name in ("model/config.json", "model/model.safetensors", "tokenizer.json", "train_config.json",
                 "metrics.json", "trainer_state.pt"):
        assert (ckpt / name).is_file(), name
    with safe_open(str(ckpt / "model" / "model.safetensors"), "pt") as fh:
        assert fh.keys()
    meta = json.loads((ckpt / "train_config.json").read_text(encoding="utf-8"))
    assert meta["format"] == "emendo-dlm-checkpoint" and meta["format_version"] == 1 and meta["step"] == 30
    assert meta["version"] == "dlm-tiny-s0-step30" and meta["inputs"]["window_chars"] == 90
    assert load_train_config(ckpt) == cfg
    metrics = json.loads((ckpt / "metrics.json").read_text(encoding="utf-8"))
    for key in ("dev_loss", "wer", "cer", "wer_before", "cer_before", "harm", "groups"):
        assert key in metrics
    assert metrics["n"] == 16
    model = T5ForConditionalGeneration.from_pretrained(str(ckpt / "model"))
    assert model.config.vocab_size == 1024 and model.config.decoder_start_token_id == 0
    load_tokenizer(ckpt)
    assert (run / "best" / "model" / "model.safetensors").is_file()
    assert not (run / "best" / "trainer_state.pt").exists()


def test_resume_continues_at_the_right_step(data: dict[str, Path], tmp_path: Path) -> None:
    import torch
    from transformers import T5ForConditionalGeneration

    from emendo.models.train import latest_checkpoint, train

    straight, split = tmp_path / "straight", tmp_path / "split"
    kw: dict[str, Any] = dict(steps=12, eval_every=4, eval_samples=0, keep_checkpoints=5)
    a = train(_tiny(data, straight, **kw), device="cpu", progress=False)
    first = train(_tiny(data, split, **kw), device="cpu", progress=False, stop_at=8)
    assert first.name == "step-0000008" and latest_checkpoint(split) == first
    b = train(_tiny(data, split, **kw), device="cpu", progress=False)
    assert b.name == "step-0000012"
    starts = [r for r in _log(split) if r["event"] == "start"]
    assert [s["step"] for s in starts] == [0, 8] and starts[1]["resumed_from"].endswith("step-0000008")
    train_steps = [r["step"] for r in _log(split) if r["event"] == "train"]
    assert train_steps[train_steps.index(8) + 1] == 9
    state = torch.load(b / "trainer_state.pt", weights_only=True)
    assert state["step"] == 12
    # same data order, schedule and RNG: the resumed run ends with the same weights
    wa = T5ForConditionalGeneration.from_pretrained(str(a / "model")).state_dict()
    wb = T5ForConditionalGeneration.from_pretrained(str(b / "model")).state_dict()
    for k, v in wa.items():
        torch.testing.assert_close(v, wb[k], rtol=1e-5, atol=1e-6)
    # a run dir holding another model is refused
    with pytest.raises(ConfigError):
        other = _tiny(data, split, **kw)
        train(dataclasses.replace(other, model=dataclasses.replace(other.model, d_ff=64)), device="cpu",
              progress=False)


def test_init_from_starts_a_new_run_from_a_checkpoint(data: dict[str, Path], tmp_path: Path) -> None:
    """A run with ``init_from`` starts at step 0 from the checkpoint's weights and tokenizer, with
    a fresh optimiser: its first loss is the trained model's, far below a fresh model's."""
    from emendo.models.train import train

    base = train(_tiny(data, tmp_path / "base"), device="cpu", progress=False)
    kw: dict[str, Any] = dict(steps=4, warmup_steps=1, eval_every=4, eval_samples=0)
    cont = train(_tiny(data, tmp_path / "cont", init_from=str(base), **kw), device="cpu", progress=False)
    train(_tiny(data, tmp_path / "fresh", **kw), device="cpu", progress=False)
    start = _log(tmp_path / "cont")[0]
    assert start["step"] == 0 and start["initialised_from"] == str(base) and start["resumed_from"] is None
    first = {name: next(r["loss"] for r in _log(tmp_path / name) if r["event"] == "train")
             for name in ("cont", "fresh")}
    base_last = [r["loss"] for r in _log(tmp_path / "base") if r["event"] == "train"][-1]
    assert first["cont"] < first["fresh"] - 1.0 and first["cont"] < base_last + 0.5, (first, base_last)
    assert (tmp_path / "cont" / "tokenizer.json").read_bytes() == (base / "tokenizer.json").read_bytes()
    assert cont.name == "step-0000004" and load_train_config(cont).init_from == str(base)
    with pytest.raises(ConfigError, match="other model options"):
        other = _tiny(data, tmp_path / "bad", init_from=str(base), **kw)
        train(dataclasses.replace(other, model=dataclasses.replace(other.model, d_ff=64)), device="cpu",
              progress=False)


def test_cli_help_and_max_steps(data: dict[str, Path], tmp_path: Path) -> None:
    help_out = subprocess.run([sys.executable, "-m", "emendo.models.train", "--help"], capture_output=True,
                              text=True, check=True).stdout
    assert "--max-steps" in help_out and "--device" in help_out
    cfg = _tiny(data, tmp_path / "unused")
    cfg_path = tmp_path / "cfg.json"
    cfg_path.write_text(cfg.to_json(), encoding="utf-8")
    from emendo.models.train import main

    assert main(["--config", str(cfg_path), "--out", str(tmp_path / "cli"), "--max-steps", "3", "--device", "cpu",
                 "--no-progress", "--threads", "1"]) == 0
    assert (tmp_path / "cli" / "checkpoints" / "step-0000003" / "model" / "model.safetensors").is_file()
    assert main(["--config", str(tmp_path / "missing.json")]) == 1


def test_time_limit_fits_the_schedule_into_the_slot(data: dict[str, Path], tmp_path: Path) -> None:
    from emendo.models.config import load_train_config as load
    from emendo.models.train import FIT_AFTER, _fitted_end, train

    # the arithmetic: 100 s at 10 steps/s is 1,000 steps, less 2 s per evaluation (every 400 steps: 3 to come)
    assert _fitted_end(0, 10_000, 100.0, 10.0, 2.0, 400) == 940
    assert _fitted_end(0, 500, 100.0, 10.0, 2.0, 400) == 500  # never past the configured steps
    assert _fitted_end(50, 10_000, 0.0, 10.0, 2.0, 400) == 51  # out of time: one more step, then the end
    assert _fitted_end(50, 10_000, -20.0, 10.0, 2.0, 400) == 51  # past the limit (evaluations ate it): the same
    # a run configured far longer than its time: it ends early, on a finished schedule, with a checkpoint
    run = tmp_path / "timed"
    ckpt = train(_tiny(data, run, steps=100_000, warmup_steps=5, eval_every=150, eval_samples=0), device="cpu",
                 progress=False, time_limit=8.0)
    fits = [r for r in _log(run) if r["event"] == "fit"]
    assert fits and fits[0]["step"] == FIT_AFTER
    end = next(r for r in _log(run) if r["event"] == "end")
    assert FIT_AFTER < end["step"] < 100_000 and ckpt.name == f"step-{end['step']:07d}"
    stored = load(ckpt)
    assert stored.steps == end["step"]  # the checkpoint records the schedule it ran
    last = [r for r in _log(run) if r["event"] == "train"][-1]
    assert last["step"] == end["step"] and last["lr"] == pytest.approx(stored.lr * stored.min_lr_ratio)
