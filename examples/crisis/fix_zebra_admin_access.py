#!/usr/bin/env python3
"""Fix: Zebra Corp's admin could not open the admin console (no permissions table yet).

Run by hand on production on 2025-07-01, when production was at revision 9c1d2e3f4a5b.
Creates admin_permissions ahead of its migration and grants Zebra's admin everything.
Migration a1b2c3d4e5f6 creates admin_permissions too, so on production it fails with
"relation already exists".

Usage: DATABASE_URL=postgres://... python3 fix_zebra_admin_access.py [--rollback]
"""
import os
import sys

import psycopg2

ZEBRA_ADMIN = "admin@zebra.example"
PERMISSIONS = ["console", "billing", "users"]

conn = psycopg2.connect(os.environ["DATABASE_URL"])
with conn, conn.cursor() as cur:
    if "--rollback" in sys.argv:
        cur.execute("DROP TABLE IF EXISTS admin_permissions")
        print("dropped admin_permissions")
    else:
        cur.execute(
            """
            CREATE TABLE IF NOT EXISTS admin_permissions (
                id serial PRIMARY KEY,
                user_id integer NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                permission varchar(100) NOT NULL,
                UNIQUE (user_id, permission)
            )
            """
        )
        cur.execute("UPDATE users SET role = 'admin' WHERE email = %s", (ZEBRA_ADMIN,))
        for permission in PERMISSIONS:
            cur.execute(
                "INSERT INTO admin_permissions (user_id, permission) "
                "SELECT id, %s FROM users WHERE email = %s ON CONFLICT DO NOTHING",
                (permission, ZEBRA_ADMIN),
            )
        print("zebra admin access restored")
conn.close()
