-- Raw-SQL ceiling for one PlaceProductOrder (`make bench`,
-- docs/benchmarks.md): the rows the orders service writes for an order of
-- two lines placed by staff for a resident, in one transaction, with no
-- gRPC, auth, validation, catalogue call, protobuf encoding or pool in
-- between (services/orders/src/grpc.rs, orders.rs `insert`,
-- crates/platform/src/{idempotency,outbox}.rs):
--   1. the staff member's residences (the caller's scope),
--   2. claim the idempotency key,
--   3. read the resident's profile,
--   4. insert the order and its two lines,
--   5. insert its OrderPlaced event into the outbox,
--   6. store the answer under the key.
--
-- Run by relais-bench with `pgbench -n -M prepared` against the database and
-- schema the service created (PGOPTIONS sets search_path=orders), with:
--   -D tenant=<uuid> -D customer=<uuid> -D residence=<uuid>
--                           the tenant, resident and residence the service's
--                           orders use (seeded through the API)
--   -D staff=<text>         the staff member's token subject
--   -D item1=<uuid> -D item2=<uuid>   the two catalogue products
--   -D run=<text>           makes this run's idempotency keys unique
--   -D n=0                  per-client counter
--   -D subject=<text>       the event subject, as the service builds it
--   -D payload=<hex>        random bytes, as long as the service's encoded
--                           OrderPlaced events (measured in the same run)
--   -D response=<hex>       random bytes, as long as its stored responses
\set n :n + 1
BEGIN;
SELECT residence_id FROM residence_staff WHERE tenant_id = :tenant::uuid AND staff_subject = :staff;
INSERT INTO idempotency_keys (tenant_id, operation, key, request_hash)
VALUES (:tenant::uuid, 'PlaceProductOrder', :run || '-' || :client_id::text || '-' || :n::text,
        sha256(convert_to(:run || '-' || :client_id::text || '-' || :n::text, 'UTF8')))
ON CONFLICT DO NOTHING;
SELECT id, first_name, last_name, email, phone, billing_address, delivery_address, customer_family,
       residence_id, payment_method_ref, external_ref, origin, read_only, version, created_at, updated_at
FROM customers WHERE tenant_id = :tenant::uuid AND id = :customer::uuid;
INSERT INTO orders (tenant_id, id, kind, status, customer_id, residence_id, placed_by, placed_by_role,
                    customer_name, customer_phone, ship_to, confirmation_email, shipping_method,
                    payment_mode, terms_accepted_at, total_excl_vat_cents, total_vat_cents,
                    total_incl_vat_cents, currency, origin, booking, hour_pack)
VALUES (:tenant::uuid,
        encode(overlay(uuid_send(gen_random_uuid())
                       placing substring(int8send((extract(epoch from clock_timestamp()) * 1000)::bigint) from 3)
                       from 1 for 6), 'hex')::uuid,
        'product', 'placed', :customer::uuid, :residence::uuid, :staff, 'staff', 'Jeanne Martin',
        '04 78 00 00 00',
        '{"line1": "12 rue des Tilleuls", "line2": "", "postal_code": "69003", "city": "Lyon", "country": "FR"}'::jsonb,
        'accueil@residence.example', 'delivery', 'PAYMENT_MODE_RESIDENCE_MONTHLY', now(),
        1580, 316, 1896, 'EUR', 'shop', NULL, NULL)
RETURNING id AS order_id
\gset
INSERT INTO order_lines (tenant_id, order_id, line_no, item_id, reference, name, quantity,
                         unit_price_cents, vat_rate_bp, discount_bp, total_excl_vat_cents, vat_cents)
VALUES (:tenant::uuid, :order_id::uuid, 1, :item1::uuid, 'BENCH-1', 'Article BENCH-1', 1, 1190, 2000, 0, 1190, 238),
       (:tenant::uuid, :order_id::uuid, 2, :item2::uuid, 'BENCH-2', 'Article BENCH-2', 1, 390, 2000, 0, 390, 78);
INSERT INTO outbox (id, subject, payload, headers, aggregate_id)
VALUES (encode(overlay(uuid_send(gen_random_uuid())
                       placing substring(int8send((extract(epoch from clock_timestamp()) * 1000)::bigint) from 3)
                       from 1 for 6), 'hex')::uuid,
        :subject, decode(:payload, 'hex'), '{}'::jsonb, :order_id);
UPDATE idempotency_keys SET response = decode(:response, 'hex')
WHERE tenant_id = :tenant::uuid AND operation = 'PlaceProductOrder'
  AND key = :run || '-' || :client_id::text || '-' || :n::text;
COMMIT;
