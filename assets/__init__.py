"""Templates and Textual CSS shipped with axha (read with importlib.resources)."""
