-- Monthly billing through the residence (seed 003): orders paid that way
-- wait in monthly_orders until the month's invoice of their resident is
-- drafted; that invoice bills a period, not an order. An order is billed
-- once because drafting takes its row (for update) only while invoice_id is
-- null and sets it in the same transaction.
alter table invoices
    alter column order_id drop not null,
    add column period text,
    add constraint invoices_bills_something
        check (kind <> 'invoice' or (order_id is null) <> (period is null));
create index invoices_period on invoices (tenant_id, period) where period is not null;

create table monthly_orders (
    tenant_id uuid not null,
    order_id uuid not null,
    customer_id uuid not null,
    customer_name text not null,
    residence_id uuid,
    confirmed_at timestamptz not null,
    -- Set once the order is on a drafted invoice.
    invoice_id uuid,
    primary key (tenant_id, order_id),
    foreign key (tenant_id, invoice_id) references invoices (tenant_id, id)
);
create index monthly_orders_pending on monthly_orders (tenant_id, confirmed_at) where invoice_id is null;

create table monthly_order_lines (
    tenant_id uuid not null,
    order_id uuid not null,
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
    primary key (tenant_id, order_id, line_no),
    foreign key (tenant_id, order_id) references monthly_orders (tenant_id, order_id)
);
