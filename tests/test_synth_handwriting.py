"""Handwriting synthesis: stroke fonts, Bézier renderer, Tesseract HTR, the pairs pipeline (issue 3)."""

from __future__ import annotations

import argparse
import json
import shutil
import string
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PIL")

from emendo.synth import htr_pairs
from emendo.synth.handwriting import PRESETS, MissingGlyphsError, Style, render, sample_style
from emendo.synth.htr import Tesseract, engine_available, normalize_text
from emendo.synth.strokes import HANDS, STROKES_DIR, available_fonts, hands_for, load_font, parse_jhf
from emendo.synth.writer import read_drops, read_pairs

LATIN = string.ascii_letters + string.digits + string.punctuation
CYRILLIC = "".join(chr(c) for c in range(0x410, 0x450)) + "Ёё" + string.digits + ".,;:!?-()\"'"
SENTENCES = {
    "en": ["The cat sat on the mat near the door.", "She wrote a short letter to her brother.",
           "It was a bright cold day in April."],
    "ru": ["Мама мыла раму утром.", "Сегодня хорошая погода, и мы пошли гулять.", "Он читал книгу весь вечер."],
}


def _needs(lang: str, backend: str = "auto") -> None:
    reason = engine_available(lang, backend)
    if reason:
        pytest.skip(f"Tesseract cannot read {lang}: {reason}")


def _args(*argv: str) -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    htr_pairs.add_arguments(ap)
    return ap.parse_args([*argv, "--no-progress"])


# ------------------------------------------------------------------ stroke fonts


def test_shipped_tables_exist_and_are_small() -> None:
    names = available_fonts()
    for hand in HANDS.values():
        assert set(hand.fonts) <= set(names), hand
    assert load_font("skel-sans-italic").style == "cursive"
    data = STROKES_DIR
    total = sum(p.stat().st_size for p in data.iterdir())
    assert total < 2_000_000
    assert (data / "LICENSE-ParaType.txt").is_file() and (data / "LICENSE-Hershey.txt").is_file()


@pytest.mark.parametrize(("lang", "alphabet"), [("en", LATIN), ("ru", CYRILLIC), ("ru", LATIN)])
def test_every_hand_covers_its_alphabet(lang: str, alphabet: str) -> None:
    for hand in hands_for(lang):
        assert hand.missing(alphabet) == [], f"{hand.name} lacks {hand.missing(alphabet)}"


def test_parse_jhf_with_continuation_line() -> None:
    # glyph: bounds (-9, 5), a stroke (0,-9)->(0,9), pen up, a dot at (2, 2); wrapped after 12 chars
    text = "12345  5IWRIR[\n R" + "TT\n"
    (left, right, strokes), = parse_jhf(text)
    assert (left, right) == (-9, 5)
    assert strokes == [[(0, -9), (0, 9)], [(2, 2)]]


def test_unknown_characters_are_named() -> None:
    style = Style(hand="skel-sans-italic")
    with pytest.raises(MissingGlyphsError) as err:
        render("Hello 日本 world", style)
    assert err.value.chars == ("日", "本")
    assert "U+65E5" in str(err.value)
    assert HANDS["hershey-script"].missing("Привет") == list("Привет")


# ------------------------------------------------------------------ renderer


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_render_is_deterministic_and_styles_differ(lang: str) -> None:
    text = SENTENCES[lang][1]
    for preset in PRESETS:
        a = sample_style(np.random.default_rng(7), preset, lang)
        b = sample_style(np.random.default_rng(7), preset, lang)
        assert a == b
        img_a = render(text, a, mode="RGB").image
        img_b = render(text, b, mode="RGB").image
        assert img_a.tobytes() == img_b.tobytes()
        assert img_a.height == 64
        other = sample_style(np.random.default_rng(8), preset, lang)
        assert render(text, other).image.tobytes() != render(text, a).image.tobytes()


def test_style_parameters_are_recorded_within_preset_ranges() -> None:
    for preset, ranges in PRESETS.items():
        for seed in range(5):
            st = sample_style(np.random.default_rng(seed), preset, "ru")
            d = st.to_dict()
            assert Style.from_dict(json.loads(json.dumps(d))) == Style.from_dict(d)
            for name in ("slant_deg", "jitter", "baseline_amp", "letter_spacing", "word_spacing", "blur",
                         "paper_grain", "pressure", "width_scale"):
                lo, hi = getattr(ranges, name)
                assert lo - 1e-9 <= d[name] <= hi + 1e-9, (preset, name, d[name])
            assert d["hand"] in {h.name for h in hands_for("ru")}
            assert {"ink", "paper", "stroke_px", "cap_px", "seed"} <= set(d)


