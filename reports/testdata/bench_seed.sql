-- A month of visits for a large organisation: 1,000 workers in 20 groups,
-- 5,000 clients, 100 visits per worker in November 2026 (100,000 visits,
-- 4 a day on 25 days, 10-90 minutes each). Used by BenchmarkBuildVisitsMonth
-- and by the `report visits` timing in docs/benchmarks-reports.md:
--   psql "$DSN" -f reports/testdata/bench_seed.sql
-- Load it into a freshly migrated database: the organisation is the newest one.
SELECT setseed(0.42);

INSERT INTO organisations (name, timezone) VALUES ('Нагрузочный ЦСО', 'Europe/Moscow');
CREATE TEMP TABLE bench_org AS SELECT max(id) AS id FROM organisations;

INSERT INTO groups (org_id, name) SELECT o.id, 'Участок ' || g FROM bench_org o, generate_series(1, 20) g;

INSERT INTO devices (org_id, ident, protocol)
SELECT o.id, 'bench' || o.id || '-' || i, 'gt06' FROM bench_org o, generate_series(1, 1000) i;

INSERT INTO workers (org_id, full_name, device_id, group_id)
SELECT o.id, 'Сотрудник ' || lpad(i::text, 4, '0'), d.id,
	(SELECT g.id FROM groups g WHERE g.org_id = o.id ORDER BY g.id OFFSET (i % 20) LIMIT 1)
FROM bench_org o, generate_series(1, 1000) i JOIN devices d ON true
WHERE d.ident = 'bench' || (SELECT id FROM bench_org) || '-' || i;

INSERT INTO clients (org_id, full_name, address, fence_kind, center_lat, center_lon, radius_m)
SELECT o.id, 'Клиент ' || lpad(i::text, 5, '0'), 'ул. Садовая, д. ' || (i % 200 + 1) || ', кв. ' || (i % 90 + 1),
	'circle', 54.6 + random() * 0.1, 39.7 + random() * 0.1, 40
FROM bench_org o, generate_series(1, 5000) i;

INSERT INTO visits (org_id, device_id, worker_id, client_id, start_time, end_time, last_seen, duration_s, flags)
SELECT w.org_id, w.device_id, w.id, c0.first + (w.rn - 1) * 5 + k % 5,
	t.st, t.st + t.dur, t.st + t.dur, extract(epoch FROM t.dur)::int,
	CASE WHEN t.dur < interval '15 minutes' THEN '{short}'::text[] ELSE '{}'::text[] END
FROM (SELECT id, org_id, device_id, row_number() OVER (ORDER BY id) AS rn
	FROM workers WHERE org_id = (SELECT id FROM bench_org)) w
CROSS JOIN (SELECT min(id) AS first FROM clients WHERE org_id = (SELECT id FROM bench_org)) c0
CROSS JOIN generate_series(0, 99) k
CROSS JOIN LATERAL (SELECT
	('2026-11-01'::timestamp + (k / 4) * interval '1 day'
		+ (ARRAY['09:00', '11:00', '13:30', '15:30'])[k % 4 + 1]::interval
		+ (random() * 20)::int * interval '1 minute' + (w.rn % 7) * interval '1 second') AT TIME ZONE 'Europe/Moscow' AS st,
	(10 + (random() * 80)::int) * interval '1 minute' AS dur) t;

ANALYZE organisations, groups, workers, clients, visits;
