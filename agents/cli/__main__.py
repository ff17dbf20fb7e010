"""``python -m agents.cli``: the ``hptune`` command without the installed script."""

import sys

from agents.cli import main

sys.exit(main())
