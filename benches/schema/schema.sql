-- A 1,000-table schema for the snapshot benchmark: every table has a serial key, a foreign key
-- to the previous table, an enum column, defaults, a check, a unique constraint and two extra
-- indexes; plus enums, views, a materialized view, functions and triggers.
CREATE TYPE status_0 AS ENUM ('new', 'active', 'suspended', 'closed');
CREATE TYPE status_1 AS ENUM ('draft', 'sent', 'paid', 'void');
CREATE TYPE status_2 AS ENUM ('low', 'medium', 'high');
CREATE TYPE status_3 AS ENUM ('user', 'admin', 'super_admin');
CREATE TYPE status_4 AS ENUM ('a', 'b', 'c', 'd', 'e');
CREATE DOMAIN email AS text CHECK (VALUE LIKE '%@%');
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END $$;
DO $$
BEGIN
  FOR i IN 1..1000 LOOP
    EXECUTE format(
      'CREATE TABLE t_%s (
         id bigserial PRIMARY KEY,
         parent_id bigint %s,
         name text NOT NULL,
         email email,
         status status_%s NOT NULL DEFAULT %L,
         amount numeric(12, 2) DEFAULT 0,
         active boolean NOT NULL DEFAULT true,
         created_at timestamptz NOT NULL DEFAULT now(),
         updated_at timestamptz,
         CONSTRAINT t_%s_amount_check CHECK (amount >= 0),
         CONSTRAINT t_%s_name_key UNIQUE (name))',
      i,
      CASE WHEN i > 1 THEN format('REFERENCES t_%s (id) ON DELETE CASCADE', i - 1) ELSE '' END,
      i % 5,
      CASE i % 5 WHEN 0 THEN 'new' WHEN 1 THEN 'draft' WHEN 2 THEN 'low' WHEN 3 THEN 'user' ELSE 'a' END,
      i, i);
    EXECUTE format('CREATE INDEX ix_t_%s_parent_created ON t_%s (parent_id, created_at)', i, i);
    EXECUTE format('CREATE INDEX ix_t_%s_active ON t_%s (status) WHERE active', i, i);
    IF i % 10 = 0 THEN
      EXECUTE format('CREATE TRIGGER t_%s_touch BEFORE UPDATE ON t_%s
                      FOR EACH ROW EXECUTE FUNCTION touch()', i, i);
      EXECUTE format('CREATE VIEW v_%s AS SELECT t.id, t.name, p.name AS parent
                      FROM t_%s t LEFT JOIN t_%s p ON p.id = t.parent_id WHERE t.active', i, i, i - 1);
      EXECUTE format('CREATE FUNCTION count_%s() RETURNS bigint LANGUAGE sql STABLE
                      AS %L', i, format('SELECT count(*) FROM t_%s', i));
    END IF;
  END LOOP;
END $$;
CREATE MATERIALIZED VIEW mv_totals AS SELECT status, sum(amount) AS total FROM t_1 GROUP BY status;
CREATE UNIQUE INDEX ix_mv_totals ON mv_totals (status);
