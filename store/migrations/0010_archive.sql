-- People taken off the books: a client who left the service, a worker who
-- quit. Rows stay (visits, reports and the audit log refer to them); NULL
-- means active. The reason is in audit_log (action 'archive').
ALTER TABLE clients ADD COLUMN archived_at timestamptz;
ALTER TABLE workers ADD COLUMN archived_at timestamptz;
