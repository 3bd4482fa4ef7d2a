"""What a run writes and shares: the types that pass between the parts, the feedback log, metrics and
samples, and SQLite files."""
