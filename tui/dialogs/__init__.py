"""Modal dialogs, each fitting 80x24: a title, a body that scrolls when long, and the answer row (input and
buttons) always on screen below it, the focus on the safe choice. Host keys, typed confirmations, node pickers,
the upgrade's first page, the preflight export path, and the full-screen readers (log, audit log, keys).

One module per kind: base (the shared Dialog layout), confirm (host key, typed confirmation), questions (node
picker, upgrade, export path), readers (log, keys, audit log) and audit (audit entries in words, pure)."""
