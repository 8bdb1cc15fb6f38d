-- Orders with their lines; each line keeps the price and VAT rate of the
-- moment it was placed (a later catalogue change never alters an order).

create table orders (
    tenant_id uuid not null,
    id uuid not null,
    kind text not null check (kind in ('product', 'booking', 'hour_pack')),
    status text not null,
    customer_id uuid not null,
    residence_id uuid,
    placed_by text not null,
    placed_by_role text not null,
    customer_name text not null,
    customer_phone text not null,
    ship_to jsonb not null,
    confirmation_email text not null,
    shipping_method text not null,
    payment_mode text not null,
    terms_accepted_at timestamptz not null,
    total_excl_vat_cents bigint not null,
    total_vat_cents bigint not null,
    total_incl_vat_cents bigint not null,
    currency text not null,
    origin text not null,
    version bigint not null default 1,
    placed_at timestamptz not null default now(),
    primary key (tenant_id, id),
    foreign key (tenant_id, customer_id) references customers (tenant_id, id),
    foreign key (tenant_id, residence_id) references residences (tenant_id, id),
    check (total_incl_vat_cents = total_excl_vat_cents + total_vat_cents)
);
create index orders_customer on orders (tenant_id, customer_id, placed_at);
create index orders_residence on orders (tenant_id, residence_id, placed_at);

create table order_lines (
    tenant_id uuid not null,
    order_id uuid not null,
    line_no int not null,
    item_id uuid not null,
    reference text not null,
    name text not null,
    quantity int not null check (quantity > 0),
    unit_price_cents bigint not null check (unit_price_cents >= 0),
    vat_rate_bp int not null,
    discount_bp int not null check (discount_bp between 0 and 10000),
    total_excl_vat_cents bigint not null,
    vat_cents bigint not null,
    primary key (tenant_id, order_id, line_no),
    foreign key (tenant_id, order_id) references orders (tenant_id, id)
);
