"""``python -m medpclip`` = the ``medpclip`` command."""

import sys

from medpclip.cli import main

sys.exit(main())
