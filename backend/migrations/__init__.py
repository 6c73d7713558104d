"""Alembic migrations (through Flask-Migrate): the only way the schema is created or changed."""
