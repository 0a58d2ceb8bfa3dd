"""The entity record every part of the entity corrector shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

EntityType = Literal["person", "place", "organisation", "product", "other"]


@dataclass(frozen=True, slots=True)
class Entity:
    """One catalog entry: a canonical name, its aliases and a short description.

    ``catalog`` names the domain/tenant catalog it belongs to (a hypothesis's ``entities``
    field picks one); ``source`` and ``licence`` say where the entry came from.
    """

    id: str
    name: str
    aliases: tuple[str, ...] = ()
    description: str = ""
    type: EntityType = "other"
    lang: str = "en"
    catalog: str = "default"
    source: str = ""
    licence: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def surface_forms(self) -> tuple[str, ...]:
        """The name followed by its aliases, without duplicates."""
        return tuple(dict.fromkeys((self.name, *self.aliases)))
