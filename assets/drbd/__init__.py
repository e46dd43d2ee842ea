"""DRBD resource file template (read with importlib.resources)."""
