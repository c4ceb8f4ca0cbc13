//! Migration discovery (Alembic, SQL folders) into one `RevisionGraph`, chain checks
//! C001–C006, and `migrations.lock`. (Skeleton: filled in by the migration-chain issue.)
