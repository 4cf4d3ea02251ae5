-- Visit log, live map and alerts.

-- Alerts are e-mailed once: mailed_at is set when the mailer claims one.
-- Alerts raised before this migration are not mailed in a burst.
ALTER TABLE alerts ADD COLUMN mailed_at timestamptz;
UPDATE alerts SET mailed_at = now();
CREATE INDEX alerts_unmailed_idx ON alerts (at) WHERE mailed_at IS NULL;
-- The count badge reads unseen alerts on every page.
CREATE INDEX alerts_unseen_idx ON alerts (org_id) WHERE seen_at IS NULL;

-- SOS scans read the few fixes that carry an alarm.
CREATE INDEX positions_alarm_idx ON positions (fix_time) WHERE alarm IS NOT NULL;

-- The log and the live map look visits up by worker.
CREATE INDEX visits_worker_time_idx ON visits (worker_id, start_time);
CREATE INDEX visits_open_idx ON visits (device_id) WHERE end_time IS NULL;
