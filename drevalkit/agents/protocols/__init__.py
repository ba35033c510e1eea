"""Agent protocols: how a model is offered dreval's tools and how its calls come back. ``base`` holds what every
protocol implements and the ``PROTOCOLS`` registry; the built-in protocols register themselves here, on import of
this package, so every module that reaches ``base`` finds them registered."""

from . import mirothinker, openai_tools
from .base import PROTOCOLS, Protocol, get_protocol

__all__ = ["PROTOCOLS", "Protocol", "get_protocol", "mirothinker", "openai_tools"]
