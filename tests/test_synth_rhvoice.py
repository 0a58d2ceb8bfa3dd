"""emendo.synth.rhvoice around a stand-in for libRHVoice (the real library is tested in
test_synth_speech.py where RHVoice is installed; CI installs only free engines)."""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np
import pytest

from emendo.synth import rhvoice


class _Fn:
    """A callable that, like a ctypes function, takes ``argtypes``/``restype`` attributes."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def __call__(self, *args: Any) -> Any:
        return self.fn(*args)


class FakeLib:
    """The C API's five functions; speak() plays the text's bytes as samples in two chunks."""

    def __init__(self, fail_speak: bool = False) -> None:
        self.fail_speak = fail_speak
        self.params: Any = None
        self.deleted: list[str] = []
        self.RHVoice_new_tts_engine = _Fn(self._new_engine)
        self.RHVoice_delete_tts_engine = _Fn(lambda engine: self.deleted.append("engine"))
        self.RHVoice_new_message = _Fn(self._new_message)
        self.RHVoice_speak = _Fn(self._speak)
        self.RHVoice_delete_message = _Fn(lambda msg: self.deleted.append("message"))

    def _new_engine(self, params_ref: Any) -> int:
        self.params = params_ref._obj
        return 1

    def _new_message(self, engine: int, data: bytes, length: int, kind: int, synth_ref: Any, user: Any) -> int:
        synth = synth_ref._obj
        self.last = (data[:length].decode(), synth.voice_profile.decode(), synth.relative_rate,
                     synth.relative_pitch, synth.absolute_rate, kind)
        return 7

    def _speak(self, msg: int) -> int:
        cb = self.params.callbacks
        cb.set_sample_rate(24000, None)
        samples = np.frombuffer(self.last[0].encode(), dtype=np.uint8).astype(np.int16) * 100
        half = samples.size // 2
        for part in (samples[:half], samples[half:]):
            buf = (ctypes.c_short * part.size)(*part.tolist())
            cb.play_speech(buf, part.size, None)
        return 0 if self.fail_speak else 1


def test_speak_passes_relative_rate_and_pitch_and_joins_the_chunks():
    lib = FakeLib()
    engine = rhvoice.RHVoiceEngine(lib)
    assert lib.params.data_path == rhvoice.DATA_PATH.encode()
    audio, rate = engine.speak("hello there", "slt", 91, 108)
    assert rate == 24000 and audio.dtype == np.float32
    expected = np.frombuffer(b"hello there", dtype=np.uint8).astype(np.float32) * 100 / 32768
    assert np.array_equal(audio, expected)
    text, profile, rel_rate, rel_pitch, abs_rate, kind = lib.last
    assert (text, profile, kind) == ("hello there", "slt", 0)
    assert rel_rate == pytest.approx(0.91) and rel_pitch == pytest.approx(1.08) and abs_rate == 0.0
    assert lib.deleted == ["message"]
    engine.close()
    engine.close()  # idempotent
    assert lib.deleted == ["message", "engine"]


def test_a_failed_message_raises_and_leaves_no_chunks_behind():
    lib = FakeLib(fail_speak=True)
    engine = rhvoice.RHVoiceEngine(lib)
    with pytest.raises(rhvoice.RHVoiceLibraryError):
        engine.speak("abc", "alan", 100, 100)
    lib.fail_speak = False
    audio, _ = engine.speak("xy", "alan", 100, 100)
    assert audio.size == 2


def test_engine_creation_failure_and_opt_out(monkeypatch):
    lib = FakeLib()
    lib.RHVoice_new_tts_engine = _Fn(lambda params: None)
    with pytest.raises(rhvoice.RHVoiceLibraryError):
        rhvoice.RHVoiceEngine(lib)
    monkeypatch.setenv("EMENDO_RHVOICE", "subprocess")
    assert rhvoice.open_engine() is None
