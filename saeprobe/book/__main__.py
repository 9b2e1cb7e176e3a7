"""``python -m saeprobe.book``: the notebook runner's command line (see :mod:`saeprobe.book`)."""
import sys

from saeprobe.book.cli import main

sys.exit(main())
