"""Paragraph extraction from the formats the corpus sources ship: wrapped text, HTML, reStructuredText,
troff man pages, gettext .mo catalogues and R lazy-load databases."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterable, Iterator
from html.parser import HTMLParser
from pathlib import Path

from emendo.synth.corpus import CorpusError


def paragraphs(lines: Iterable[str]) -> Iterator[str]:
    """Join wrapped lines into paragraphs (blank lines separate paragraphs)."""
    buf: list[str] = []
    for line in lines:
        line = line.strip()
        if line:
            buf.append(line)
        elif buf:
            yield " ".join(buf)
            buf = []
    if buf:
        yield " ".join(buf)


# ------------------------------------------------------------------ HTML

_BLOCK = frozenset({"p", "li", "dd", "dt", "td", "th", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "div",
                    "caption", "title", "br", "tr", "table", "ul", "ol", "dl", "section"})
_SKIP = frozenset({"pre", "script", "style", "code", "kbd", "samp", "tt"})
_PROSE = frozenset({"p", "li", "dd", "blockquote", "td"})


class _Paragraphs(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._buf: list[str] = []
        self._skip = 0
        self._prose = 0
        self._code_inline = False

    def _flush(self) -> None:
        text = " ".join("".join(self._buf).split())
        if text and self._prose:
            self.out.append(text)
        self._buf = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("pre", "script", "style"):
            self._flush()
            self._skip += 1
        elif tag in _SKIP:  # inline code: keep a marker so the sentence is filtered out
            self._buf.append("{code}")
            self._skip += 1
        elif tag in _BLOCK:
            self._flush()
            self._prose += tag in _PROSE

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK:
            self._flush()
            self._prose = max(0, self._prose - (tag in _PROSE))

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._buf.append(data)


def html_paragraphs(html: str) -> list[str]:
    """The text of prose blocks (p, li, dd, blockquote, td); code and preformatted text left out."""
    parser = _Paragraphs()
    parser.feed(html)
    parser.close()
    parser._flush()
    return parser.out


# ------------------------------------------------------------------ reStructuredText

_RST_ROLE = re.compile(r":[\w:+-]+:`~?!?([^`<]*?)(?:\s*<[^>]*>)?`")
_RST_LINK = re.compile(r"`([^`<]*?)(?:\s*<[^>]*>)?`__?")
_RST_LITERAL = re.compile(r"``([^`]*)``")
_RST_EMPH = re.compile(r"\*\*?([^*]+)\*\*?")
_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+.:_])\1{2,}\s*$")
_BULLET = re.compile(r"^(?:[-*+\u2022]|\d+[.)]|#\.|[a-z][.)])\s+")


def rst_paragraphs(text: str) -> Iterator[str]:
    """Prose paragraphs of a reST document: no directives, literal blocks, tables or section titles."""
    lines = text.splitlines()
    blocks: list[list[str]] = [[]]
    for line in lines:
        if line.strip():
            blocks[-1].append(line)
        elif blocks[-1]:
            blocks.append([])
    literal_after: int | None = None
    for block in blocks:
        if not block:
            continue
        indent = len(block[0]) - len(block[0].lstrip())
        if literal_after is not None and indent > literal_after:
            continue
        literal_after = None
        first = block[0].strip()
        if first.startswith((".. ", "..\t", ":", "|", "+-", "=", ">>>", "$ ", "#")) or first == "..":
            if first.startswith(".. ") or first == "..":
                literal_after = indent
            continue
        if any(_UNDERLINE.match(ln.strip()) for ln in block):
            continue
        par = " ".join(ln.strip() for ln in block)
        if par.endswith("::"):
            literal_after = indent
            par = par[:-1]
        par = _BULLET.sub("", par)
        par = _RST_ROLE.sub(r"\1", par)
        par = _RST_LITERAL.sub(r"{code}", par)
        par = _RST_LINK.sub(r"\1", par)
        par = _RST_EMPH.sub(r"\1", par)
        yield par


# ------------------------------------------------------------------ troff

_TROFF = [(re.compile(r"\\f(?:\[[^\]]*\]|\(..|.)"), ""), (re.compile(r"\\[/,&|^%]"), ""),
          (re.compile(r"\\\(em|\\\(en"), " \u2014 "), (re.compile(r"\\\((?:lq|Fo)"), "\u00ab"),
          (re.compile(r"\\\((?:rq|Fc)"), "\u00bb"), (re.compile(r"\\\((?:aq|cq)"), "'"),
          (re.compile(r"\\-"), "-"), (re.compile(r"\\e"), "\\\\"), (re.compile(r"\\ "), " ")]
_FONT_MACRO = re.compile(r"^\.(?:B|I|BI|IB|BR|RB|IR|RI|SM|SB)\s+(.*)$")


def troff_paragraphs(source: str) -> Iterator[str]:
    """Running text of a man page: font macros kept as words, other requests end a paragraph,
    lines with leftover escapes dropped; ``.nf``/``.EX`` blocks skipped."""
    buf: list[str] = []
    nofill = False
    for line in [*source.splitlines(), ".PP"]:
        m = _FONT_MACRO.match(line)
        if m:
            line = m.group(1).replace('"', "")
        elif line.startswith((".", "'")):
            nofill = line.startswith((".nf", ".EX")) or (nofill and not line.startswith((".fi", ".EE")))
            if buf:
                yield " ".join(buf)
            buf = []
            continue
        if nofill:
            continue
        for pattern, repl in _TROFF:
            line = pattern.sub(repl, line)
        if "\\" not in line:
            buf.append(line.strip())


# ------------------------------------------------------------------ gettext catalogues


def mo_messages(path: Path) -> list[tuple[str, str]]:
    """(msgid, msgstr) pairs of a GNU .mo file; plural forms joined by NUL are split off (first form kept)."""
    data = path.read_bytes()
    if len(data) < 28:
        raise CorpusError(f"{path}: too short for a .mo file")
    magic = struct.unpack("<I", data[:4])[0]
    order = "<" if magic == 0x950412DE else ">" if magic == 0xDE120495 else ""
    if not order:
        raise CorpusError(f"{path}: not a .mo file (magic {magic:#x})")
    _rev, n, orig, trans = struct.unpack(order + "4I", data[4:20])
    out = []
    for i in range(n):
        olen, ooff = struct.unpack(order + "2I", data[orig + 8 * i:orig + 8 * i + 8])
        tlen, toff = struct.unpack(order + "2I", data[trans + 8 * i:trans + 8 * i + 8])
        msgid = data[ooff:ooff + olen].split(b"\0")[0].decode("utf-8", "replace")
        msgstr = data[toff:toff + tlen].split(b"\0")[0].decode("utf-8", "replace")
        if msgid and msgstr:
            out.append((msgid, msgstr))
    return out


# ------------------------------------------------------------------ R lazy-load data (Debian r-cran-* packages)


def iter_rdb(data: bytes) -> Iterator[bytes]:
    """The objects of an R lazy-load database (.rdb): 4-byte length + zlib stream each."""
    pos = 0
    while pos < len(data):
        d = zlib.decompressobj()
        out = d.decompress(data[pos + 4:])
        pos = len(data) - len(d.unused_data)
        yield out


def r_strings(blob: bytes) -> list[str] | None:
    """A character vector from R's XDR serialisation, or None for any other object."""
    if blob[:2] != b"X\n":
        return None
    p = 2
    (version,) = struct.unpack(">i", blob[p:p + 4])
    p += 12
    if version == 3:
        (n,) = struct.unpack(">i", blob[p:p + 4])
        p += 4 + n
    (flags,) = struct.unpack(">i", blob[p:p + 4])
    p += 4
    if flags & 0xFF != 16:  # STRSXP
        return None
    (n,) = struct.unpack(">i", blob[p:p + 4])
    p += 4
    out = []
    for _ in range(n):
        _flags, length = struct.unpack(">ii", blob[p:p + 8])
        p += 8
        out.append(blob[p:p + max(length, 0)].decode("utf-8", "replace") if length >= 0 else "")
        p += max(length, 0)
    return out


