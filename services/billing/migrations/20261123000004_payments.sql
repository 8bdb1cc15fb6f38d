-- Customers as billing needs them, kept from the orders service's customer
-- events: where to send documents, how to address them, and the saved card
-- to debit (the provider's reference only, never card data).
create table customers (
    tenant_id uuid not null,
    id uuid not null,
    name text not null,
    email text not null default '',
    address text not null default '',
    payment_method_ref text not null default '',
    version bigint not null,
    primary key (tenant_id, id)
);

alter table invoices
    add column paid_at_order boolean not null default false,
    add column paid_at timestamptz,
    -- Where the order asked its confirmation to go (a resident without
    -- e-mail: the residence's), used when the customer has no e-mail.
    add column email text not null default '';

-- The PDF of each validated invoice and issued credit note, as sent.
create table documents (
    tenant_id uuid not null,
    invoice_id uuid not null,
    file_name text not null,
    content bytea not null,
    created_at timestamptz not null default now(),
    primary key (tenant_id, invoice_id),
    foreign key (tenant_id, invoice_id) references invoices (tenant_id, id)
);

-- Each attempt at a charge or a refund. The idempotency key is the
-- attempt's: a call whose outcome is unknown is sent again with it, so the
-- provider never charges twice; a soft decline makes a new attempt (key).
create table payments (
    tenant_id uuid not null,
    id uuid not null,
    invoice_id uuid not null,
    customer_id uuid not null,
    kind text not null check (kind in ('charge', 'refund')),
    attempt int not null check (attempt > 0),
    idempotency_key text not null,
    amount_cents bigint not null check (amount_cents > 0),
    currency text not null,
    payment_method_ref text not null default '',
    -- Refunds: the charge refunded and the credit note behind it.
    refunds_ref text,
    credit_note_id uuid,
    status text not null check (status in ('pending', 'succeeded', 'failed')),
    provider_ref text,
    failure_code text,
    failure_message text,
    calls int not null default 0,
    next_attempt_at timestamptz not null default now(),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (tenant_id, id),
    unique (idempotency_key),
    unique nulls not distinct (tenant_id, invoice_id, kind, attempt, credit_note_id),
    foreign key (tenant_id, invoice_id) references invoices (tenant_id, id)
);
create index payments_due on payments (next_attempt_at) where status = 'pending';
create index payments_customer on payments (tenant_id, customer_id, id desc);
create index payments_invoice on payments (tenant_id, invoice_id, id desc);

-- Lines of an invoice validated in the ERP name no catalogue item.
alter table invoice_lines alter column item_id drop not null;
