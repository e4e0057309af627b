"""Persisted queries: documents known by their SHA-256 hash (docs/architecture.md,
Persisted queries)."""
