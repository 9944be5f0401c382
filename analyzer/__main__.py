"""``python -m analyzer`` is the ``keepalive`` command."""

from analyzer.cli import main

main()
