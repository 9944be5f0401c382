"""``python -m analyzer`` is the ``keepalive`` command."""

from analyzer.cli import entry

if __name__ == "__main__":
    entry()
