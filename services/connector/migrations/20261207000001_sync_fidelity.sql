-- Sync fidelity (docs/sync.md): each binding keeps the mapped fields both
-- sides last agreed on, so a change is told from the connector's own write
-- by content and two sides' edits merge field by field. A binding held by
-- an open manual conflict is written by neither side until staff settle it.
alter table bindings
    add column agreed jsonb,
    add column held_by uuid;

-- A conflict names its fields and each side's value; an ERP edit of a
-- record the shop owns is recorded the same way (kind erp_overwritten),
-- with what the ERP had and what the shop restored.
alter table conflicts
    add column kind text not null default 'conflict',
    add column fields jsonb not null default '[]',
    add column rule text;
