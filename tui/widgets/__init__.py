"""Reusable widgets of the axha TUI."""
