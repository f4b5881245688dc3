"""The model families, one per file, each a GenerativeModel with its config dataclass."""
