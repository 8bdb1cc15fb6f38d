-- Transactional outbox: a service writes its rows and the events they cause
-- in one transaction; the relay publishes them to JetStream (DESIGN §4).
create table outbox (
    -- Event id (UUIDv7), sent as Nats-Msg-Id so JetStream drops a duplicate.
    id uuid primary key,
    -- Publication order. Identity values commit out of order, so the relay
    -- never reads "seq > last seen": it reads every unpublished row.
    seq bigint generated always as identity,
    subject text not null,
    payload bytea not null,
    -- W3C trace context and other NATS headers.
    headers jsonb not null default '{}',
    aggregate_id text not null default '',
    created_at timestamptz not null default now(),
    published_at timestamptz
);

-- Covering partial index: the relay's poll and the backlog metrics read only this.
create index outbox_unpublished on outbox (seq) include (id, created_at) where published_at is null;
create index outbox_published_at on outbox (published_at) where published_at is not null;
create index outbox_created_at on outbox (created_at);
