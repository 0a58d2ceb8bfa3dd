"""Word-level edit lists between an input text and its correction."""

from __future__ import annotations

from difflib import SequenceMatcher

from emendo.records import Edit, EditOp


def word_edits(before: str, after: str) -> tuple[Edit, ...]:
    """The word-level edits that turn ``before`` into ``after`` (whitespace tokens).

    Indices refer to the words of ``before``; an insertion has ``start == end``.
    """
    if before == after:
        return ()
    a, b = before.split(), after.split()
    edits = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        op: EditOp = "replace" if tag == "replace" else ("delete" if tag == "delete" else "insert")
        edits.append(Edit(op, i1, i2, " ".join(a[i1:i2]), " ".join(b[j1:j2])))
    if not edits:  # only whitespace changed
        edits.append(Edit("replace", 0, len(a), before, after))
    return tuple(edits)
