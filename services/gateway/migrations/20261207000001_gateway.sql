-- The gateway's schema (docs/architecture.md §1). It holds the platform's
-- tables (outbox, idempotency keys, mail outbox: crates/platform/migrations)
-- and, with accounts and sign-in, the gateway's own; this first migration
-- only marks where they start.
select 1;
