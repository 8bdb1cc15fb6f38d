-- The relay benchmark's "service" has no tables of its own: it only needs
-- the platform's (outbox, inbox, idempotency keys), which db::connect applies
-- before this. sqlx wants at least one migration in the folder.
select 1;
