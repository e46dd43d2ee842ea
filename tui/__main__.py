"""`python -m tui` runs the axha command (same as the `axha` console script)."""
import sys

from tui.cli import main

sys.exit(main())
