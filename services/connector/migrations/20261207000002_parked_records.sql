-- ERP records a pull could not apply (a document whose customer is not
-- bound, say): kept aside with why, so the family's cursor moves on past
-- them; each run of the family reads them again from the ERP by id first.
-- `object` is the ERP object (taxcertificate, article...): a family may
-- pull more than one.
create table parked_records (
    connection_id uuid not null references connections (id),
    object text not null,
    external_id text not null,
    reason text not null,
    attempts integer not null default 1,
    parked_at timestamptz not null default now(),
    last_tried_at timestamptz not null default now(),
    primary key (connection_id, object, external_id)
);

-- How many records of the family were parked when the run ended.
alter table runs add column parked bigint not null default 0;
