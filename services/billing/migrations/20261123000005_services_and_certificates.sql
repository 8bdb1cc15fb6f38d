-- Bookings are invoiced from the interventions actually done (seed 001),
-- and a customer's paid services add up to their annual tax certificate.

-- Whether a line pays for services eligible to the tax credit (services
-- à la personne): bookings and hour packs, per the catalogue; products
-- never.
alter table invoice_lines add column tax_credit boolean not null default false;

-- A confirmed booking, as its invoice lines will need it.
create table bookings (
    tenant_id uuid not null,
    order_id uuid not null,
    customer_id uuid not null,
    customer_name text not null,
    email text not null default '',
    service_id uuid not null,
    reference text not null,
    description text not null,
    vat_rate_bp int not null,
    discount_bp int not null,
    payment_mode text not null,
    tax_credit boolean not null,
    primary key (tenant_id, order_id)
);

-- Workers' names, from planning's worker events (certificates name them).
create table workers (
    tenant_id uuid not null,
    id uuid not null,
    name text not null,
    version bigint not null,
    primary key (tenant_id, id)
);

-- Interventions done, until invoiced (then invoice_id is set, and a later
-- change of hours no longer applies). Those paid by a pack stay here with
-- no invoice: the pack's invoice paid them; certificates count their hours.
create table done_interventions (
    tenant_id uuid not null,
    intervention_id uuid not null,
    order_id uuid not null,
    customer_id uuid not null,
    worker_id uuid,
    started_at timestamptz not null,
    planned_minutes int not null,
    actual_minutes int not null,
    price_cents bigint not null,
    hour_pack_order_id uuid,
    invoice_id uuid,
    version bigint not null,
    primary key (tenant_id, intervention_id),
    foreign key (tenant_id, order_id) references bookings (tenant_id, order_id),
    foreign key (tenant_id, invoice_id) references invoices (tenant_id, id)
);
create index done_interventions_pending on done_interventions (tenant_id, started_at)
    where invoice_id is null and hour_pack_order_id is null;
create index done_interventions_customer on done_interventions (tenant_id, customer_id, started_at);

create table tax_certificates (
    tenant_id uuid not null,
    id uuid not null,
    number text not null,
    customer_id uuid not null,
    customer_name text not null,
    year int not null,
    amount_paid_cents bigint not null check (amount_paid_cents >= 0),
    minutes int not null check (minutes >= 0),
    -- [{"worker_id": .., "name": .., "minutes": ..}]
    workers jsonb not null default '[]',
    origin text not null,
    issued_at timestamptz not null default now(),
    file_name text not null,
    document bytea not null,
    primary key (tenant_id, id),
    -- One per customer and year, whoever issued it.
    unique (tenant_id, customer_id, year),
    unique (tenant_id, number)
);
