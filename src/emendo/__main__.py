"""``python -m emendo`` is the ``emendo`` console script."""

import sys

from emendo.cli import main

sys.exit(main())
