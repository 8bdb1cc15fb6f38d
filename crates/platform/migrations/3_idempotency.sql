-- Idempotency keys of creating calls (DESIGN §3): stored in the transaction
-- of the effect, with a hash of the request and the answer given.
create table idempotency_keys (
    tenant_id uuid not null,
    operation text not null,
    key text not null,
    request_hash bytea not null,
    response bytea,
    created_at timestamptz not null default now(),
    primary key (tenant_id, operation, key)
);
create index idempotency_keys_created_at on idempotency_keys (created_at);
