"""Views: one module per flavor with parallel names (``sync.db_read`` / ``async_orm.db_read``)."""
