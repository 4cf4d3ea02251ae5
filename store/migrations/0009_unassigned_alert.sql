-- Visits to clients not assigned to the worker (substitutes, visits off the
-- plan) are detected and flagged; supervisors get an alert for each.
ALTER TABLE alerts DROP CONSTRAINT alerts_kind_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_kind_check CHECK (kind IN ('sos', 'short_visit', 'missed_visit', 'offline',
	'low_battery', 'dispute', 'mock_location', 'unassigned_visit'));
