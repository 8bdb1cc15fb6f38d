-- Raw-SQL ceiling for one CreateProduct (`make bench`, docs/benchmarks.md):
-- the statements the catalogue runs for it, in one transaction, with no
-- gRPC, auth, validation, protobuf encoding or connection pool in between
-- (services/catalogue/src/grpc.rs `create_once`, products.rs `create`,
-- crates/platform/src/{idempotency,outbox}.rs):
--   1. claim the idempotency key,
--   2. insert the product, returning its columns,
--   3. insert its ProductChanged event into the outbox,
--   4. store the answer under the key.
--
-- Run by relais-bench with `pgbench -n -M prepared` against the database and
-- schema the service created (PGOPTIONS sets search_path=catalogue), with:
--   -D tenant=<uuid>        a tenant of its own, so SKUs never collide with
--                           the service's rows
--   -D n=0                  per-client counter (pgbench keeps variables
--                           between a client's transactions)
--   -D subject=<text>       the event subject, as the service builds it
--   -D payload=<hex>        random bytes, as long as the service's encoded
--                           ProductChanged events (measured in the same run)
--   -D response=<hex>       random bytes, as long as its stored responses
-- Ids are UUIDv7-like (millisecond time first) like the service's, so index
-- inserts land at the same end of the B-trees.
\set n :n + 1
BEGIN;
INSERT INTO idempotency_keys (tenant_id, operation, key, request_hash)
VALUES (:tenant::uuid, 'CreateProduct', 'pgb-' || :client_id::text || '-' || :n::text,
        sha256(convert_to('pgb-' || :client_id::text || '-' || :n::text, 'UTF8')))
ON CONFLICT DO NOTHING;
INSERT INTO products (tenant_id, id, sku, designation, description, category_id, price_cents,
                      currency, vat_rate_bp, sales_unit, weight_grams, image_urls, active, origin)
VALUES (:tenant::uuid,
        encode(overlay(uuid_send(gen_random_uuid())
                       placing substring(int8send((extract(epoch from clock_timestamp()) * 1000)::bigint) from 3)
                       from 1 for 6), 'hex')::uuid,
        'PGB-' || :client_id::text || '-' || :n::text, 'Article de test', 'Un article',
        NULL, 1250, 'EUR', 2000, 'unit', 250, ARRAY['https://img.example/a.jpg'], true, 'shop')
RETURNING id AS product_id, sku, designation, description, category_id, price_cents, vat_rate_bp,
          sales_unit, weight_grams, image_urls, active, stock_real, stock_available, version,
          origin, updated_at
\gset
INSERT INTO outbox (id, subject, payload, headers, aggregate_id)
VALUES (encode(overlay(uuid_send(gen_random_uuid())
                       placing substring(int8send((extract(epoch from clock_timestamp()) * 1000)::bigint) from 3)
                       from 1 for 6), 'hex')::uuid,
        :subject, decode(:payload, 'hex'), '{}'::jsonb, :product_id);
UPDATE idempotency_keys SET response = decode(:response, 'hex')
WHERE tenant_id = :tenant::uuid AND operation = 'CreateProduct'
  AND key = 'pgb-' || :client_id::text || '-' || :n::text;
COMMIT;
