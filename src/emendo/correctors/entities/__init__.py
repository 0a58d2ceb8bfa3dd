"""Entity correction: catalogs of named entities, PED-NEC (phonetic span matching) and a
description-augmented (DANCER-style) corrector. See ../shared/papers.md section 3."""
