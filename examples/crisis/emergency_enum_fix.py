#!/usr/bin/env python3
"""EMERGENCY: production rejected role 'super_admin' (invalid input value for enum userrole).

Run by hand on production on 2025-04-29, when production was at revision 6e7f8091a2b3.
Adds the enum value directly. Migration 7f8091a2b3c4 adds the same value later, so on
production that migration now fails with "enum label already exists".

Usage: DATABASE_URL=postgres://... python3 emergency_enum_fix.py [--rollback]
"""
import os
import sys

import psycopg2

conn = psycopg2.connect(os.environ["DATABASE_URL"])
conn.autocommit = True
cur = conn.cursor()
if "--rollback" in sys.argv:
    # PostgreSQL cannot drop an enum value: rebuild the type without it.
    cur.execute("UPDATE users SET role = 'admin' WHERE role = 'super_admin'")
    cur.execute("ALTER TYPE userrole RENAME TO userrole_old")
    cur.execute("CREATE TYPE userrole AS ENUM ('user', 'admin')")
    cur.execute("ALTER TABLE users ALTER COLUMN role TYPE userrole USING role::text::userrole")
    cur.execute("DROP TYPE userrole_old")
    print("rolled back: userrole no longer has 'super_admin'")
else:
    # No IF NOT EXISTS: written in a hurry, fails when run twice.
    cur.execute("ALTER TYPE userrole ADD VALUE 'super_admin'")
    print("added 'super_admin' to userrole")
conn.close()
