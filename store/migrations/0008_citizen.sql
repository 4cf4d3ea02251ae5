-- Citizen cabinet: departments with appointment schedules, citizens'
-- profiles (SNILS, passport and INN encrypted by the application), links to
-- care recipients, applications for services with documents and history,
-- notifications, bookings, ratings.

-- An organisation's departments: where citizens are registered and where
-- they come by appointment.
CREATE TABLE departments (
	id           bigserial PRIMARY KEY,
	org_id       bigint NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
	name         text NOT NULL,
	region       text NOT NULL DEFAULT '',
	address      text NOT NULL DEFAULT '',
	slot_minutes int NOT NULL DEFAULT 30 CHECK (slot_minutes BETWEEN 5 AND 480),
	capacity     int NOT NULL DEFAULT 1 CHECK (capacity BETWEEN 1 AND 100),
	created_at   timestamptz NOT NULL DEFAULT now(),
	UNIQUE (org_id, name)
);

-- Working hours per ISO weekday (1 = Monday), minutes after local midnight
-- in the organisation's zone. No row = closed that day.
CREATE TABLE department_hours (
	department_id bigint NOT NULL REFERENCES departments(id) ON DELETE CASCADE,
	weekday       smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7),
	start_min     int NOT NULL CHECK (start_min BETWEEN 0 AND 1439),
	end_min       int NOT NULL CHECK (end_min BETWEEN 1 AND 1440),
	PRIMARY KEY (department_id, weekday),
	CHECK (end_min > start_min)
);

CREATE TABLE department_holidays (
	department_id bigint NOT NULL REFERENCES departments(id) ON DELETE CASCADE,
	day           date NOT NULL,
	PRIMARY KEY (department_id, day)
);

-- Register of social-service providers a citizen may choose from.
CREATE TABLE providers (
	id       bigserial PRIMARY KEY,
	org_id   bigint NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
	name     text NOT NULL,
	address  text NOT NULL DEFAULT '',
	phone    text NOT NULL DEFAULT '',
	forms    text NOT NULL DEFAULT '',
	active   boolean NOT NULL DEFAULT true,
	UNIQUE (org_id, name)
);

-- A citizen's profile (users.role = 'citizen'; users.org_id stays NULL, the
-- organisation is the one of the chosen department). *_enc columns are
-- AES-256-GCM ciphertexts (package secretbox); snils_index is a keyed hash
-- for the one-account-per-SNILS rule. NULL org/department = not completed
-- yet (a first single sign-on).
CREATE TABLE citizen_profiles (
	user_id       bigint PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
	org_id        bigint REFERENCES organisations(id) ON DELETE CASCADE,
	department_id bigint REFERENCES departments(id) ON DELETE SET NULL,
	gender        text NOT NULL DEFAULT '' CHECK (gender IN ('', 'male', 'female')),
	birth_date    date,
	snils_enc     bytea,
	snils_index   bytea UNIQUE,
	passport_enc  bytea,
	inn_enc       bytea,
	phone         text NOT NULL DEFAULT '',
	reg_address   text NOT NULL DEFAULT '',
	res_address   text NOT NULL DEFAULT '',
	oidc_issuer   text,
	oidc_subject  text,
	created_at    timestamptz NOT NULL DEFAULT now(),
	updated_at    timestamptz NOT NULL DEFAULT now(),
	UNIQUE (oidc_issuer, oidc_subject)
);
CREATE INDEX citizen_profiles_org_idx ON citizen_profiles (org_id);

-- Which care recipients (clients) a citizen account sees: the recipient
-- themself ('self', linked by staff) and relatives the recipient granted.
CREATE TABLE citizen_clients (
	user_id    bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	client_id  bigint NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
	relation   text NOT NULL CHECK (relation IN ('self', 'relative')),
	granted_by bigint REFERENCES users(id) ON DELETE SET NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (user_id, client_id)
);
CREATE INDEX citizen_clients_client_idx ON citizen_clients (client_id);

CREATE SEQUENCE application_number_seq;

