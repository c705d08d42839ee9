"""Pick the storage backend from ``--db``: a ``postgresql://`` DSN or a SQLite file path."""

from __future__ import annotations

from ._store import Store

__all__ = ["is_postgres", "open_store"]


def is_postgres(db: str) -> bool:
    """True for ``postgres://`` and ``postgresql://`` DSNs."""
    return db.startswith(("postgresql://", "postgres://"))


def open_store(db: str, text_search: str | None = "trigram") -> Store:
    """An unopened store for ``db`` (call ``await store.open()``).

    ``text_search`` (PostgreSQL only; SQLite always scans): ``trigram`` or ``scan``, applied to the
    database when the store opens (``_pg_text_search``); None leaves it as it is (key management).

    Raises:
        ValueError: empty ``db``, or an unknown ``text_search``.
    """
    if not db:
        raise ValueError("db must be a SQLite file path or a postgresql:// DSN, got an empty string")
    if is_postgres(db):
        from ._pg_store import PostgresStore

        return PostgresStore(db, text_search=text_search)
    from ._sqlite_store import SQLiteStore

    return SQLiteStore(db)
