-- Conflicts left to staff (policy manual) are settled through the API:
-- who did it, and when.
alter table conflicts
    add column resolved_by text,
    add column resolved_at timestamptz;
