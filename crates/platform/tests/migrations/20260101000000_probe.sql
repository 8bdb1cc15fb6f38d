-- A minimal service for the messaging tests: aggregates whose changes emit
-- events, and the effects a consumer applies.
create table aggregates (
    id text primary key,
    version bigint not null default 0
);

create table effects (
    consumer text not null,
    event_id uuid not null,
    subject text not null,
    payload bytea not null,
    traceparent text,
    applied_at timestamptz not null default now(),
    primary key (consumer, event_id)
);
