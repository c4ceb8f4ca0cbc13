//! The rendered revision through real Alembic: `upgrade head`, then `downgrade -1`.
