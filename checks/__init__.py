"""axha preflight: read-only facts about the nodes and verdicts on them; changes nothing."""
