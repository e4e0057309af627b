"""The audit log: who changed what an admin manages, when, from what to what."""
