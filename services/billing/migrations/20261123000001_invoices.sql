-- Invoices drafted from paid orders, numbered at validation. Numbers are
-- sequential per tenant and year with no gap: the next number is taken from
-- a counter row locked by the validating transaction, so a validation that
-- rolls back gives its number back and concurrent ones wait their turn.

create table invoice_sequences (
    tenant_id uuid not null,
    series text not null,
    next_number bigint not null check (next_number > 0),
    primary key (tenant_id, series)
);

create table invoices (
    tenant_id uuid not null,
    id uuid not null,
    number text,
    status text not null check (status in ('draft', 'validated', 'paid', 'payment_failed')),
    customer_id uuid not null,
    customer_name text not null,
    order_id uuid not null,
    payment_mode text not null,
    total_excl_vat_cents bigint not null,
    total_vat_cents bigint not null,
    total_incl_vat_cents bigint not null,
    currency text not null,
    validated_at timestamptz,
    origin text not null,
    version bigint not null default 1,
    created_at timestamptz not null default now(),
    primary key (tenant_id, id),
    -- One invoice per order: a redelivered order event bills nothing twice.
    unique (tenant_id, order_id),
    unique (tenant_id, number),
    check (total_incl_vat_cents = total_excl_vat_cents + total_vat_cents),
    check ((status = 'draft') = (number is null))
);
create index invoices_customer on invoices (tenant_id, customer_id, id desc);

create table invoice_lines (
    tenant_id uuid not null,
    invoice_id uuid not null,
    line_no int not null,
    item_id uuid not null,
    reference text not null,
    description text not null,
    quantity int not null,
    unit_price_cents bigint not null,
    vat_rate_bp int not null,
    discount_bp int not null,
    total_excl_vat_cents bigint not null,
    vat_cents bigint not null,
    primary key (tenant_id, invoice_id, line_no),
    foreign key (tenant_id, invoice_id) references invoices (tenant_id, id)
);
