"""axha, the Axigen high-availability wizard: the one top-level import name of the installed distribution.

The repository keeps its folders at the top (steps/, checks/, tui/, assets/); pyproject.toml maps them into this
package (`axha.steps` is steps/, ...), so an installed axha adds only `axha` to site-packages. The lab is a
separate distribution (lab/pyproject.toml, import name `axha_lab`) that an admin's install does not carry."""
