-- What a merge is writing to each side, kept until both sides agree: a
-- write whose answer was lost, then a newer edit on the other side, is
-- still known as the connector's own (docs/sync.md).
alter table bindings
    add column sent_erp jsonb,
    add column sent_shop jsonb;
