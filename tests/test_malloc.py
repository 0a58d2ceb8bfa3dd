"""emendo.malloc: glibc keeps freed memory, so repeated large allocations stop faulting pages in."""

from __future__ import annotations

import platform
import resource

import numpy as np
import pytest

from emendo.malloc import keep_freed_memory, tune_from_env

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")


def _faults_of_repeated_allocations() -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(50):
        a = np.ones(2_000_000, dtype=np.float32)  # 8 MB: above glibc's default mmap threshold
        a += 1
        del a
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@glibc
def test_keep_freed_memory_removes_the_page_faults_of_repeated_allocations():
    # this test process starts with glibc's defaults: each 8 MB array is a fresh mmap whose
    # ~2,000 pages fault in on first touch
    tuned_already = False
    cold = _faults_of_repeated_allocations()
    if cold < 20_000:
        tuned_already = True  # the process was tuned earlier (another test ran the CLI)
    assert keep_freed_memory()
    _faults_of_repeated_allocations()  # the heap grows once
    warm = _faults_of_repeated_allocations()
    assert warm < 2_000
    if not tuned_already:
        assert cold > 10 * max(warm, 1)


def test_system_setting_leaves_malloc_alone(monkeypatch):
    monkeypatch.setenv("EMENDO_MALLOC", "system")
    assert tune_from_env() is False
