"""Peekr."""
