"""Service settings, read from ``EMENDO_*`` environment variables.

Every setting has a default that works on one machine with the local broker
(``emendo kafka start``). :data:`SETTINGS_DOC` is the single source of the table in the
README (``emendo settings`` prints it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from emendo.errors import ConfigError

# name -> (environment variable, description)
SETTINGS_DOC: dict[str, tuple[str, str]] = {
    "broker": ("EMENDO_BROKER", "Kafka bootstrap servers, `host:port[,host:port]`"),
    "app_id": ("EMENDO_APP_ID", "Faust app id = Kafka consumer group of the workers"),
    "asr_in": ("EMENDO_TOPIC_ASR_IN", "input topic for ASR hypotheses"),
    "htr_in": ("EMENDO_TOPIC_HTR_IN", "input topic for HTR/OCR hypotheses"),
    "asr_out": ("EMENDO_TOPIC_ASR_OUT", "output topic for ASR corrections"),
    "htr_out": ("EMENDO_TOPIC_HTR_OUT", "output topic for HTR/OCR corrections"),
    "deadletter": ("EMENDO_TOPIC_DEADLETTER", "dead letters: original bytes, reason, error class, offset"),
    "partitions": ("EMENDO_PARTITIONS", "partitions of the topics the worker declares"),
    "batch_size": ("EMENDO_BATCH_SIZE", "records per corrector call (`stream.take(n, ...)`)"),
    "batch_within": ("EMENDO_BATCH_WITHIN", "seconds to wait for a batch to fill"),
    "correctors": ("EMENDO_CORRECTORS",
                   "comma-separated pipeline, run in this order: `identity`, `rescorer`, `dlm`, `pednec` "
                   "(alias `entities`), `dancer`"),
    "lm_path": ("EMENDO_LM_PATH", "KenLM model for the rescorer (empty: the bundled English LM)"),
    "dlm_model": ("EMENDO_DLM_MODEL",
                  "exported denoising-LM directory for the `dlm` corrector (empty: the bundled release model)"),
    "entity_catalogs": ("EMENDO_ENTITY_CATALOGS",
                        "comma-separated entity catalog files (JSONL/CSV, optionally .gz) for `pednec`/`dancer`; "
                        "empty: the built-in catalogs"),
    "entity_default_catalog": ("EMENDO_ENTITY_DEFAULT_CATALOG",
                               "catalog used for records without an `entities` field (or naming an unknown one)"),
    "dancer_scorer": ("EMENDO_DANCER_SCORER",
                      "DANCER scorer weights (`scripts/train_dancer_reranker.py --out`) for English and other "
                      "Latin-script spans, served with the DANCER options its thresholds were tuned with; "
                      "`context`: the bundled scorer combined with the bundled context scorer (a cross-encoder: "
                      "more precise, 6-11 ms more per utterance; README \"Entity corrector\"); "
                      "empty: the bundled scorer"),
    "dancer_thresholds": ("EMENDO_DANCER_THRESHOLDS",
                          "DANCER's decision thresholds `t` or `t,named` (0-1: the probability a replacement needs; "
                          "`named`: for a span that names another catalog entity, never below `t`); empty: those "
                          "tuned with the scorer. Higher: fewer sound-alikes written where the catalog lacks a name"),
    "dancer_threads": ("EMENDO_DANCER_THREADS",
                       "ONNX Runtime threads for DANCER's sentence encoder, or for its context scorer when that is "
                       "served (the encoder then keeps one): 1 suits a worker per core; 2, with a core to spare, "
                       "lower the latency (README \"Entity corrector\")"),
    "dancer_context_reads": ("EMENDO_DANCER_CONTEXT_READS",
                             "with the context scorer: at most this many of its reads (~2.3 ms each on one thread) "
                             "an utterance, the candidates the features rate highest; the others are not written. "
                             "0: no limit; empty: the scorer's own (3 for `context`; README \"Entity corrector\")"),
    "entity_topic": ("EMENDO_ENTITY_TOPIC",
                     "compacted topic of catalog updates (key `<catalog>/<id>`; value: entity JSON, or a "
                     "tombstone to delete) that workers follow"),
    "max_text_chars": ("EMENDO_MAX_TEXT_CHARS", "longer texts are dead-lettered"),
    "web_host": ("EMENDO_WEB_HOST", "bind address of the health (`/`) and metrics (`/metrics`) endpoint"),
    "web_port": ("EMENDO_WEB_PORT", "port of the health and metrics endpoint"),
    "data_dir": ("EMENDO_DATA_DIR", "worker state and the local broker's data"),
    "log_level": ("EMENDO_LOG_LEVEL", "worker log level"),
}


@dataclass(frozen=True, slots=True)
class Settings:
    """The service's configuration. Build it with :meth:`from_env`."""

    broker: str = "127.0.0.1:9092"
    app_id: str = "emendo"
    asr_in: str = "emendo.asr.hypotheses"
    htr_in: str = "emendo.htr.hypotheses"
    asr_out: str = "emendo.asr.corrections"
    htr_out: str = "emendo.htr.corrections"
    deadletter: str = "emendo.deadletter"
    partitions: int = 4
    batch_size: int = 32
    batch_within: float = 0.05
    correctors: str = "rescorer"
    lm_path: str = ""
    dlm_model: str = ""
    entity_catalogs: str = ""
    entity_default_catalog: str = "default"
    dancer_scorer: str = ""
    dancer_thresholds: str = ""
    dancer_threads: int = 1
    dancer_context_reads: str = ""
    entity_topic: str = "emendo.entities"
    max_text_chars: int = 20_000
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    data_dir: str = ".emendo"
    log_level: str = "info"

    def __post_init__(self) -> None:
        for name in ("partitions", "batch_size", "max_text_chars", "dancer_threads"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{SETTINGS_DOC[name][0]} must be >= 1, got {getattr(self, name)}")
        self.dancer_threshold_values  # noqa: B018 (validates EMENDO_DANCER_THRESHOLDS)
        self.dancer_context_reads_value  # noqa: B018 (validates EMENDO_DANCER_CONTEXT_READS)
        if not 0 < self.batch_within <= 60:
            raise ConfigError(f"EMENDO_BATCH_WITHIN must be in (0, 60] seconds, got {self.batch_within}")
        if not 0 <= self.web_port < 65536:
            raise ConfigError(f"EMENDO_WEB_PORT must be a TCP port, got {self.web_port}")
        if not self.corrector_names:
            raise ConfigError("EMENDO_CORRECTORS names no corrector")
        if not self.entity_default_catalog.strip() or "/" in self.entity_default_catalog:
            raise ConfigError(f"EMENDO_ENTITY_DEFAULT_CATALOG must be a catalog name without '/', "
                              f"got {self.entity_default_catalog!r}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, /, **overrides: object) -> Settings:
        """Read ``EMENDO_*`` variables (``os.environ`` by default); keyword overrides win."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for f in fields(cls):
            var = SETTINGS_DOC[f.name][0]
            if var in env:
                values[f.name] = _convert(var, env[var], type(getattr(cls(), f.name)))
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def dancer_context_reads_value(self) -> int | None:
        """``dancer_context_reads`` as a number (0: no limit); None when unset (the scorer's own)."""
        if not self.dancer_context_reads.strip():
            return None
        try:
            value = int(self.dancer_context_reads)
        except ValueError:
            value = -1
        if value < 0:
            raise ConfigError(f"EMENDO_DANCER_CONTEXT_READS must be a whole number >= 0 (0: no limit), "
                              f"got {self.dancer_context_reads!r}")
        return value

    @property
    def dancer_threshold_values(self) -> tuple[float | None, float | None]:
        """(threshold, named threshold) from ``dancer_thresholds``; None where unset (the scorer's own)."""
        if not self.dancer_thresholds.strip():
            return None, None
        try:
            values = [float(x) for x in self.dancer_thresholds.split(",")]
        except ValueError:
            values = []
        if not 1 <= len(values) <= 2 or not all(0 < v <= 1 for v in values):
            raise ConfigError(f"EMENDO_DANCER_THRESHOLDS must be 't' or 't,named' with values in (0, 1], "
                              f"got {self.dancer_thresholds!r}")
        return values[0], values[1] if len(values) == 2 else None

    @property
    def bootstrap_servers(self) -> str:
        """The broker list without a ``kafka://`` prefix (for aiokafka)."""
        return ",".join(s.strip().removeprefix("kafka://") for s in self.broker.split(","))

    @property
    def faust_broker(self) -> str:
        """The broker list in Faust's URL form."""
        return ";".join(f"kafka://{s}" for s in self.bootstrap_servers.split(","))

    @property
    def corrector_names(self) -> tuple[str, ...]:
        return tuple(n.strip() for n in self.correctors.split(",") if n.strip())

    @property
    def entity_catalog_paths(self) -> tuple[Path, ...]:
        """The entity catalog files (empty: use the built-in catalogs)."""
        return tuple(Path(p.strip()) for p in self.entity_catalogs.split(",") if p.strip())

    @property
    def output_topic(self) -> dict[str, str]:
        """Output topic by record source."""
        return {"asr": self.asr_out, "htr": self.htr_out}

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)


def cache_dir() -> Path:
    """Root of emendo's cache (downloads, entity description embeddings): ``$EMENDO_CACHE_DIR``,
    else ``$XDG_CACHE_HOME/emendo``, else ``~/.cache/emendo``."""
    if env := os.environ.get("EMENDO_CACHE_DIR"):
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "emendo"


def _convert(var: str, raw: str, kind: type) -> object:
    try:
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{var}={raw!r} is not a valid {kind.__name__}") from exc
    return raw


def settings_table() -> str:
    """The Markdown table of settings, defaults and meanings."""
    defaults = Settings()
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, (var, doc) in SETTINGS_DOC.items():
        rows.append(f"| `{var}` | `{getattr(defaults, name)}` | {doc} |")
    return "\n".join(rows)
