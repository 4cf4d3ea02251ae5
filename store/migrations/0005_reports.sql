-- Scheduled report e-mails and their run log.

-- A schedule sends one report kind over one scope to a list of recipients.
-- cron_spec is a standard 5-field cron expression evaluated in the
-- organisation's time zone; preset keeps the UI's choice ('daily', 'weekly',
-- 'monthly' or 'custom'). period is what each e-mail covers: the day, week
-- (7 days) or calendar month that ended before the due time.
CREATE TABLE report_schedules (
	id          bigserial PRIMARY KEY,
	org_id      bigint NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
	kind        text NOT NULL DEFAULT 'visits' CHECK (kind IN ('visits')),
	scope       text NOT NULL DEFAULT 'org' CHECK (scope IN ('org', 'group', 'worker')),
	scope_id    bigint NOT NULL DEFAULT 0,
	format      text NOT NULL DEFAULT 'xlsx' CHECK (format IN ('xlsx', 'csv')),
	lang        text NOT NULL DEFAULT 'ru' CHECK (lang IN ('ru', 'en')),
	preset      text NOT NULL DEFAULT 'custom' CHECK (preset IN ('daily', 'weekly', 'monthly', 'custom')),
	cron_spec   text NOT NULL,
	period      text NOT NULL CHECK (period IN ('day', 'week', 'month')),
	recipients  text[] NOT NULL CHECK (cardinality(recipients) > 0),
	enabled     boolean NOT NULL DEFAULT true,
	created_at  timestamptz NOT NULL DEFAULT now(),
	updated_at  timestamptz NOT NULL DEFAULT now(),
	CHECK ((scope = 'org') = (scope_id = 0))
);
CREATE INDEX report_schedules_org_idx ON report_schedules (org_id);

-- One row per schedule and due time. The unique key is the cross-instance
-- lock: whichever server inserts the row first owns the due time; the lease
-- (lease_until) lets another instance take over a run whose owner died.
CREATE TABLE report_runs (
	id              bigserial PRIMARY KEY,
	schedule_id     bigint NOT NULL REFERENCES report_schedules(id) ON DELETE CASCADE,
	due_at          timestamptz NOT NULL,
	status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'retry', 'sent', 'failed')),
	attempts        int NOT NULL DEFAULT 0,
	error           text NOT NULL DEFAULT '',
	next_attempt_at timestamptz NOT NULL,
	lease_owner     text NOT NULL DEFAULT '',
	lease_until     timestamptz,
	created_at      timestamptz NOT NULL DEFAULT now(),
	sent_at         timestamptz,
	UNIQUE (schedule_id, due_at)
);
CREATE INDEX report_runs_todo_idx ON report_runs (next_attempt_at) WHERE status IN ('pending', 'retry', 'running');
