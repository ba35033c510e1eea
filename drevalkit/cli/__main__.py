"""``python -m drevalkit.cli``: the same as the ``dreval`` command."""

from . import main

main()
