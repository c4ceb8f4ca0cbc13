//! PostgreSQL catalog `Snapshot` as canonical JSON, and `diff`. (Skeleton.)
