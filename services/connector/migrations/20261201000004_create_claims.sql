-- A creation in the ERP in progress, by its idempotency reference: a
-- second writer of the same record (another replica, or a dependency
-- written ahead of its own queue item) waits for the first's binding
-- instead of creating it again in an ERP that keeps no reference of its
-- own. A claim older than a write may last is taken over (its writer died).
create table create_claims (
    connection_id uuid not null references connections (id),
    reference text not null,
    claimed_at timestamptz not null default now(),
    primary key (connection_id, reference)
);
