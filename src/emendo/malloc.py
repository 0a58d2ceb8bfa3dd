"""Process-wide malloc tuning: keep freed memory for reuse (glibc ``mallopt``).

The heavy loops of emendo (Whisper through CTranslate2, the denoising LM's ONNX Runtime
decode loop with numpy KV caches, audio FFTs) allocate and free buffers of 0.1-10 MB on every
call. Above glibc's default mmap threshold each is a fresh ``mmap`` whose pages fault in on
first touch and an ``munmap`` afterwards. Measured on the 2-core dev machine: ~12% of a speech
synth worker's CPU time and ~10% of the DLM's batch decoding went to the kernel that way;
serving those buffers from the heap removes nearly all of it (``bench/`` notes).

``emendo`` (the console script) calls :func:`keep_freed_memory` at start;
``EMENDO_MALLOC=system`` keeps glibc's defaults. Library users may call it themselves.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

__all__ = ["keep_freed_memory", "tune_from_env"]

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3


def keep_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 512 << 20,
                      top_pad: int = 64 << 20) -> bool:
    """Let glibc keep freed memory for reuse instead of returning it to the kernel: blocks
    below ``mmap_threshold`` come from the heap, which keeps up to ``trim_threshold`` free at
    its top (the process stays larger by its largest working set, tens of MB). Returns False
    where glibc's ``mallopt`` is not available (other C libraries): nothing changes there."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = [mallopt(_M_MMAP_THRESHOLD, mmap_threshold), mallopt(_M_TRIM_THRESHOLD, trim_threshold),
          mallopt(_M_TOP_PAD, top_pad)]
    return all(r == 1 for r in ok)


def tune_from_env() -> bool:
    """:func:`keep_freed_memory` unless ``EMENDO_MALLOC=system``."""
    if os.environ.get("EMENDO_MALLOC", "").strip().lower() == "system":
        return False
    return keep_freed_memory()
