-- The tenant a dead letter belongs to, so that a tenant's admin lists and
-- replays its own and never another's (MessagingService). Taken from the
-- subject, `<ns>.<service>.v1.<tenant>.<aggregate>.<event>`: the third
-- token from the end. A subject that does not hold one (none should) leaves
-- it null: such a dead letter is no tenant's to see.
alter table dead_letters add column tenant uuid;

update dead_letters set tenant = split_part(subject, '.', -3)::uuid
where split_part(subject, '.', -3) ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

create index dead_letters_tenant on dead_letters (tenant, consumer, created_at);
