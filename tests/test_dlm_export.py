"""ONNX export of the denoising LM and its parity check against PyTorch (needs the ``train`` extra)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("onnx")

from emendo.correctors.dlm import DecodingOptions, DenoisingLM  # noqa: E402
from emendo.errors import EmendoError  # noqa: E402
from emendo.models.export import (  # noqa: E402
    ParityError,
    export_onnx,
    main,
    make_tiny_checkpoint,
    read_parity_file,
)
from emendo.records import Hypothesis  # noqa: E402


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp("dlm") / "ckpt")


@pytest.fixture(scope="module")
def exported(ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("dlm") / "onnx"
    return out, export_onnx(ckpt, out)


def test_export_passes_parity(exported: tuple[Path, object]) -> None:
    out, report = exported
    assert report.passed  # type: ignore[attr-defined]
    parity = report.parity  # type: ignore[attr-defined]
    assert parity["fp32_max_abs_logit_diff"] <= 1e-4
    assert parity["fp32_step_max_abs_logit_diff"] <= 1e-4
    assert parity["fp32_greedy_identical"] == parity["n_inputs"] == 32
    assert parity["int8_greedy_agreement"] >= 0.95
    for name in ("encoder.onnx", "decoder.onnx", "encoder.int8.onnx", "decoder.int8.onnx", "tokenizer.json",
                 "train_config.json", "metrics.json", "model_card.json"):
        assert (out / name).is_file(), name
    assert (out / "decoder.int8.onnx").stat().st_size < (out / "decoder.onnx").stat().st_size / 2
    card = json.loads((out / "model_card.json").read_text(encoding="utf-8"))
    assert card["version"] == "tiny-random-s0"
    assert card["export"]["cross_kv_in_encoder"] is True
    assert card["export"]["quantization"]["per_channel"] in (True, False)
    for name, meta in card["files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == meta["sha256"]


def test_exported_model_serves(exported: tuple[Path, object]) -> None:
    out, _ = exported
    lm = DenoisingLM(out, variant="fp32", options=DecodingOptions(max_new_tokens=8))
    res = lm.correct([Hypothesis(id="a", text="the cat sat on the mat", lang="en")])
    assert len(res) == 1 and isinstance(res[0].corrected, str)


def test_onnx_matches_torch_with_padding_and_past(exported: tuple[Path, object], ckpt: Path) -> None:
    """Incremental decoding with the KV cache reproduces torch's full forward, padded batch included."""
    import numpy as np
    from transformers import T5ForConditionalGeneration

    from emendo.correctors.dlm import OnnxSeq2Seq

    out, _ = exported
    model = T5ForConditionalGeneration.from_pretrained(str(ckpt / "model")).eval()
    m = OnnxSeq2Seq(out, variant="fp32")
    rng = np.random.default_rng(0)
    ids = rng.integers(3, m.vocab_size, (3, 11)).astype(np.int64)
    mask = np.ones_like(ids)
    mask[1, 6:] = 0
    mask[2, 2:] = 0
    dec = rng.integers(3, m.vocab_size, (3, 9)).astype(np.int64)
    dec[:, 0] = m.start_id
    with torch.no_grad():
        ref = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask),
                    decoder_input_ids=torch.from_numpy(dec)).logits.numpy()
    cross = m.encode(ids, mask)
    past = m.empty_past(3)
    got = []
    for j in range(0, 9, 3):  # three tokens per call: past length 0, 3, 6
        logits, past = m.step(dec[:, j: j + 3], mask, past, cross)
        got.append(logits)
    assert np.abs(np.concatenate(got, axis=1) - ref).max() < 1e-4
    assert past[0].shape == (3, m.num_heads, 9, m.d_kv)


def test_broken_tolerance_fails(ckpt: Path, tmp_path: Path) -> None:
    out = tmp_path / "onnx"
    with pytest.raises(ParityError) as err:
        export_onnx(ckpt, out, quantize=False, fp32_atol=1e-12)
    assert isinstance(err.value, EmendoError)
    assert err.value.report is not None and not err.value.report.passed
    assert err.value.report.parity["fp32_max_abs_logit_diff"] > 1e-12
    assert not (out / "model_card.json").exists()  # a failed export cannot be served
    assert (out / "parity_failed.json").is_file()


def test_int8_agreement_threshold_is_enforced(ckpt: Path, tmp_path: Path) -> None:
    with pytest.raises(ParityError, match="int8_greedy_agreement"):
        export_onnx(ckpt, tmp_path / "onnx", int8_min_agreement=1.01)


def test_gated_activation_and_untied_head(ckpt: Path, tmp_path: Path) -> None:
    """T5 v1.1-style checkpoints (gated GELU, untied LM head, no output rescaling) export too."""
    from transformers import T5Config, T5ForConditionalGeneration

    src = tmp_path / "ckpt"
    src.mkdir()
    shutil.copyfile(ckpt / "tokenizer.json", src / "tokenizer.json")
    cfg = T5Config(vocab_size=512, d_model=32, d_ff=64, num_layers=2, num_decoder_layers=1, num_heads=2, d_kv=16,
                   feed_forward_proj="gated-gelu", tie_word_embeddings=False, decoder_start_token_id=0,
                   pad_token_id=0, eos_token_id=1, dropout_rate=0.0)
    torch.manual_seed(1)
    T5ForConditionalGeneration(cfg).save_pretrained(str(src / "model"))
    report = export_onnx(src, tmp_path / "onnx", quantize=False)
    assert report.passed and report.parity["fp32_max_abs_logit_diff"] < 1e-4
    assert report.version.startswith("dlm-")  # no train_config.json: hash of the weights


def test_parity_file(tmp_path: Path) -> None:
    p = tmp_path / "parity.jsonl"
    p.write_text('{"text": "a b", "source": "htr", "lang": "en"}\n\n{"noisy": "c d"}\n', encoding="utf-8")
    assert read_parity_file(p) == [("htr", "en", "a b"), ("asr", "", "c d")]
    p.write_text('{"id": 1}\n', encoding="utf-8")
    with pytest.raises(EmendoError):
        read_parity_file(p)


def test_cli(ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(ckpt), str(tmp_path / "onnx"), "--no-quantize"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] and "encoder.int8.onnx" not in report["files"]
    assert main([str(tmp_path / "missing"), str(tmp_path / "x")]) == 1


def test_shipped_log_softmax_graph_is_the_generated_one(tmp_path: Path) -> None:
    from emendo.correctors.dlm import LOG_SOFTMAX_GRAPH
    from emendo.models.export import write_log_softmax_graph

    made = write_log_softmax_graph(tmp_path / "log_softmax.onnx")
    assert made.read_bytes() == LOG_SOFTMAX_GRAPH.read_bytes()
