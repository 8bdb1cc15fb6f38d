-- Each claim names its writer: a writer releases only its own claim, not
-- one another writer took over after it went stale.
alter table create_claims add column token uuid;
