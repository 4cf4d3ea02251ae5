#!/bin/sh
# Runs once, when the PostgreSQL volume is first initialised: a read-only
# role for Grafana's visit panels. carevisit creates its tables later
# (migrations at start), so grant SELECT on future tables too.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
	-v pw="$GRAFANA_DB_PASSWORD" <<'SQL'
CREATE ROLE grafana_reader LOGIN PASSWORD :'pw';
ALTER ROLE grafana_reader SET statement_timeout = '10s';
ALTER ROLE grafana_reader SET default_transaction_read_only = on;
GRANT CONNECT ON DATABASE carevisit TO grafana_reader;
GRANT USAGE ON SCHEMA public TO grafana_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO grafana_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE carevisit IN SCHEMA public GRANT SELECT ON TABLES TO grafana_reader;
SQL
