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


FACTORIES: dict[str, Callable[[Settings], Corrector]] = {
    "identity": lambda _settings: IdentityCorrector(),
    "rescorer": _rescorer,
}


def build_pipeline(settings: Settings) -> Pipeline:
    """The pipeline named by ``settings.correctors``, e.g. ``"rescorer"``."""
    correctors = []
    for name in settings.corrector_names:
        if name not in FACTORIES:
            raise ConfigError(f"unknown corrector {name!r}; known: {', '.join(FACTORIES)}")
        correctors.append(FACTORIES[name](settings))
    return Pipeline(correctors)
