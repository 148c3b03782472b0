"""``python -m trnsim``: the same entry point as the ``trnsim`` command."""

from trnsim.cli import main

if __name__ == "__main__":
    main()
