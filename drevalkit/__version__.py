"""The version of drevalkit (a leaf: modules import it without going through the package facade)."""

__version__ = "0.1.0"
