#!/usr/bin/env python3
"""Production schema repair: feature flag admin page crashed on missing column 'status'.

Run by hand on production on 2025-09-15, when production was at revision c3d4e5f6a7b8.
Adds feature_flags.status and an index the audit page needed. Migration a0a2f1ab72ce
("Add missing status column to feature_flags table") adds the same column, so on production
it fails with "column already exists".

Usage: DATABASE_URL=postgres://... python3 production_schema_repair.py [--rollback]
"""
import os
import sys

import psycopg2

conn = psycopg2.connect(os.environ["DATABASE_URL"])
with conn, conn.cursor() as cur:
    if "--rollback" in sys.argv:
        cur.execute("DROP INDEX IF EXISTS ix_audit_log_user_id")
        cur.execute("ALTER TABLE feature_flags DROP COLUMN IF EXISTS status")
        print("repair rolled back")
    else:
        cur.execute(
            "ALTER TABLE feature_flags ADD COLUMN IF NOT EXISTS status varchar(20) NOT NULL DEFAULT 'active'"
        )
        cur.execute("CREATE INDEX IF NOT EXISTS ix_audit_log_user_id ON audit_log (user_id)")
        print("feature_flags.status and ix_audit_log_user_id are in place")
conn.close()
