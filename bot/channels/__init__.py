"""Channel adapters that need no outside library (the others are top-level packages)."""
