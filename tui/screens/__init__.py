"""The TUI's screens: inventory (B), preflight (C), install (D), maintenance (E)."""
