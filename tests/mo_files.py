"""A GNU gettext ``.mo`` file built in memory, for the corpus-reader tests."""

from __future__ import annotations

import struct


def mo_bytes(pairs: list[tuple[str, str]] | list[tuple[bytes, bytes]]) -> bytes:
    """A little-endian ``.mo`` file holding ``(msgid, msgstr)`` pairs (str is UTF-8 encoded)."""
    enc = [(a.encode() if isinstance(a, str) else a, b.encode() if isinstance(b, str) else b) for a, b in pairs]
    n = len(enc)
    data_off = 28 + 16 * n
    table_o, table_t, blob = b"", b"", b""
    for msgid, _ in enc:
        table_o += struct.pack("<2I", len(msgid), data_off + len(blob))
        blob += msgid + b"\0"
    for _, msgstr in enc:
        table_t += struct.pack("<2I", len(msgstr), data_off + len(blob))
        blob += msgstr + b"\0"
    return struct.pack("<7I", 0x950412DE, 0, n, 28, 28 + 8 * n, 0, 0) + table_o + table_t + blob
