-- An idempotency key belongs to the caller that sent it, not just to the
-- tenant: another caller re-sending the same key and body must never be
-- handed the first caller's stored answer (a customer's order, with their
-- name and address). Keys stored before this have no caller ('') and so
-- replay to nobody.
alter table idempotency_keys add column caller text not null default '';
alter table idempotency_keys drop constraint idempotency_keys_pkey;
alter table idempotency_keys add primary key (tenant_id, operation, caller, key);
