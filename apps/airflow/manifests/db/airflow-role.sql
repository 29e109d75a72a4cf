-- Airflow's own database role. psql runs this as the RDS master user, connected to the metadata
-- database (the Job airflow-db-role, airflow-db.yaml):
--
--   psql --no-psqlrc --set=ON_ERROR_STOP=1 --file=airflow-role.sql
--
-- It reads from its environment AIRFLOW_DB_ROLE (the role, "airflow") and AIRFLOW_DB_ROLE_PASSWORD_FILE
-- (a file holding the role's password), and libpq's PG* variables for the connection (the Job: a
-- service file, PGSERVICEFILE and PGSERVICE). Every statement converges, so each run leaves the
-- same state, whatever the last run did: the role exists, may log in with this password and nothing
-- else (no superuser, no CREATEDB, no CREATEROLE), and owns the database psql is connected to and
-- every object in it that the master user owned, so that Airflow's migrations can alter them.
-- Nobody else may connect to that database; the master user keeps access as a member of the role
-- (break-glass, and the next run of this script).
--
-- tests/apps/test_airflow_db_role.py runs it against a real PostgreSQL server: a first run, a second
-- run, a changed password, and the refusals below. No statement echoes the password: psql runs
-- quietly, and errors are terse.

\set ON_ERROR_STOP on
\set QUIET on
\set VERBOSITY terse
\getenv role AIRFLOW_DB_ROLE
\getenv password_file AIRFLOW_DB_ROLE_PASSWORD_FILE

-- Refuse to run on a missing input, and never turn the login that runs this into the role.
\if :{?role}
\else
  DO $$ BEGIN RAISE EXCEPTION 'AIRFLOW_DB_ROLE is not set'; END $$;
\endif
\if :{?password_file}
\else
  DO $$ BEGIN RAISE EXCEPTION 'AIRFLOW_DB_ROLE_PASSWORD_FILE is not set'; END $$;
\endif
-- The file's content, less its last line break; empty (and refused below) when it cannot be read.
\set role_password `cat :'password_file'`
SELECT :'role' = '' AS role_empty, length(:'role_password') < 16 AS password_short,
       :'role' = current_user AS role_is_me, current_database() AS database \gset
\if :role_empty
  DO $$ BEGIN RAISE EXCEPTION 'AIRFLOW_DB_ROLE is empty'; END $$;
\endif
\if :password_short
  DO $$ BEGIN RAISE EXCEPTION 'the password in AIRFLOW_DB_ROLE_PASSWORD_FILE is missing or shorter than 16 characters'; END $$;
\endif
\if :role_is_me
  DO $$ BEGIN RAISE EXCEPTION 'AIRFLOW_DB_ROLE names the user that runs this script'; END $$;
\endif

-- The role: created once, its attributes and password set at every run.
SELECT NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = :'role') AS role_missing \gset
\if :role_missing
  CREATE ROLE :"role";
\endif
ALTER ROLE :"role" WITH LOGIN NOCREATEDB NOCREATEROLE INHERIT CONNECTION LIMIT -1 VALID UNTIL 'infinity'
  PASSWORD :'role_password';

-- The master user may act as the role: hand objects to it (ALTER ... OWNER TO needs that), and use
-- what it owns. From PostgreSQL 16 on, creating a role gives its creator only the right to grant it.
GRANT :"role" TO CURRENT_USER;

-- The database: owned by the role, closed to everybody else.
ALTER DATABASE :"database" OWNER TO :"role";
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;

-- What the master user owns in it goes to the role: everything Airflow created while it logged in
-- as the master user (tables with their indexes and owned sequences, views, sequences, types,
-- functions, schemas). System schemas and members of extensions stay as they are.
SELECT set_config('airflow_db_role.name', :'role', false) AS role_setting \gset
DO $$
DECLARE
  target text := current_setting('airflow_db_role.name');
  me oid := (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user);
  item record;
BEGIN
  FOR item IN
    SELECT format('ALTER SCHEMA %I OWNER TO %I', n.nspname, target) AS statement
    FROM pg_catalog.pg_namespace AS n
    WHERE n.nspowner = me
      AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
  LOOP
    EXECUTE item.statement;
  END LOOP;

  FOR item IN
    SELECT format(
             'ALTER %s %s OWNER TO %I',
             CASE c.relkind
               WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
               WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE'
             END,
             c.oid::regclass, target) AS statement
    FROM pg_catalog.pg_class AS c
    JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
    WHERE c.relowner = me
      AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
      AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
      -- a sequence of a serial or identity column follows its table
      AND NOT (c.relkind = 'S' AND EXISTS (
        SELECT FROM pg_catalog.pg_depend AS d
        WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')))
      AND NOT EXISTS (
        SELECT FROM pg_catalog.pg_depend AS d
        WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
  LOOP
    EXECUTE item.statement;
  END LOOP;

  -- Enums, domains, ranges and stand-alone composite types; a table's row type follows its table.
  FOR item IN
    SELECT format('ALTER TYPE %s OWNER TO %I', t.oid::regtype, target) AS statement
    FROM pg_catalog.pg_type AS t
    JOIN pg_catalog.pg_namespace AS n ON n.oid = t.typnamespace
    LEFT JOIN pg_catalog.pg_class AS c ON c.oid = t.typrelid
    WHERE t.typowner = me
      AND (t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND c.relkind = 'c'))
      AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
      AND NOT EXISTS (
        SELECT FROM pg_catalog.pg_depend AS d
        WHERE d.classid = 'pg_catalog.pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
  LOOP
    EXECUTE item.statement;
  END LOOP;

  FOR item IN
    SELECT format('ALTER ROUTINE %s OWNER TO %I', p.oid::regprocedure, target) AS statement
    FROM pg_catalog.pg_proc AS p
    JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
    WHERE p.proowner = me
      AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
      AND NOT EXISTS (
        SELECT FROM pg_catalog.pg_depend AS d
        WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
  LOOP
    EXECUTE item.statement;
  END LOOP;
END
$$;

\unset QUIET
SELECT r.rolname AS role, r.rolcanlogin AS login, r.rolsuper AS superuser, r.rolcreatedb AS createdb,
       r.rolcreaterole AS createrole, pg_catalog.pg_get_userbyid(d.datdba) AS database_owner
FROM pg_catalog.pg_roles AS r, pg_catalog.pg_database AS d
WHERE r.rolname = :'role' AND d.datname = current_database();
