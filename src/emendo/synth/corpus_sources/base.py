"""The reader interface shared by all corpus sources."""

from __future__ import annotations

import fnmatch
import gzip
import subprocess
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from emendo.synth.corpus import CorpusError
from emendo.synth.debian import package_root


@dataclass(frozen=True)
class Document:
    """A unit of text that never spans two splits: its id (unique within the source) and its paragraphs.

    ``licence`` overrides the source's licence for this document (e.g. a file's SPDX tag).
    """

    id: str
    paragraphs: tuple[str, ...]
    licence: str = ""


@dataclass(frozen=True)
class SourceData:
    documents: Iterator[Document]
    versions: dict[str, str]


@dataclass(frozen=True)
class Source:
    """A corpus source: ``read(cache_dir)`` fetches (or reuses) its packages and yields its documents."""

    name: str
    lang: str
    licence: str
    description: str
    read: Callable[[Path], SourceData]


def deb(pkg: str, probe: str, cache: Path) -> tuple[Path, str]:
    """(root, version) of a Debian package; ``probe`` is a path inside it that must exist."""
    root, version = package_root(pkg, probe, cache)
    if not (root / probe.lstrip("/")).exists():
        raise CorpusError(f"{pkg} {version}: {probe} missing")
    return root, version


def owned(pkg: str, root: Path, paths: Iterable[Path]) -> list[Path]:
    """``paths`` that belong to ``pkg``: all of them in an unpacked package, only the package's own files
    (``dpkg-query -L``) when ``root`` is the installed system."""
    if root != Path("/"):
        return sorted(paths)
    files = set(subprocess.run(["dpkg-query", "-L", pkg], capture_output=True, text=True,
                               check=False).stdout.splitlines())
    return sorted(p for p in paths if str(p) in files)


def package_glob(pkg: str, root: Path, pattern: str) -> list[Path]:
    """Files of ``pkg`` matching ``pattern`` (relative to the root, ``*`` crosses directories)."""
    if root != Path("/"):
        return sorted(p for p in root.glob(pattern) if p.is_file())
    listed = subprocess.run(["dpkg-query", "-L", pkg], capture_output=True, text=True, check=False).stdout
    return sorted(Path(f) for f in listed.splitlines() if fnmatch.fnmatch(f.lstrip("/"), pattern) and Path(f).is_file())


def chunked(source: str, paragraphs: Iterable[str], size: int) -> Iterator[Document]:
    """Consecutive paragraphs grouped into documents of ``size`` (for long books)."""
    buf: list[str] = []
    k = 0
    for par in paragraphs:
        buf.append(par)
        if len(buf) == size:
            yield Document(f"{source}:{k}", tuple(buf))
            buf, k = [], k + 1
    if buf:
        yield Document(f"{source}:{k}", tuple(buf))


def read_text(path: Path) -> str:
    """A text file, gunzipped when it ends in .gz; undecodable bytes replaced (the filters drop them)."""
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
            return fh.read()
    return path.read_text(encoding="utf-8", errors="replace")
