"""``python -m hscnet`` is the ``hscnet`` command."""

import sys

from hscnet.cli import main

sys.exit(main())
