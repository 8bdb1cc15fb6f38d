-- Each lease of a queued write gets its own token: only the worker holding
-- the current lease records the outcome (one whose lease ran out and was
-- taken over changes nothing).
alter table push_items add column lease uuid;
