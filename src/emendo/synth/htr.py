"""Handwriting recognition for synthetic pairs: Tesseract in raw-line mode, one engine per process.

:class:`Tesseract` reads one text line image (PSM 13, "raw line": no layout analysis,
the whole image is one line; LSTM engine, OEM 1) in English (``eng``) or Russian
(``rus``) and returns the text, normalised by :func:`normalize_text` (curly quotes and
dashes to ASCII, whitespace collapsed), with per-word confidences.

Two backends, same engine:

``capi`` (preferred)
    libtesseract's C API through :mod:`ctypes`: the model loads once per process and
    a line costs only recognition (~40 ms for a 60-character line here). The library is
    Debian's ``libtesseract5`` (``libtesseract.so.5``) or the one named by
    ``EMENDO_LIBTESSERACT``.
``cli``
    the ``tesseract`` program, image on stdin, text on stdout: no library needed, but it
    reloads the model for every line (~0.2 s more per line).

``OMP_THREAD_LIMIT=1`` is set before the library loads (and for the program): the
pipeline runs one engine per worker process, and OpenMP threads inside each only
slow a loaded machine down. Language data comes from Debian ``tesseract-ocr-eng`` /
``tesseract-ocr-rus`` (or ``TESSDATA_PREFIX``). :func:`engine_available` tells whether
a language can be read at all and, if not, why.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import io
import os
import re
import shutil
import subprocess
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from emendo.errors import EmendoError

__all__ = [
    "LANGS",
    "HtrResult",
    "HtrUnavailableError",
    "Tesseract",
    "close_engines",
    "engine_available",
    "get_engine",
    "normalize_text",
    "tessdata_dir",
]

LANGS = {"en": "eng", "ru": "rus"}
PSM_RAW_LINE = 13
OEM_LSTM = 1
DPI = 300
# Tesseract 5 re-reads a line upside down (inverted) when its confidence is low: useless on our
# dark-on-light lines and ~30% of the time on hard ones. Off, for both backends.
VARIABLES = {"tessedit_do_invert": "0"}


class HtrUnavailableError(EmendoError, RuntimeError):
    """The recognizer (program, library or language data) is not installed."""


# ------------------------------------------------------------------ normalisation

_TRANSLATE = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u00ab": '"', "\u00bb": '"', "\u2033": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
    "\u00ad": None, "\u200b": None, "\u200c": None, "\u200d": None, "\ufeff": None,
})
_WS = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """NFC; curly quotes/guillemets -> ASCII quotes; dashes/minus -> ``-``; ``…`` -> ``...``; one space.

    Applied to recognizer output and to the clean side of a pair alike, so a pair never
    differs only in typography the renderer cannot show.
    """
    text = unicodedata.normalize("NFC", text).translate(_TRANSLATE).replace("\u2026", "...")
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Zs", "Zl", "Zp") else c for c in text)
    return _WS.sub(" ", text).strip()


# ------------------------------------------------------------------ engine


@dataclass(frozen=True, slots=True)
class HtrResult:
    """One recognised line: normalised text, raw engine output, word confidences in [0, 1]."""

    text: str
    raw: str
    word_confidences: tuple[float, ...] | None
    mean_confidence: float | None


def tessdata_dir() -> Path | None:
    """Where the language data is: ``TESSDATA_PREFIX`` or Debian's tessdata directory."""
    env = os.environ.get("TESSDATA_PREFIX")
    candidates = [Path(env)] if env else []
    candidates += [Path("/usr/share/tesseract-ocr/5/tessdata"), Path("/usr/share/tesseract-ocr/4.00/tessdata"),
                   Path("/usr/share/tessdata")]
    for c in candidates:
        if c.is_dir() and any(c.glob("*.traineddata")):
            return c
    return None


def _find_library() -> str | None:
    """The libtesseract to load (not loaded here: OMP_THREAD_LIMIT must be set first)."""
    env = os.environ.get("EMENDO_LIBTESSERACT")
    if env:
        return env
    for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib"):
        for name in ("libtesseract.so.5", "libtesseract.so"):
            if (Path(d) / name).exists():
                return str(Path(d) / name)
    return ctypes.util.find_library("tesseract")


