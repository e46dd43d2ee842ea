"""`python -m axha` is the `axha` command."""

from axha.tui.cli import main

raise SystemExit(main())