def test_rendered_ink_is_visible_and_fits() -> None:
    st = sample_style(np.random.default_rng(3), "easy", "en", hand="hershey-script")
    r = render("Quick brown fox", st, height=48)
    g = r.gray()
    assert g.shape[0] == 48
    assert g.min() < 120 and np.median(g) > 200  # dark ink on light paper
    assert r.info()["fonts"] == ["hershey-scripts"]


def test_normalize_text() -> None:
    assert normalize_text("  “Hi” — it’s\u00a0fine…\n") == '"Hi" - it\'s fine...'
    assert normalize_text("«Ёлка»  –  да") == '"Ёлка" - да'
    assert normalize_text("\t\n") == ""


# ------------------------------------------------------------------ input


def test_read_items_jsonl_errors_and_windows(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    long = " ".join(["word"] * 40)  # 199 characters -> 3 windows of <= 90
    src.write_bytes("\n".join([
        json.dumps({"id": "a", "text": "Fine text.", "lang": "en", "source": "test"}),
        "{not json",
        json.dumps(["a", "list"]),
        json.dumps({"id": "b"}),
        json.dumps({"id": "c", "text": "   "}),
        json.dumps({"id": "d", "text": "Bonjour", "lang": "fr"}),
        json.dumps({"id": "e", "text": long}),
    ]).encode() + b"\n\xff\xfe broken\n")
    got = list(htr_pairs.read_items(src, default_lang="en"))
    bad = {(g.id, g.reason) for g in got if isinstance(g, htr_pairs.BadItem)}
    assert bad == {("in:2", "bad_json"), ("in:3", "bad_record"), ("b", "bad_record"), ("c", "empty_text"),
                   ("d", "unsupported_lang"), ("in:8", "bad_encoding")}
    items = [g for g in got if isinstance(g, htr_pairs.Item)]
    assert items[0] == htr_pairs.Item("a", "en", "Fine text.", "test", "a")
    assert [i.id for i in items[1:]] == ["e#0", "e#1", "e#2"]
    assert all(len(i.text) <= 90 for i in items) and " ".join(i.text for i in items[1:]) == long


def test_item_seed_depends_on_seed_and_id_only() -> None:
    assert htr_pairs.item_seed(1, "x") == htr_pairs.item_seed(1, "x")
    assert htr_pairs.item_seed(1, "x") != htr_pairs.item_seed(2, "x")
    assert htr_pairs.item_seed(1, "x") != htr_pairs.item_seed(1, "y")


# ------------------------------------------------------------------ HTR + pipeline (real Tesseract)


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_tesseract_reads_an_easy_line(lang: str) -> None:
    _needs(lang)
    text = SENTENCES[lang][0]
    st = sample_style(np.random.default_rng(0), "easy", lang, hand="skel-serif-italic")
    with Tesseract(lang) as engine:
        res = engine.recognize(render(text, st).image)
        assert engine.info()["psm"] == 13 and engine.info()["engine"] == "tesseract"
    assert res.text and res.text == normalize_text(res.raw)
    from rapidfuzz.distance import Levenshtein
    assert Levenshtein.distance(text, res.text) / len(text) < 0.3


def test_cli_and_library_backends_agree() -> None:
    _needs("en", "cli")
    _needs("en", "capi")
    st = sample_style(np.random.default_rng(1), "medium", "en")
    image = render(SENTENCES["en"][2], st).image
    with Tesseract("en", backend="capi") as lib, Tesseract("en", backend="cli") as cli:
        assert lib.recognize(image).text == cli.recognize(image).text


def _write_inputs(tmp_path: Path) -> Path:
    src = tmp_path / "sentences.jsonl"
    lines = [json.dumps({"id": f"{lang}-{i}", "text": t, "lang": lang, "source": "unit-test"}, ensure_ascii=False)
             for lang, texts in SENTENCES.items() for i, t in enumerate(texts)]
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return src


def test_pipeline_pairs_resume_and_worker_independence(tmp_path: Path) -> None:
    _needs("en")
    _needs("ru")
    src = _write_inputs(tmp_path)
    out = tmp_path / "run"
    assert htr_pairs.run(_args(str(src), "--out", str(out), "--workers", "1", "--seed", "5", "--limit", "4",
                               "--max-cer", "1.0")) == 0
    first = {p.id for p in read_pairs(out)} | {d["id"] for d in read_drops(out)}
    assert len(first) == 4
    # resume: the first four are skipped, the rest is added
    assert htr_pairs.run(_args(str(src), "--out", str(out), "--workers", "1", "--seed", "5",
                               "--max-cer", "1.0")) == 0
    pairs = read_pairs(out)
    assert sorted(p.id for p in pairs) == sorted(f"{lang}-{i}" for lang in SENTENCES for i in range(3))
    report = json.loads((out / "report.json").read_text())
    assert report["run"]["skipped_done"] == 4 and report["pairs"] == 6
    assert {"en/all", "ru/all"} <= set(report["cer"])
    assert (out / "report.md").read_text().startswith("# Handwriting -> HTR pairs")
    for p in pairs:
        assert p.source == "htr" and p.lang in ("en", "ru") and p.noisy
        prov = p.provenance
        assert prov["preset"] in PRESETS and prov["style"]["hand"] == prov["hand"]
        assert prov["htr"]["engine"] == "tesseract" and prov["htr"]["lang"] in ("eng", "rus")
        assert prov["text_source"] == "unit-test" and prov["seed"] == 5 and prov["stroke_fonts"]
        assert 0 <= prov["cer"] <= 1.0
        if p.confidences is not None:
            assert len(p.confidences) == len(p.noisy.split())
    # same seed, two workers, fresh directory: the same pairs
    out2 = tmp_path / "run2"
    assert htr_pairs.run(_args(str(src), "--out", str(out2), "--workers", "2", "--seed", "5",
                               "--max-cer", "1.0")) == 0
    assert {p.id: (p.noisy, p.provenance["style"]) for p in read_pairs(out2)} == \
        {p.id: (p.noisy, p.provenance["style"]) for p in pairs}


def test_pipeline_corrupt_input_becomes_drops(tmp_path: Path) -> None:
    _needs("en")
    src = tmp_path / "bad.jsonl"
    src.write_text("\n".join([
        "{oops",
        json.dumps({"id": "empty", "text": ""}),
        json.dumps({"id": "nolang", "text": "hola", "lang": "es"}),
        json.dumps({"id": "cjk", "text": "Hello 日本"}),
        json.dumps({"id": "ok", "text": "A plain line of text."}),
    ]) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    assert htr_pairs.run(_args(str(src), "--out", str(out), "--workers", "1", "--max-cer", "1.0")) == 0
    reasons = {d["id"]: d["reason"] for d in read_drops(out)}
    assert reasons == {"bad:1": "bad_json", "empty": "empty_text", "nolang": "unsupported_lang",
                       "cjk": "unknown_chars"}
    cjk = next(d for d in read_drops(out) if d["id"] == "cjk")
    assert cjk["chars"] == ["日", "本"] and cjk["codepoints"] == ["U+65E5", "U+672C"]
    assert [p.id for p in read_pairs(out)] == ["ok"]


def test_cer_ceiling_drops_lost_lines() -> None:
    _needs("en")
    item = htr_pairs.Item("x", "en", "Minimum quorum of jumpy wizards", "t", "x")
    out = htr_pairs.make_pair(item, htr_pairs.Config(preset="hard", max_cer=1e-9))
    if "drop" in out:
        assert out["drop"]["reason"] in ("cer_ceiling", "empty_output")
    else:
        assert out["pair"]["provenance"]["cer"] == 0


def test_empty_or_missing_input_is_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    assert htr_pairs.run(_args(str(empty), "--out", str(tmp_path / "o"), "--workers", "1")) == 2
    assert htr_pairs.run(_args(str(tmp_path / "nope.txt"), "--out", str(tmp_path / "o2"), "--workers", "1")) == 2


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract program not installed")
def test_missing_language_is_reported() -> None:
    assert engine_available("de") is not None
    assert "de" in str(engine_available("de"))