def engine_available(lang: str, backend: str = "auto") -> str | None:
    """None if ``lang`` (``en``/``ru``) can be recognised with ``backend``, else the reason it cannot."""
    if lang not in LANGS:
        return f"no recognizer for language {lang!r} (have: {', '.join(LANGS)})"
    data = tessdata_dir()
    if data is None:
        return "no Tesseract language data (apt-get install tesseract-ocr-eng tesseract-ocr-rus)"
    if not (data / f"{LANGS[lang]}.traineddata").is_file():
        return (f"Tesseract language data {LANGS[lang]}.traineddata missing in {data} "
                f"(apt-get install tesseract-ocr-{LANGS[lang]})")
    if backend == "capi" and _find_library() is None:
        return "libtesseract not found (apt-get install libtesseract5, or set EMENDO_LIBTESSERACT)"
    if backend == "cli" and shutil.which("tesseract") is None:
        return "the tesseract program is not installed (apt-get install tesseract-ocr)"
    if backend == "auto" and _find_library() is None and shutil.which("tesseract") is None:
        return "neither libtesseract nor the tesseract program is installed (apt-get install tesseract-ocr)"
    if backend not in ("auto", "capi", "cli"):
        return f"unknown backend {backend!r} (auto, capi, cli)"
    return None


class Tesseract:
    """One Tesseract engine for one language, raw-line mode. Not thread-safe; one per process."""

    def __init__(self, lang: str, *, backend: str = "auto", psm: int = PSM_RAW_LINE, oem: int = OEM_LSTM) -> None:
        reason = engine_available(lang, backend)
        if reason:
            raise HtrUnavailableError(reason)
        os.environ["OMP_THREAD_LIMIT"] = "1"
        self.lang = lang
        self.code = LANGS[lang]
        self.psm = psm
        self.oem = oem
        self.datadir = tessdata_dir()
        if backend == "auto":
            backend = "capi" if _find_library() else "cli"
        self.backend = backend
        self._api: _CApi | None = None
        if backend == "capi":
            self._api = _CApi(str(_find_library()), str(self.datadir), self.code, psm, oem)
            self.version = self._api.version
        else:
            out = subprocess.run(["tesseract", "--version"], capture_output=True, text=True, check=False)
            first = (out.stdout or out.stderr).splitlines()
            self.version = first[0].split()[-1] if first else "unknown"

    def info(self) -> dict[str, Any]:
        """Provenance of this engine."""
        return {"engine": "tesseract", "version": self.version, "backend": self.backend, "lang": self.code,
                "psm": self.psm, "oem": self.oem, "traineddata": _traineddata_info(self.datadir, self.code)}

    def recognize(self, image: Image.Image | NDArray[np.uint8]) -> HtrResult:
        """Read one line image (grey or RGB)."""
        gray = _as_gray(image)
        if self._api is not None:
            raw, confs = self._api.recognize(gray)
        else:
            raw, confs = self._cli(gray), None
        text = normalize_text(raw)
        words = None
        mean = None
        if confs is not None:
            mean = round(sum(confs) / len(confs) / 100, 4) if confs else None
            if len(confs) == len(text.split()):
                words = tuple(round(max(0.0, min(100.0, c)) / 100, 4) for c in confs)
        return HtrResult(text, raw, words, mean)

    def _cli(self, gray: NDArray[np.uint8]) -> str:
        buf = io.BytesIO()
        Image.fromarray(gray, "L").save(buf, format="PNG")
        env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
        if self.datadir is not None:
            env["TESSDATA_PREFIX"] = str(self.datadir)
        proc = subprocess.run(["tesseract", "stdin", "stdout", "-l", self.code, "--psm", str(self.psm),
                               "--oem", str(self.oem), "--dpi", str(DPI),
                               *[a for k, v in VARIABLES.items() for a in ("-c", f"{k}={v}")]],
                              input=buf.getvalue(), capture_output=True, check=False, env=env)
        if proc.returncode != 0:
            raise RuntimeError(f"tesseract failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[-500:]}")
        return proc.stdout.decode("utf-8", errors="replace")

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None

    def __enter__(self) -> Tesseract:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_ENGINES: dict[tuple[str, str], Tesseract] = {}


def get_engine(lang: str, backend: str = "auto") -> Tesseract:
    """This process's engine for ``lang`` (created on first use, then reused)."""
    key = (lang, backend)
    if key not in _ENGINES:
        if not _ENGINES:
            atexit.register(close_engines)
        _ENGINES[key] = Tesseract(lang, backend=backend)
    return _ENGINES[key]


def close_engines() -> None:
    """Close this process's engines (also run at exit, so libtesseract frees its caches quietly)."""
    while _ENGINES:
        _ENGINES.popitem()[1].close()


