"""``python -m analyzer`` is the ``keepalive`` command."""

from analyzer.cli import main

if __name__ == "__main__":
    main()
