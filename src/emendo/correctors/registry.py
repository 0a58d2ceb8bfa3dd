"""Build a pipeline from corrector names (``EMENDO_CORRECTORS``)."""

from __future__ import annotations

from collections.abc import Callable

from emendo.correctors.base import Corrector, IdentityCorrector
from emendo.correctors.pipeline import Pipeline
from emendo.errors import ConfigError
from emendo.settings import Settings


def _rescorer(settings: Settings) -> Corrector:
    from emendo.correctors.rescorer import NBestRescorer

    rescorer: Corrector = NBestRescorer(lm_path=settings.lm_path or None)
    return rescorer


def _dlm(settings: Settings) -> Corrector:
    from emendo.correctors.dlm import DecodingOptions, DenoisingLM

    if not settings.dlm_model:
        raise ConfigError("the dlm corrector needs EMENDO_DLM_MODEL (an exported model directory); "
                          "no denoising LM is bundled yet")
    # Conservative gates: the strictest point of the gate sweep on the synthetic dev split
    # (clean-input words changed <= 0.10%; bench/results/dlm_eval.md "tuned-strict").
    options = DecodingOptions(copy_bias=0.5, min_confidence=0.7, min_copy_gap=6.0, max_relative_edit=0.5)
    dlm: Corrector = DenoisingLM(settings.dlm_model, options=options)
    return dlm

FACTORIES: dict[str, Callable[[Settings], Corrector]] = {
    "identity": lambda _settings: IdentityCorrector(),
    "rescorer": _rescorer,
    "dlm": _dlm,
}


def build_pipeline(settings: Settings) -> Pipeline:
    """The pipeline named by ``settings.correctors``, e.g. ``"rescorer"``."""
    correctors = []
    for name in settings.corrector_names:
        if name not in FACTORIES:
            raise ConfigError(f"unknown corrector {name!r}; known: {', '.join(FACTORIES)}")
        correctors.append(FACTORIES[name](settings))
    return Pipeline(correctors)
