"""``python -m sigdbg``."""

import sys

from sigdbg.cli.main import main

sys.exit(main())
