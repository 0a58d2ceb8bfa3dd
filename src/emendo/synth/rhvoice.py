"""RHVoice in-process through its C library (``libRHVoice.so.5``, Debian ``librhvoice5``).

``RHVoice-test`` loads the engine and the voice again for every utterance (~0.1 CPU-s of its
~0.3 s per sentence); one engine held for the life of a worker pays that once per voice.
The audio is the same, sample for sample: ``RHVoice-test -r R -t P`` sets the *relative*
rate and pitch to R/100 and P/100, and :meth:`RHVoiceEngine.speak` does the same through
``RHVoice_synth_params`` (the absolute values stay at the voice's defaults).

When the library is missing (only the ``rhvoice`` command-line tools are installed),
:func:`open_engine` returns None and :class:`emendo.synth.tts.Synthesizer` runs
``RHVoice-test`` as before. ``EMENDO_RHVOICE=subprocess`` forces that path.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from typing import Any

import numpy as np

__all__ = ["RHVoiceEngine", "RHVoiceLibraryError", "open_engine"]

DATA_PATH = "/usr/share/RHVoice"
CONFIG_PATH = "/etc/RHVoice"

_SetRate = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p)
_Play = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_uint, ctypes.c_void_p)


class _Callbacks(ctypes.Structure):
    # RHVoice.h, RHVoice_callbacks: the two required ones, the optional ones left NULL
    _fields_ = [("set_sample_rate", _SetRate), ("play_speech", _Play), ("process_mark", ctypes.c_void_p),
                ("word_starts", ctypes.c_void_p), ("word_ends", ctypes.c_void_p),
                ("sentence_starts", ctypes.c_void_p), ("sentence_ends", ctypes.c_void_p),
                ("play_audio", ctypes.c_void_p), ("done", ctypes.c_void_p)]


class _InitParams(ctypes.Structure):
    _fields_ = [("data_path", ctypes.c_char_p), ("config_path", ctypes.c_char_p),
                ("resource_paths", ctypes.POINTER(ctypes.c_char_p)), ("callbacks", _Callbacks),
                ("options", ctypes.c_uint)]


class _SynthParams(ctypes.Structure):
    _fields_ = [("voice_profile", ctypes.c_char_p), ("absolute_rate", ctypes.c_double),
                ("absolute_pitch", ctypes.c_double), ("absolute_volume", ctypes.c_double),
                ("relative_rate", ctypes.c_double), ("relative_pitch", ctypes.c_double),
                ("relative_volume", ctypes.c_double), ("punctuation_mode", ctypes.c_int),
                ("punctuation_list", ctypes.c_char_p), ("capitals_mode", ctypes.c_int), ("flags", ctypes.c_int)]


_MESSAGE_TEXT = 0  # RHVoice_message_text


class RHVoiceLibraryError(RuntimeError):
    """The library refused a message or produced no audio."""


class RHVoiceEngine:
    """One RHVoice engine; voices load on first use and stay loaded."""

    def __init__(self, lib: Any, data_path: str = DATA_PATH, config_path: str = CONFIG_PATH) -> None:
        self._lib = lib
        lib.RHVoice_new_tts_engine.restype = ctypes.c_void_p
        lib.RHVoice_new_tts_engine.argtypes = [ctypes.POINTER(_InitParams)]
        lib.RHVoice_delete_tts_engine.argtypes = [ctypes.c_void_p]
        lib.RHVoice_new_message.restype = ctypes.c_void_p
        lib.RHVoice_new_message.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint, ctypes.c_int,
                                            ctypes.POINTER(_SynthParams), ctypes.c_void_p]
        lib.RHVoice_speak.argtypes = [ctypes.c_void_p]
        lib.RHVoice_delete_message.argtypes = [ctypes.c_void_p]
        self._rate = 0
        self._chunks: list[np.ndarray[Any, np.dtype[np.int16]]] = []
        # the callbacks must outlive the engine: keep them on the instance
        self._cb_rate = _SetRate(self._on_rate)
        self._cb_play = _Play(self._on_play)
        params = _InitParams(data_path.encode(), config_path.encode(), None,
                             _Callbacks(self._cb_rate, self._cb_play, None, None, None, None, None, None, None), 0)
        self._engine = lib.RHVoice_new_tts_engine(ctypes.byref(params))
        if not self._engine:
            raise RHVoiceLibraryError(f"RHVoice_new_tts_engine failed (data {data_path}, config {config_path})")

    def _on_rate(self, rate: int, _user: Any) -> int:
        self._rate = int(rate)
        return 1

    def _on_play(self, samples: Any, count: int, _user: Any) -> int:
        if count:
            self._chunks.append(np.ctypeslib.as_array(samples, (count,)).copy())
        return 1

    def speak(self, text: str, profile: str, rate_pct: int, pitch_pct: int) -> tuple[np.ndarray[Any, Any], int]:
        """``text`` in voice ``profile`` at ``rate_pct``/``pitch_pct`` percent of the voice's own:
        float32 audio in [-1, 1] and its sample rate (what ``RHVoice-test -r -t`` writes)."""
        data = text.encode("utf-8")
        params = _SynthParams(profile.encode(), 0.0, 0.0, 0.0, rate_pct / 100.0, pitch_pct / 100.0, 1.0,
                              0, None, 0, 0)
        self._chunks = []
        msg = self._lib.RHVoice_new_message(self._engine, data, len(data), _MESSAGE_TEXT, ctypes.byref(params), None)
        if not msg:
            raise RHVoiceLibraryError(f"RHVoice refused the message (voice {profile!r})")
        try:
            ok = self._lib.RHVoice_speak(msg)
        finally:
            self._lib.RHVoice_delete_message(msg)
        chunks, self._chunks = self._chunks, []
        if not ok:
            raise RHVoiceLibraryError(f"RHVoice_speak failed (voice {profile!r})")
        audio = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
        return audio.astype(np.float32) / 32768.0, self._rate

    def close(self) -> None:
        if self._engine:
            self._lib.RHVoice_delete_tts_engine(self._engine)
            self._engine = None


def open_engine() -> RHVoiceEngine | None:
    """An engine over the installed library, or None (library or voice data missing, or
    ``EMENDO_RHVOICE=subprocess``)."""
    if os.environ.get("EMENDO_RHVOICE", "").lower() == "subprocess" or not os.path.isdir(DATA_PATH):
        return None
    name = ctypes.util.find_library("RHVoice")
    if not name:
        return None
    try:
        return RHVoiceEngine(ctypes.CDLL(name))
    except (OSError, AttributeError, RHVoiceLibraryError):
        return None
