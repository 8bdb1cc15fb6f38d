-- Interventions changed after planning: the time actually worked when done,
-- why one was cancelled.
alter table interventions
    add column actual_minutes int check (actual_minutes > 0),
    add column status_reason text not null default '';