def r_character_vectors(path: Path) -> list[list[str]]:
    return [v for v in (r_strings(b) for b in iter_rdb(path.read_bytes())) if v is not None]


def mo_source(msgid: str) -> str:
    """The source text of a .mo msgid: the ``context\\x04`` prefix dropped."""
    return msgid.rsplit("\x04", 1)[-1]


# ------------------------------------------------------------------ Qt .qm catalogues

QM_MAGIC = bytes.fromhex("3cb86418caef9c95cd211cbf60a1bddd")


def qm_messages(data: bytes) -> list[tuple[str, str]]:
    """(source text, first translation) pairs of a Qt .qm file (messages without a stored source text are
    skipped)."""
    if not data.startswith(QM_MAGIC):
        raise CorpusError("not a Qt .qm file")
    pos, messages = len(QM_MAGIC), b""
    while pos + 5 <= len(data):
        tag, length = data[pos], struct.unpack(">I", data[pos + 1:pos + 5])[0]
        if tag == 0x69:
            messages = data[pos + 5:pos + 5 + length]
        pos += 5 + length
    out: list[tuple[str, str]] = []
    source, translations, p = "", list[str](), 0
    while p < len(messages):
        tag = messages[p]
        p += 1
        if tag == 1:  # end of message
            if source and translations and translations[0]:
                out.append((source, translations[0]))
            source, translations = "", []
        elif tag == 5:  # obsolete 4-byte field
            p += 4
        elif tag in (2, 3, 4, 6, 7, 8, 9):
            (length,) = struct.unpack(">I", messages[p:p + 4])
            p += 4
            if length == 0xFFFFFFFF:
                continue
            blob = messages[p:p + length]
            p += length
            if tag == 3:
                translations.append(blob.decode("utf-16-be", "replace"))
            elif tag == 6:
                source = blob.decode("utf-8", "replace")
        else:
            raise CorpusError(f"Qt .qm message block: unknown tag {tag:#x} at {p - 1}")
    return out


