"""The ``emendo`` console script. ``emendo COMMAND --help`` documents each command."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from emendo.errors import EmendoError, MissingExtraError
from emendo.malloc import tune_from_env
from emendo.settings import Settings, settings_table


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    tune_from_env()  # emendo.malloc: ~10% less CPU in the decode loops
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except EmendoError as exc:
        print(f"emendo: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


SYNTH_PIPELINES = (
    ("speech", "emendo.synth.speech", "text -> multi-voice TTS -> augmentation -> Whisper/pocketsphinx pairs"),
    ("handwriting", "emendo.synth.htr_pairs", "text -> Bezier handwriting -> Tesseract HTR pairs"),
    ("fit-simulator", "emendo.synth.simfit", "fit the text-level error simulator on real pair directories"),
    ("simulate", "emendo.synth.simulate", "clean text -> fitted error simulator -> pairs (>1M pairs/hour)"),
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="emendo", description=__doc__)
    sub = p.add_subparsers(title="commands", metavar="COMMAND")

    demo = sub.add_parser("demo", help="local broker + worker + bundled sample: before/after table")
    demo.add_argument("--sample", type=Path, help="JSONL records with 'reference' fields (default: bundled)")
    demo.add_argument("--correctors", help="override EMENDO_CORRECTORS")
    demo.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for all corrections")
    demo.set_defaults(func=_cmd_demo)

    serve = sub.add_parser("serve", help="run a correction worker (settings from EMENDO_* variables)")
    serve.set_defaults(func=_cmd_serve)

    corr = sub.add_parser("correct", help="correct a JSONL or plain-text file (resumable)")
    corr.add_argument("input", type=Path, help="JSONL records or text, one hypothesis per line")
    corr.add_argument("-o", "--output", type=Path, required=True, help="JSONL corrections")
    corr.add_argument("--format", choices=["auto", "jsonl", "text"], default="auto",
                      help="input format (auto: by extension .jsonl/.json/.ndjson)")
    corr.add_argument("--source", choices=["asr", "htr"], default="asr", help="source of plain-text lines")
    corr.add_argument("--rejects", type=Path, help="rejected lines report (default: OUTPUT.rejects.jsonl)")
    corr.add_argument("--correctors", help="override EMENDO_CORRECTORS, e.g. 'rescorer'")
    corr.add_argument("--batch-size", type=int, help="override EMENDO_BATCH_SIZE")
    corr.add_argument("--no-resume", action="store_true", help="start over instead of resuming")
    corr.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    corr.set_defaults(func=_cmd_correct)

    ev = sub.add_parser("eval", help="WER/CER/WAR/CAR before vs after correction")
    from emendo.eval import command as eval_command

    eval_command.add_arguments(ev)
    ev.set_defaults(func=eval_command.run)

    kafka = sub.add_parser("kafka", help="local single-node Apache Kafka (KRaft) for demo and tests")
    kafka.add_argument("action", choices=["start", "stop", "status", "install"])
    kafka.add_argument("--port", type=int, default=9092)
    kafka.add_argument("--controller-port", type=int, default=9093)
    kafka.add_argument("--data-dir", type=Path, help="default: EMENDO_DATA_DIR/kafka")
    kafka.set_defaults(func=_cmd_kafka)

    prod = sub.add_parser("produce", help="send a JSONL/text file to a topic (to EMENDO_ENTITY_TOPIC: "
                                          "a catalog file, keyed '<catalog>/<id>')")
    prod.add_argument("topic")
    prod.add_argument("file", type=Path)
    prod.add_argument("--format", choices=["auto", "jsonl", "text"], default="auto")
    prod.add_argument("--source", choices=["asr", "htr"], default="asr", help="source of plain-text lines")
    prod.set_defaults(func=_cmd_produce)

    ent = sub.add_parser("entities", help="publish entity catalog updates to EMENDO_ENTITY_TOPIC (workers follow it)")
    ent_sub = ent.add_subparsers(title="actions", metavar="ACTION")
    pub = ent_sub.add_parser("publish", help="add or replace every entity of a JSONL/CSV catalog file")
    pub.add_argument("file", type=Path, help="catalog file (.jsonl/.csv, optionally .gz)")
    pub.add_argument("--catalog", help="put every entity into this catalog (default: each row's 'catalog')")
    pub.set_defaults(func=_cmd_entities_publish)
    dele = ent_sub.add_parser("delete", help="delete entities (tombstones)")
    dele.add_argument("catalog", help="catalog name")
    dele.add_argument("ids", nargs="+", metavar="ID", help="entity ids")
    dele.set_defaults(func=_cmd_entities_delete)

    cons = sub.add_parser("consume", help="print messages of a topic as JSON lines")
    cons.add_argument("topic", nargs="+")
    cons.add_argument("-n", type=int, help="stop after N messages (default: all until idle)")
    cons.add_argument("--timeout", type=float, default=10.0, help="stop after this many idle seconds")
    cons.add_argument("--group", help="consumer group (commits offsets); default: none")
    cons.add_argument("-o", "--output", type=Path, help="write values here instead of stdout")
    cons.set_defaults(func=_cmd_consume)

    synth = sub.add_parser("synth", help="make training pairs with real engines (needs emendo[synth])")
    synth_sub = synth.add_subparsers(title="pipelines", metavar="PIPELINE")
    for name, module, what in SYNTH_PIPELINES:
        sp = synth_sub.add_parser(name, help=what)
        try:
            pipeline = importlib.import_module(module)
        except ImportError as exc:  # a synth dependency is missing: say so when the command is run
            missing = MissingExtraError(exc.name or module, "synth")
            sp.set_defaults(func=lambda _args, err=missing: _raise(err))
            continue
        pipeline.add_arguments(sp)
        sp.set_defaults(func=pipeline.run)

    for name, module, what in (
        ("train", "emendo.models.train", "train the denoising LM (needs emendo[train]; see --help)"),
        ("export", "emendo.models.export", "export a checkpoint to ONNX fp32/int8 with a parity check"),
    ):
        passthrough = sub.add_parser(name, help=what, add_help=False, prefix_chars="\0")
        passthrough.add_argument("args", nargs=argparse.REMAINDER)
        passthrough.set_defaults(func=_delegate(module))

    st = sub.add_parser("settings", help="print the EMENDO_* settings table and current values")
    st.set_defaults(func=_cmd_settings)
    return p


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, object] = {}
    if getattr(args, "correctors", None):
        overrides["correctors"] = args.correctors
    if getattr(args, "batch_size", None):
        overrides["batch_size"] = args.batch_size
    return Settings.from_env(**overrides)


def _raise(exc: Exception) -> int:
    raise exc


def _delegate(module: str) -> Callable[[argparse.Namespace], int]:
    """Hand the remaining command line to ``module.main(argv)`` (imported only when run)."""

    def run(args: argparse.Namespace) -> int:
        return int(importlib.import_module(module).main(args.args))

    return run


def _cmd_serve(args: argparse.Namespace) -> int:
    from emendo.streams.worker import serve

    sys.argv = [sys.argv[0], "worker"]  # Faust's worker reads its own argv
    serve(_settings(args))
    return 0


def _cmd_correct(args: argparse.Namespace) -> int:
    from emendo.batch import correct_file
    from emendo.correctors.registry import build_pipeline

    settings = _settings(args)
    report = correct_file(
        args.input, args.output, build_pipeline(settings), batch_size=settings.batch_size,
        fmt=args.format, source=args.source, rejects=args.rejects, resume=not args.no_resume,
        max_chars=settings.max_text_chars, progress=not args.quiet)
    print(json.dumps(report.to_dict()), file=sys.stderr)
    if report.read == 0 and report.resumed == 0:
        print("emendo: error: no record could be read from the input", file=sys.stderr)
        return 1
    return 0


def _cmd_kafka(args: argparse.Namespace) -> int:
    from emendo.streams.broker import LocalKafka, install

    if args.action == "install":
        print(install(quiet=False))
        return 0
    data_dir = args.data_dir or Settings.from_env().data_path / "kafka"
    broker = LocalKafka(data_dir=data_dir, port=args.port, controller_port=args.controller_port)
    if args.action == "start":
        broker.start()
    elif args.action == "stop":
        broker.stop()
    print(json.dumps(broker.status(), default=str))
    return 0


def _cmd_produce(args: argparse.Namespace) -> int:
    from emendo.streams.client import file_messages, produce, run

    if not args.file.is_file():
        raise EmendoError(f"file not found: {args.file}")
    settings = Settings.from_env()
    if args.topic == settings.entity_topic:
        return _publish_entities(settings, args.file)
    messages = file_messages(args.file, args.format, args.source)
    n = run(produce(settings.bootstrap_servers, args.topic, messages))
    print(f"produced {n} records to {args.topic}", file=sys.stderr)
    return 0


def _publish_entities(settings: Settings, path: Path, catalog: str | None = None) -> int:
    from emendo.streams.client import produce, run
    from emendo.streams.entities import ensure_entity_topic, entity_updates

    messages = list(entity_updates(path, catalog=catalog))  # the whole file is valid before anything is sent
    run(ensure_entity_topic(settings.bootstrap_servers, settings.entity_topic))
    n = run(produce(settings.bootstrap_servers, settings.entity_topic, messages))
    print(f"published {n} entities to {settings.entity_topic}", file=sys.stderr)
    return 0


def _cmd_entities_publish(args: argparse.Namespace) -> int:
    return _publish_entities(Settings.from_env(), args.file, args.catalog)


def _cmd_entities_delete(args: argparse.Namespace) -> int:
    from emendo.streams.client import produce, run
    from emendo.streams.entities import ensure_entity_topic, entity_deletions

    settings = Settings.from_env()
    messages = list(entity_deletions(args.catalog, args.ids))
    run(ensure_entity_topic(settings.bootstrap_servers, settings.entity_topic))
    n = run(produce(settings.bootstrap_servers, settings.entity_topic, messages))
    print(f"published {n} deletions to {settings.entity_topic}", file=sys.stderr)
    return 0


def _cmd_consume(args: argparse.Namespace) -> int:
    from emendo.streams.client import consume, run

    settings = Settings.from_env()
    messages = run(consume(settings.bootstrap_servers, args.topic, args.n, timeout=args.timeout,
                           group=args.group))
    out = args.output.open("w", encoding="utf-8") if args.output else sys.stdout
    try:
        for m in messages:
            out.write((m.value or b"").decode("utf-8", "replace") + "\n")
    finally:
        if args.output:
            out.close()
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from emendo.demo import run_demo

    return run_demo(sample=args.sample, correctors=args.correctors, timeout=args.timeout)


def _cmd_settings(args: argparse.Namespace) -> int:
    print(settings_table())
    print()
    current = Settings.from_env()
    for field in current.__dataclass_fields__:
        print(f"{field} = {getattr(current, field)!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
