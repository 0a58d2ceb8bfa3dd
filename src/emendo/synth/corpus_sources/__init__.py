"""Offline text sources for the sentence corpora: one reader per source, each giving documents + package versions.

Every source names its language and the licence of its text; the corpus builder copies
that licence into each sentence record. Debian packages are fetched with ``apt-get
download`` and unpacked into a cache directory (nothing is installed); see
:func:`emendo.synth.debian.package_root`. Sources and licences are listed in
:data:`SOURCES` (English: :mod:`.english`, Russian: :mod:`.russian`).
"""

from __future__ import annotations

from emendo.synth.corpus_sources.base import Document, Source, SourceData
from emendo.synth.corpus_sources.english import ENGLISH
from emendo.synth.corpus_sources.russian import RUSSIAN

SOURCES: dict[str, Source] = {s.name: s for s in (*ENGLISH, *RUSSIAN)}

__all__ = ["SOURCES", "Document", "Source", "SourceData"]
