"""Persisted queries: GraphQL documents an admin registered, known by their SHA-256 hash."""
