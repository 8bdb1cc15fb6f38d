-- The reference ERP's own store: every object (customer, employee, tariff,
-- service, quote, invoice, taxcertificate) as a JSON record with an id of
-- the ERP's making, a version and a modification time for incremental
-- searches. `reference` is the caller's idempotency reference: a second
-- `set` with it returns the first record instead of creating another.
create table records (
    object text not null,
    id text not null,
    reference text,
    data jsonb not null,
    version bigint not null default 1,
    updated_at timestamptz not null default clock_timestamp(),
    deleted boolean not null default false,
    primary key (object, id)
);
create unique index records_reference on records (object, reference) where reference is not null;
create index records_updated on records (object, updated_at);

create sequence record_numbers;