-- Applications for services. state: draft → review ("На рассмотрении") →
-- work ("В работе", status = sub-status) → done ("Исполнено", status =
-- outcome). A submitted application is the organisation's record: it stays
-- (user_id NULL) when the account is deleted.
CREATE TABLE applications (
	id             bigserial PRIMARY KEY,
	org_id         bigint NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
	user_id        bigint REFERENCES users(id) ON DELETE SET NULL,
	number         text UNIQUE,
	service        text NOT NULL,
	state          text NOT NULL DEFAULT 'draft' CHECK (state IN ('draft', 'review', 'work', 'done')),
	status         text NOT NULL DEFAULT '',
	form           jsonb NOT NULL DEFAULT '{}',
	applicant      text NOT NULL DEFAULT '',
	reason         text NOT NULL DEFAULT '',
	assignee_id    bigint REFERENCES users(id) ON DELETE SET NULL,
	created_at     timestamptz NOT NULL DEFAULT now(),
	updated_at     timestamptz NOT NULL DEFAULT now(),
	submitted_at   timestamptz,
	due_at         timestamptz,
	done_at        timestamptz,
	CHECK (state = 'draft' OR number IS NOT NULL)
);
CREATE INDEX applications_user_idx ON applications (user_id, created_at DESC);
CREATE INDEX applications_org_idx ON applications (org_id, state, submitted_at);

-- Status history, with who changed it and the comment shown to the citizen.
CREATE TABLE application_events (
	id             bigserial PRIMARY KEY,
	application_id bigint NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
	at             timestamptz NOT NULL DEFAULT now(),
	user_id        bigint REFERENCES users(id) ON DELETE SET NULL,
	state          text NOT NULL,
	status         text NOT NULL DEFAULT '',
	comment        text NOT NULL DEFAULT ''
);
CREATE INDEX application_events_app_idx ON application_events (application_id, at);

-- Documents: uploaded by the citizen (direction 'in') or sent to them by
-- staff ('out'). data is AES-256-GCM sealed; type was checked by content.
CREATE TABLE citizen_documents (
	id             bigserial PRIMARY KEY,
	org_id         bigint REFERENCES organisations(id) ON DELETE CASCADE,
	user_id        bigint REFERENCES users(id) ON DELETE SET NULL,
	application_id bigint REFERENCES applications(id) ON DELETE CASCADE,
	direction      text NOT NULL CHECK (direction IN ('in', 'out')),
	kind           text NOT NULL DEFAULT 'other',
	name           text NOT NULL,
	content_type   text NOT NULL CHECK (content_type IN ('application/pdf', 'image/jpeg', 'image/png')),
	size           int NOT NULL CHECK (size > 0),
	sha256         bytea NOT NULL,
	data           bytea NOT NULL,
	uploaded_by    bigint REFERENCES users(id) ON DELETE SET NULL,
	created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX citizen_documents_user_idx ON citizen_documents (user_id, created_at DESC);
CREATE INDEX citizen_documents_app_idx ON citizen_documents (application_id);

-- In-cabinet notifications; text is a message key with arguments, shown in
-- the reader's language.
CREATE TABLE citizen_notifications (
	id         bigserial PRIMARY KEY,
	user_id    bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	at         timestamptz NOT NULL DEFAULT now(),
	key        text NOT NULL,
	args       text[] NOT NULL DEFAULT '{}',
	link       text NOT NULL DEFAULT '',
	read_at    timestamptz
);
CREATE INDEX citizen_notifications_user_idx ON citizen_notifications (user_id, at DESC);

-- Ratings of the quality of a service (an organisation's service or an
-- online service kind), one per citizen and subject, newest wins.
CREATE TABLE service_ratings (
	id         bigserial PRIMARY KEY,
	user_id    bigint REFERENCES users(id) ON DELETE CASCADE,
	org_id     bigint NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
	subject    text NOT NULL,
	rating     smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
	comment    text NOT NULL DEFAULT '',
	at         timestamptz NOT NULL DEFAULT now(),
	UNIQUE (user_id, subject)
);

-- Appointments. Capacity is enforced twice: bookings lock the department
-- row and count, and a seat number unique per slot catches anything else.
CREATE TABLE bookings (
	id            bigserial PRIMARY KEY,
	org_id        bigint NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
	department_id bigint NOT NULL REFERENCES departments(id) ON DELETE CASCADE,
	user_id       bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	number        text NOT NULL UNIQUE,
	service       text NOT NULL,
	slot_start    timestamptz NOT NULL,
	slot_end      timestamptz NOT NULL,
	seat          int NOT NULL CHECK (seat >= 1),
	status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'cancelled')),
	created_at    timestamptz NOT NULL DEFAULT now(),
	cancelled_at  timestamptz
);
CREATE UNIQUE INDEX bookings_seat_idx ON bookings (department_id, slot_start, seat) WHERE status = 'active';
CREATE INDEX bookings_user_idx ON bookings (user_id, slot_start);

-- "Tell me when a slot frees up" for a department and day.
CREATE TABLE booking_watches (
	user_id       bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	department_id bigint NOT NULL REFERENCES departments(id) ON DELETE CASCADE,
	day           date NOT NULL,
	service       text NOT NULL DEFAULT '',
	created_at    timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (user_id, department_id, day)
);
