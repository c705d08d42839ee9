"""Test helpers for peekr users: in-memory sink, fake provider server."""
