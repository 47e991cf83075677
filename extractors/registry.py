"""Extractors by name: ``get(name)``, ``names()``, and ``register(extractor)`` for new ones.

Built in: C3D (``c3d``: fc6, the field's standard; ``c3d_fc7``) and torchvision's video models
(``extractors.torchvision_video.MODELS``). A new backbone is one module with an ``Extractor`` subclass
and one line below (docs/extending.md). Extractors outside this package are registered by their own
module on import; ``HSCNET_EXTRACTORS`` names such modules (comma-separated), so that every process of
the workflow (``hscnet extract-features``, ``hscnet ground``) imports them before looking a name up.
"""

from __future__ import annotations

import importlib
import os

from extractors.base import Extractor
from extractors.c3d import C3DExtractor
from extractors.torchvision_video import MODELS, TorchvisionExtractor
from hscnet.errors import InputError

PLUGINS_ENV = "HSCNET_EXTRACTORS"
DEFAULT = "c3d"

_EXTRACTORS: dict[str, Extractor] = {}
# Store attrs of feature files written before extractors had names of their own.
_FORMER_NAMES = {"c3d-fc6": "c3d", "c3d-fc7": "c3d_fc7"}


def register(extractor: Extractor) -> Extractor:
    """Add ``extractor`` under its ``name``; a name already taken by another extractor is an error."""
    known = _EXTRACTORS.get(extractor.name)
    if known is not None and known is not extractor:
        raise ValueError(f"an extractor named {extractor.name!r} is already registered ({known!r})")
    _EXTRACTORS[extractor.name] = extractor
    return extractor


def _load_plugins() -> None:
    for module in filter(None, (m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(","))):
        importlib.import_module(module)


def names() -> list[str]:
    _load_plugins()
    return list(_EXTRACTORS)


def canonical(name: str) -> str:
    """The registry name of a store's ``extractor`` attr (older stores spelt C3D's ``c3d-fc6``)."""
    return _FORMER_NAMES.get(name, name)


def get(name: str) -> Extractor:
    """The extractor called ``name``; InputError listing the known names otherwise."""
    _load_plugins()
    extractor = _EXTRACTORS.get(canonical(name))
    if extractor is None:
        raise InputError(f"unknown extractor {name!r}; known: {', '.join(_EXTRACTORS)}")
    return extractor


def known(name: str) -> bool:
    _load_plugins()
    return canonical(name) in _EXTRACTORS


register(C3DExtractor("fc6"))
register(C3DExtractor("fc7"))
for _name, _model in MODELS.items():
    register(TorchvisionExtractor(_name, _model))
