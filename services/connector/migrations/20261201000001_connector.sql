-- The connector's own state: connections to ERPs, the bindings between
-- shop and ERP records, the queue of writes to the ERP, runs, conflicts.

create table connections (
    tenant_id uuid not null,
    id uuid not null,
    name text not null,
    adapter text not null,
    endpoint text not null,
    -- The environment variable holding the credentials, never the
    -- credentials.
    secret_ref text not null,
    -- Families (direction, schedule), order-status rules, conflict policy:
    -- the ConnectionFields message as JSON.
    settings jsonb not null,
    enabled boolean not null,
    version bigint not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (id),
    constraint connections_tenant_id_name_key unique (tenant_id, name)
);

-- One shop record <-> one ERP record per connection, unique both ways, with
-- the version of each side as last synced: a side whose version moved has
-- changed since.
create table bindings (
    connection_id uuid not null references connections (id),
    entity text not null,
    internal_id text not null,
    external_id text not null,
    shop_version bigint not null default 0,
    erp_version bigint not null default 0,
    synced_at timestamptz not null default now(),
    primary key (connection_id, entity, internal_id),
    constraint bindings_external_key unique (connection_id, entity, external_id)
);

create table tariff_mappings (
    connection_id uuid not null references connections (id),
    service_id uuid not null,
    tariff_id text not null,
    primary key (connection_id, service_id),
    constraint tariff_mappings_tariff_key unique (connection_id, tariff_id)
);

-- Writes to the ERP, one row per shop record waiting to be written (a newer
-- event for the same record updates its snapshot instead of queueing a
-- second write). A worker leases due rows (`next_attempt_at` moved past the
-- call's timeout), writes, then marks them done or schedules the retry; a
-- crash mid-call just lets the lease run out, and the same idempotency
-- reference makes the second write find the first.
create table push_items (
    id uuid not null primary key,
    tenant_id uuid not null,
    connection_id uuid not null references connections (id),
    entity text not null,
    internal_id text not null,
    -- The record's protobuf snapshot, as its event carried it (empty: read
    -- it from its service).
    snapshot bytea not null,
    shop_version bigint not null,
    status text not null check (status in ('pending', 'done', 'dead')),
    attempts integer not null default 0,
    next_attempt_at timestamptz not null default now(),
    last_error text,
    -- What caused it (the event, or the run of a batch transfer).
    cause text not null,
    traceparent text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create unique index push_items_one_pending
    on push_items (connection_id, entity, internal_id) where status = 'pending';
create index push_items_due on push_items (next_attempt_at) where status = 'pending';
create index push_items_dead on push_items (connection_id, updated_at) where status = 'dead';

-- Where each pull resumes: the ERP's change time of the last record read.
create table cursors (
    connection_id uuid not null references connections (id),
    family text not null,
    changed_up_to timestamptz,
    primary key (connection_id, family)
);

create table runs (
    id uuid not null primary key,
    tenant_id uuid not null,
    connection_id uuid not null references connections (id),
    family text not null,
    trigger text not null,
    status text not null check (status in ('running', 'succeeded', 'partial', 'failed')),
    total bigint not null default 0,
    done bigint not null default 0,
    failed bigint not null default 0,
    applied bigint not null default 0,
    skipped bigint not null default 0,
    errors jsonb not null default '[]',
    started_at timestamptz not null default now(),
    -- Moved on every page: a run whose heartbeat stopped was interrupted
    -- (its process died) and no longer blocks the next.
    heartbeat_at timestamptz not null default now(),
    finished_at timestamptz
);

create index runs_by_connection on runs (connection_id, started_at desc);
-- At most one run of a family at a time per connection (replicas, a manual
-- run during a scheduled one).
create unique index runs_one_running on runs (connection_id, family) where status = 'running';

create table conflicts (
    id uuid not null primary key,
    tenant_id uuid not null,
    connection_id uuid not null references connections (id),
    entity text not null,
    internal_id text not null,
    external_id text not null,
    policy text not null,
    winner text,
    shop_version bigint not null,
    erp_version bigint not null,
    detected_at timestamptz not null default now()
);

create index conflicts_by_connection on conflicts (connection_id, detected_at desc);
