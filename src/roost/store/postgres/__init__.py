"""PostgreSQL backend (psycopg 3): for several nodes sharing one database."""

from roost.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
