"""``python -m lendkit`` is the ``lendkit`` command."""

from lendkit.cli import main

main()
