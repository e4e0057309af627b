"""Who follows which opportunity: its owner and linked users by default, anyone who may see
it by choice (and anyone out of it by choice)."""
