"""Correctors and the pipeline that composes them."""

from emendo.correctors.base import Corrector, IdentityCorrector
from emendo.correctors.pipeline import Pipeline

__all__ = ["Corrector", "IdentityCorrector", "Pipeline"]
