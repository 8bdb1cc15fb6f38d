-- What each intervention is worth (excl. VAT), for payroll and for paying
-- marketplace providers (seeds 000, 002): the booking's price per
-- occurrence, or its share of the pack that pays for it.
alter table interventions add column price_cents bigint not null default 0 check (price_cents >= 0);
alter table packs add column price_cents bigint not null default 0 check (price_cents >= 0);
