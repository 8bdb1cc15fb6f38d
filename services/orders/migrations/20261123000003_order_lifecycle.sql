-- Bookings and hour-pack purchases next to product orders, the order life
-- cycle, and the history of every status change (who, from where, why).

alter table orders
    add column booking jsonb,
    add column hour_pack jsonb,
    add column picking_list_ref text not null default '',
    add column delivery_note_ref text not null default '',
    add column status_reason text not null default '',
    add column external_ref text not null default '',
    add column updated_at timestamptz not null default now(),
    add constraint orders_status check (status in
        ('quote', 'placed', 'confirmed', 'preparing', 'shipped', 'delivered',
         'in_progress', 'completed', 'cancelled')),
    add constraint orders_kind_detail check (
        (kind = 'booking') = (booking is not null)
        and (kind = 'hour_pack') = (hour_pack is not null));

-- Newest first for every role's list; the primary key is by tenant only.
create index orders_placed on orders (tenant_id, id desc);
create index orders_placed_by on orders (tenant_id, placed_by, id desc);

-- A customer's confirmed packs, looked up when a booking pays with one.
create index orders_customer_kind on orders (tenant_id, customer_id, kind, status);

create table order_status_changes (
    tenant_id uuid not null,
    order_id uuid not null,
    version bigint not null,
    from_status text not null,
    to_status text not null,
    reason text not null,
    origin text not null,
    actor text not null,
    changed_at timestamptz not null default now(),
    primary key (tenant_id, order_id, version),
    foreign key (tenant_id, order_id) references orders (tenant_id, id)
);

create index order_lines_item on order_lines (tenant_id, item_id);
