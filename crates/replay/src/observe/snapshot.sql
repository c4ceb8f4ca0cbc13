-- What a migration statement may change, read before and after it on the migration's own
-- connection (inside a savepoint): user tables with their relfilenode and the relation locks
-- this backend holds on them, indexes, CHECK/FOREIGN KEY constraints with whether they are
-- validated, and columns with whether they are NOT NULL (and proven so by a validated CHECK).
-- Columns: kind, oid, name, filenode, table oid, table name, extra. The marker line in `tbl`
-- becomes a filter to the tables this backend holds a lock on (the read after a statement
-- inside a transaction: a statement changes only tables it locks, and keeps the locks).
WITH held AS (
    SELECT l.relation, string_agg(l.mode, ',' ORDER BY l.mode) AS modes
    FROM pg_locks l
    WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
    GROUP BY l.relation
), tbl AS (
    SELECT c.oid, c.relfilenode, quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS qname
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'm')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'
    -- gate:locked-only
), proven AS (
    -- columns a validated CHECK (col IS NOT NULL) proves: its expression tree is one
    -- IS NOT NULL test (nulltesttype 1) of that column alone (read from conbin, cheaper than
    -- pg_get_constraintdef)
    SELECT DISTINCT k.conrelid, k.conkey[1] AS attnum
    FROM pg_constraint k
    WHERE k.contype = 'c' AND k.convalidated AND cardinality(k.conkey) = 1
      AND k.conbin::text LIKE '{NULLTEST :arg {VAR %'
      AND k.conbin::text LIKE '% :nulltesttype 1 %'
)
SELECT 'r'::text, t.oid::bigint, t.qname, t.relfilenode::bigint, t.oid::bigint, t.qname,
       coalesce(h.modes, '')
FROM tbl t LEFT JOIN held h ON h.relation = t.oid
UNION ALL
-- (an index is in its table's schema)
SELECT 'i', r.oid::bigint, quote_ident(r.relname), r.relfilenode::bigint, i.indrelid::bigint,
       t.qname, CASE WHEN i.indisvalid THEN 'valid' ELSE 'invalid' END
FROM tbl t JOIN pg_index i ON i.indrelid = t.oid
JOIN pg_class r ON r.oid = i.indexrelid AND r.relkind = 'i'
UNION ALL
SELECT 'c', k.oid::bigint, quote_ident(k.conname), 0::bigint, k.conrelid::bigint, t.qname,
       k.contype::text || CASE WHEN k.convalidated THEN 'v' ELSE '-' END
FROM pg_constraint k JOIN tbl t ON t.oid = k.conrelid
WHERE k.contype IN ('c', 'f')
UNION ALL
SELECT 'n', a.attrelid::bigint, quote_ident(a.attname), 0::bigint, a.attrelid::bigint, t.qname,
       CASE WHEN NOT a.attnotnull THEN 'null'
            WHEN p.attnum IS NOT NULL THEN 'notnull-proven' ELSE 'notnull' END
FROM pg_attribute a JOIN tbl t ON t.oid = a.attrelid
LEFT JOIN proven p ON p.conrelid = a.attrelid AND p.attnum = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped
