"""Storage: SQLAlchemy tables, repositories implementing ``core.ports``, migrations."""
