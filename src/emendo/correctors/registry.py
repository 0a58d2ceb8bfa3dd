"""Build a pipeline from corrector names (``EMENDO_CORRECTORS``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from emendo.correctors.base import Corrector, IdentityCorrector
from emendo.correctors.pipeline import Pipeline
from emendo.errors import ConfigError
from emendo.settings import Settings, cache_dir

if TYPE_CHECKING:
    from emendo.correctors.entities.catalog import Catalog


def _rescorer(settings: Settings) -> Corrector:
    from emendo.correctors.rescorer import NBestRescorer

    rescorer: Corrector = NBestRescorer(lm_path=settings.lm_path or None)
    return rescorer


def _dlm(settings: Settings) -> Corrector:
    from emendo.correctors.dlm import BUNDLED_MODEL, PRODUCT_OPTIONS, DenoisingLM

    model_dir = settings.dlm_model or str(BUNDLED_MODEL)
    dlm: Corrector = DenoisingLM(model_dir, options=PRODUCT_OPTIONS)
    return dlm


def entity_catalog(settings: Settings) -> Catalog:
    """The live entity catalog named by the settings (loaded once per process; see
    :mod:`emendo.correctors.entities.live`). The worker's catalog follower updates it."""
    from emendo.correctors.entities.live import shared_catalog

    return shared_catalog(settings.entity_catalog_paths, settings.entity_default_catalog)


def _pednec(settings: Settings) -> Corrector:
    from emendo.correctors.entities.pednec import PedNecCorrector, PedNecOptions

    options = PedNecOptions(default_catalog=settings.entity_default_catalog)
    pednec: Corrector = PedNecCorrector(entity_catalog(settings), options)
    return pednec


def _dancer(settings: Settings) -> Corrector:
    from emendo.correctors.entities.dancer import (
        DancerCorrector,
        DancerOptions,
        Reranker,
        bundled_weights,
        encoder_threads,
        scorer_file,
    )
    from emendo.correctors.entities.embed import SentenceEmbedder
    from emendo.correctors.entities.live import LiveDenseIndex
    from emendo.correctors.entities.retrieval import DenseIndex

    catalog = entity_catalog(settings)
    threshold, named = settings.dancer_threshold_values
    # a scorer of one's own serves the Latin-script spans; Cyrillic ones keep the bundled Russian scorer
    # ("context": the bundled scorer combined with the context scorer, a cross-encoder)
    scorer = scorer_file(settings.dancer_scorer)
    reranker = Reranker.load(scorer) if scorer else None
    # with the options its thresholds were tuned with (the bundled scorer's are the defaults)
    reads = settings.dancer_context_reads_value
    overrides = {"context_reads": reads} if reads is not None else {}
    options = DancerOptions.tuned_with(reranker, default_catalog=settings.entity_default_catalog,
                                       threshold=threshold, named_threshold=named, **overrides)
    embedder = SentenceEmbedder(intra_op_threads=encoder_threads(reranker, options, settings.dancer_threads))
    dense: dict[str, DenseIndex] = {}
    for name in catalog.names():  # descriptions embedded once, cached under EMENDO_CACHE_DIR
        entities = list(catalog.index(name) or ())
        matrix = DenseIndex.embeddings(entities, embedder, cache_dir=cache_dir() / "entity-embeddings",
                                       progress=True)
        dense[name] = LiveDenseIndex(catalog, name, entities, matrix, embedder=embedder)
    ru = bundled_weights("ru")
    cyrillic = Reranker.load(ru) if reranker is not None and ru.is_file() else None
    dancer: Corrector = DancerCorrector(catalog, embedder, dense, options=options, reranker=reranker,
                                        cyrillic_reranker=cyrillic, onnx_threads=settings.dancer_threads)
    return dancer


FACTORIES: dict[str, Callable[[Settings], Corrector]] = {
    "identity": lambda _settings: IdentityCorrector(),
    "rescorer": _rescorer,
    "dlm": _dlm,
    "pednec": _pednec,
    "entities": _pednec,
    "dancer": _dancer,
}


def build_pipeline(settings: Settings) -> Pipeline:
    """The pipeline named by ``settings.correctors``, e.g. ``"rescorer"``."""
    correctors = []
    for name in settings.corrector_names:
        if name not in FACTORIES:
            raise ConfigError(f"unknown corrector {name!r}; known: {', '.join(FACTORIES)}")
        correctors.append(FACTORIES[name](settings))
    return Pipeline(correctors)
