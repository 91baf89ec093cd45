#!/usr/bin/env python3
"""ima2 entry script: a local image studio (server + CLI) on the Python standard library.

Usage: ``python3 ima2.py serve`` starts the studio; ``python3 ima2.py --help`` lists commands.
This file only puts its own folder on ``sys.path`` and hands over to ``ima2_lib.cli``; it has
no logic of its own so the package stays importable and embeddable.
"""
import os
import sys

if sys.version_info < (3, 9):  # the floor promised in README.md
    sys.stderr.write("ima2 needs Python 3.9 or newer (this is %s)\n" % sys.version.split()[0])
    sys.exit(1)

_here = os.path.dirname(os.path.abspath(__file__))
if _here not in sys.path:
    sys.path.insert(0, _here)

from ima2_lib.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
