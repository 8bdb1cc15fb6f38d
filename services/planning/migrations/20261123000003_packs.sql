-- The hour-pack ledger (seed 002): one balance per paid pack purchase.
-- Planned and consumed time are summed from the interventions attached to
-- the pack, so the ledger can never disagree with them; the row is locked
-- while interventions are attached, so a pack is never over-planned.
create table packs (
    tenant_id uuid not null,
    order_id uuid not null,
    customer_id uuid not null,
    hour_pack_id uuid not null,
    name text not null,
    minutes_bought int not null check (minutes_bought > 0),
    eligible uuid[] not null,
    vat_rate_bp int not null,
    status text not null check (status in ('open', 'exhausted')),
    version bigint not null default 1,
    opened_at timestamptz not null default now(),
    primary key (tenant_id, order_id)
);
create index packs_customer on packs (tenant_id, customer_id);

alter table interventions add column pack_note text not null default '';
create index interventions_pack on interventions (tenant_id, hour_pack_order_id)
    where hour_pack_order_id is not null;