# ------------------------------------------------------------------ Java .properties

_PROP = re.compile(r"^\s*([^#!\s=:][^=:]*?)\s*[=:]\s?(.*)$")
_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def properties_values(text: str) -> dict[str, str]:
    """key -> value of a Java .properties file (``\\uXXXX`` escapes and continuation lines resolved)."""
    out: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        while line.endswith("\\") and not line.endswith("\\\\") and i + 1 < len(lines):
            i += 1
            line = line[:-1] + lines[i].lstrip()
        i += 1
        m = _PROP.match(line)
        if m:
            value = _UNICODE_ESCAPE.sub(lambda u: chr(int(u.group(1), 16)), m.group(2))
            out[m.group(1)] = value.replace("\\n", " ").replace("\\t", " ").replace("\\:", ":").replace("\\=", "=")
    return out


# ------------------------------------------------------------------ POD (Perl documentation)

_POD_CODE = re.compile(r"([A-Z])<([^<>]*)>")
_POD_DOUBLE = re.compile(r"([A-Z])<{2,}\s(.*?)\s>{2,}")
_POD_ESCAPES = {"lt": "<", "gt": ">", "verbar": "|", "sol": "/", "quot": '"', "amp": "&"}


def _pod_inline(code: str, body: str) -> str:
    if code in "CF":
        return "{code}"
    if code == "L":
        text = body.split("|", 1)[0] if "|" in body else body
        return text.strip('"').split("/")[-1].strip('"') if "|" not in body else text
    if code == "E":
        if body in _POD_ESCAPES:
            return _POD_ESCAPES[body]
        number = body.lower()
        if re.fullmatch(r"0x[0-9a-f]+|\d+", number):
            return chr(int(number, 16) if number.startswith("0x") else int(number, 8 if number.startswith("0") else 10))
        return "{code}"
    if code in "XZ":
        return ""
    return body


def pod_paragraphs(text: str) -> Iterator[str]:
    """Ordinary paragraphs of a POD document with formatting codes resolved (``C<>``/``F<>`` as a ``{code}``
    marker, ``L<text|target>`` as its text); commands, verbatim blocks and ``=begin``/``=for`` regions skipped."""
    in_pod, region = text.lstrip().startswith("="), 0
    for block in re.split(r"\n\s*\n", text):
        if not block.strip():
            continue
        first = block.lstrip("\n")
        if first.startswith("="):
            cmd = first.split(None, 1)[0]
            in_pod = cmd != "=cut"
            region += (cmd == "=begin") - (cmd == "=end")
            continue
        if not in_pod or region > 0 or first[:1].isspace():
            continue
        par = " ".join(first.split())
        for _ in range(4):
            par = _POD_DOUBLE.sub(lambda m: _pod_inline(m.group(1), m.group(2)), par)
            par = _POD_CODE.sub(lambda m: _pod_inline(m.group(1), m.group(2)), par)
        yield par


# ------------------------------------------------------------------ dictd databases

_DICT_LINK = re.compile(r"\{([^{}]*)\}")
_DICT_CATEGORY = re.compile(r"^(?:<[^<>]*>\s*,?\s*)+")


_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _b64_number(text: str) -> int:
    n = 0
    for ch in text:
        n = n * 64 + _B64.index(ch)
    return n


def dictd_entries(data: bytes, index: str, headword_in_block: bool = False) -> Iterator[tuple[str, list[str]]]:
    """(headword, paragraphs) of a dictd database: the ``.index`` lines (headword, base-64 offset and length)
    locate the entries in the uncompressed ``.dict`` bytes; aliases of one entry are read once.

    An entry's first line is its headword. Paragraphs are its blank-line separated blocks, joined;
    ``{cross references}`` keep their text and leading ``<category>`` tags are dropped. With
    ``headword_in_block`` (The Devil's Dictionary) the first line's text after ``HEADWORD, n.`` starts the first
    paragraph."""
    seen: set[int] = set()
    for line in index.splitlines():
        fields = line.split("\t")
        if len(fields) < 3 or fields[0].startswith("00-database") or fields[0].startswith("00database"):
            continue
        offset, length = _b64_number(fields[1]), _b64_number(fields[2])
        if offset in seen:
            continue
        seen.add(offset)
        lines = data[offset:offset + length].decode("utf-8", "replace").splitlines()
        if not lines:
            continue
        head = lines[0].strip()
        if headword_in_block:
            m = re.match(r"^[^,]*,\s*(?:[a-z.]+\.\s+)?(.*)$", lines[0])
            lines = [m.group(1) if m else "", *lines[1:]]
            head = head.split(",")[0]
        else:
            lines = lines[1:]
        pars = []
        for par in paragraphs(lines):
            par = _DICT_CATEGORY.sub("", _DICT_LINK.sub(r"\1", par)).strip()
            if par:
                pars.append(par)
        if pars:
            yield head, pars
