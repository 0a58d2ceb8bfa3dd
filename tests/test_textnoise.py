"""Bootstrap text noise (emendo.synth.textnoise) and the pair-making script; no torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from emendo.records import TrainingPair
from emendo.synth.textnoise import NoiseOptions, TextNoiser, Vocabulary, phonetic_key
from tests.sentences import EN, RU

REPO = Path(__file__).resolve().parents[1]



@pytest.fixture(scope="module")
def noiser() -> TextNoiser:
    return TextNoiser({"en": Vocabulary.from_texts(EN * 3, "en"), "ru": Vocabulary.from_texts(RU * 3, "ru")})


def _many(noiser: TextNoiser, seed: int) -> list[TrainingPair]:
    out = []
    for i in range(400):
        lang, texts = ("en", EN) if i % 2 else ("ru", RU)
        out.append(noiser.pair(f"p{i}", texts[i % len(texts)], "asr" if i % 4 < 2 else "htr", lang, seed))
    return out


def test_deterministic(noiser: TextNoiser) -> None:
    fresh = TextNoiser({"en": Vocabulary.from_texts(EN * 3, "en"), "ru": Vocabulary.from_texts(RU * 3, "ru")})
    a, b = _many(noiser, 7), _many(fresh, 7)
    assert [p.to_dict() for p in a] == [p.to_dict() for p in b]
    c = _many(noiser, 8)
    assert [p.noisy for p in a] != [p.noisy for p in c]


def test_clean_share_and_noise(noiser: TextNoiser) -> None:
    pairs = _many(noiser, 1)
    clean = sum(p.noisy == p.clean for p in pairs) / len(pairs)
    assert 0.18 <= clean <= 0.32, clean
    for kind in ("asr", "htr"):
        for lang in ("en", "ru"):
            sub = [p for p in pairs if p.source == kind and p.lang == lang]
            assert sum(p.noisy != p.clean for p in sub) >= 0.6 * len(sub)
    assert all(p.provenance["generator"] == "textnoise" for p in pairs)
    assert all(p.provenance["clean"] == (p.noisy == p.clean) for p in pairs)


def test_asr_noise_is_word_level_and_nbest(noiser: TextNoiser) -> None:
    pairs = [p for p in _many(noiser, 2) if p.source == "asr"]
    spoken = [p for p in pairs if p.provenance["style"] == "spoken"]
    assert spoken and all(p.clean == p.clean.lower() and "," not in p.clean for p in spoken)
    with_nbest = [p for p in pairs if p.nbest]
    assert with_nbest
    for p in with_nbest:
        assert p.nbest is not None and p.nbest[0] == p.noisy and len(set(p.nbest)) == len(p.nbest) >= 2
    # ASR substitutions use real words: every noisy word of an English pair is a vocabulary word or a merge
    vocab = noiser.vocabularies["en"]
    for p in pairs:
        if p.lang == "en" and not p.provenance["ops"].get("merge") and not p.provenance["ops"].get("split"):
            for w in p.noisy.lower().split():
                core = w.strip(".,;:!?\"'")
                assert not core or core in vocab.counts, (core, p.noisy)


def test_htr_noise_keeps_script(noiser: TextNoiser) -> None:
    pairs = [p for p in _many(noiser, 3) if p.source == "htr" and p.noisy != p.clean]
    assert pairs
    ops: set[str] = set()
    for p in pairs:
        ops.update(p.provenance["ops"])
        assert p.noisy == " ".join(p.noisy.split())
    assert {"confusion", "char_del"} <= ops


def test_vocabulary_neighbours() -> None:
    vocab = Vocabulary.from_texts(["their there they're then than the cat hat bat sat", "into in to"], "en")
    words, _ = vocab.candidates("there")
    assert words[0] == "their"
    assert vocab.split("into") == ("in", "to")
    assert phonetic_key("their", "en") == phonetic_key("there", "en")
    assert phonetic_key("пруд", "ru") == phonetic_key("прут", "ru")


def test_options_no_noise() -> None:
    n = TextNoiser({"en": Vocabulary.from_texts(EN, "en")}, NoiseOptions(clean_share=1.0))
    assert all(n.pair(f"x{i}", EN[0], "htr", "en", 0).noisy == EN[0] for i in range(20))


def test_make_textnoise_pairs_script(tmp_path: Path) -> None:
    en = tmp_path / "en.txt"
    ru = tmp_path / "ru.txt"
    en.write_text("\n".join(EN * 20), encoding="utf-8")  # duplicates are dropped
    ru.write_text("\n".join(f"{s[:-1]} номер {i}." for i, s in enumerate(RU * 20)), encoding="utf-8")
    out = tmp_path / "pairs"
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "make_textnoise_pairs.py"), "--sources", "none",
                           "--text", f"{en}:en", "--text", f"{ru}:ru", "--out", str(out), "--doc-size", "5",
                           "--dev-share", "0.2", "--test-share", "0.2"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    splits: dict[str, list[TrainingPair]] = {}
    for name in ("train-00000.jsonl", "dev.jsonl", "test.jsonl"):
        lines = (out / name).read_text(encoding="utf-8").splitlines()
        splits[name] = [TrainingPair.from_dict(json.loads(line)) for line in lines]
    all_pairs = [p for ps in splits.values() for p in ps]
    assert len({p.id for p in all_pairs}) == len(all_pairs) == sum(manifest["files"].values())
    assert all(len(p.provenance["doc"]) and p.provenance["stopgap"] for p in all_pairs)
    docs = {name: {p.provenance["doc"] for p in ps} for name, ps in splits.items()}
    assert not docs["train-00000.jsonl"] & (docs["dev.jsonl"] | docs["test.jsonl"])
    assert not docs["dev.jsonl"] & docs["test.jsonl"]
    assert all(len(p.clean) <= 90 for p in all_pairs)
    en_chunks = {p.provenance["corpus"] for p in all_pairs}
    assert en_chunks == {"en.txt", "ru.txt"}
