"""`python -m inbox.cli`: the same as the `synpunkt` command."""

import sys

from inbox.cli import main

sys.exit(main())
