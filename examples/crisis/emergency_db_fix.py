#!/usr/bin/env python3
"""EMERGENCY: logins failing with 'relation "user_sessions" does not exist'.

The deploy of the session store went out before its migration. Run by hand on production
on 2025-05-12, when production was at revision 7f8091a2b3c4. Creates the table the app
expects. Migration 8091a2b3c4d5 creates user_sessions too, so it now fails on production
with "relation already exists".

Usage: DATABASE_URL=postgres://... python3 emergency_db_fix.py [--rollback]
"""
import os
import sys

import psycopg2

conn = psycopg2.connect(os.environ["DATABASE_URL"])
with conn, conn.cursor() as cur:
    if "--rollback" in sys.argv:
        cur.execute("DROP TABLE IF EXISTS user_sessions")
        print("dropped user_sessions")
    else:
        cur.execute(
            """
            CREATE TABLE IF NOT EXISTS user_sessions (
                id varchar(64) PRIMARY KEY,
                user_id integer NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                expires_at timestamptz
            )
            """
        )
        print("user_sessions is in place")
conn.close()