def _as_gray(image: Image.Image | NDArray[np.uint8]) -> NDArray[np.uint8]:
    if isinstance(image, Image.Image):
        img = image if image.mode == "L" else image.convert("L")
        return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))
    arr = np.asarray(image)
    if arr.ndim == 3:
        arr = np.asarray(Image.fromarray(arr.astype(np.uint8)).convert("L"))
    return np.ascontiguousarray(arr, dtype=np.uint8)


@cache
def _traineddata_info(datadir: Path | None, code: str) -> str:
    """The Debian package version of the language data, or its file size if not packaged."""
    pkg = f"tesseract-ocr-{code}"
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True,
                             check=False, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        out = ""
    if out:
        return f"{pkg} {out}"
    path = (datadir or Path()) / f"{code}.traineddata"
    return f"{path} ({path.stat().st_size} bytes)" if path.exists() else "unknown"


class _CApi:
    """The few calls of libtesseract's C API (capi.h) a raw-line reader needs."""

    def __init__(self, library: str, datadir: str, code: str, psm: int, oem: int) -> None:
        os.environ["OMP_THREAD_LIMIT"] = "1"  # read by OpenMP when the library loads
        lib = ctypes.CDLL(library)
        vp, cp, ci = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
        lib.TessVersion.restype = cp
        lib.TessBaseAPICreate.restype = vp
        lib.TessBaseAPIInit2.argtypes = [vp, cp, cp, ci]
        lib.TessBaseAPIInit2.restype = ci
        lib.TessBaseAPISetPageSegMode.argtypes = [vp, ci]
        lib.TessBaseAPISetVariable.argtypes = [vp, cp, cp]
        lib.TessBaseAPISetVariable.restype = ci
        lib.TessBaseAPISetImage.argtypes = [vp, cp, ci, ci, ci, ci]
        lib.TessBaseAPISetSourceResolution.argtypes = [vp, ci]
        lib.TessBaseAPIGetUTF8Text.argtypes = [vp]
        lib.TessBaseAPIGetUTF8Text.restype = vp
        lib.TessDeleteText.argtypes = [vp]
        lib.TessBaseAPIAllWordConfidences.argtypes = [vp]
        lib.TessBaseAPIAllWordConfidences.restype = ctypes.POINTER(ci)
        lib.TessDeleteIntArray.argtypes = [ctypes.POINTER(ci)]
        lib.TessBaseAPIClear.argtypes = [vp]
        lib.TessBaseAPIEnd.argtypes = [vp]
        lib.TessBaseAPIDelete.argtypes = [vp]
        self.lib = lib
        self.version = (lib.TessVersion() or b"unknown").decode()
        self.handle: int | None = lib.TessBaseAPICreate()
        if lib.TessBaseAPIInit2(self.handle, datadir.encode(), code.encode(), oem) != 0:
            lib.TessBaseAPIDelete(self.handle)
            self.handle = None
            raise HtrUnavailableError(f"libtesseract could not load language {code!r} from {datadir}")
        lib.TessBaseAPISetPageSegMode(self.handle, psm)
        for name, value in VARIABLES.items():
            if not lib.TessBaseAPISetVariable(self.handle, name.encode(), value.encode()):
                raise HtrUnavailableError(f"libtesseract {self.version} does not know the variable {name!r}")

    def recognize(self, gray: NDArray[np.uint8]) -> tuple[str, list[float]]:
        if self.handle is None:
            raise RuntimeError("engine closed")
        lib, h = self.lib, self.handle
        height, width = gray.shape
        lib.TessBaseAPISetImage(h, gray.tobytes(), width, height, 1, width)
        lib.TessBaseAPISetSourceResolution(h, DPI)
        ptr = lib.TessBaseAPIGetUTF8Text(h)
        text = ctypes.string_at(ptr).decode("utf-8", errors="replace") if ptr else ""
        if ptr:
            lib.TessDeleteText(ptr)
        confs: list[float] = []
        arr = lib.TessBaseAPIAllWordConfidences(h)
        if arr:
            i = 0
            while arr[i] != -1:
                confs.append(float(arr[i]))
                i += 1
            lib.TessDeleteIntArray(arr)
        lib.TessBaseAPIClear(h)
        return text, confs

    def close(self) -> None:
        if self.handle is not None:
            self.lib.TessBaseAPIEnd(self.handle)
            self.lib.TessBaseAPIDelete(self.handle)
            self.handle = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown
            self.close()
