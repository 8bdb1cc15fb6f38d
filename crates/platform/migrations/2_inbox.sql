-- Inbox: one row per (consumer, event) handled, written in the handler's
-- transaction, so a redelivered event changes nothing.
create table inbox (
    consumer text not null,
    event_id uuid not null,
    subject text not null,
    handled_at timestamptz not null default now(),
    primary key (consumer, event_id)
);
create index inbox_handled_at on inbox (handled_at);

-- Events a consumer gave up on after its last attempt, with the error; they
-- can be replayed once the cause is fixed.
create table dead_letters (
    id uuid primary key,
    consumer text not null,
    event_id uuid not null,
    subject text not null,
    payload bytea not null,
    headers jsonb not null default '{}',
    error text not null,
    attempts int not null,
    created_at timestamptz not null default now(),
    replayed_at timestamptz,
    unique (consumer, event_id)
);
create index dead_letters_pending on dead_letters (consumer, created_at) where replayed_at is null;
