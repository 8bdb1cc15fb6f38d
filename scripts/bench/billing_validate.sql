-- Raw-SQL ceiling for one ValidateInvoice (`make bench`,
-- docs/benchmarks.md): what the billing service writes to validate a draft,
-- in one transaction (services/billing/src/invoices.rs `validate`):
--   1. lock a draft (Relais locks the one named; here the next free one),
--   2. take the tenant's next number for the year from the locked counter
--      row (what keeps numbering gapless, and every validation of a tenant
--      in single file),
--   3. mark the invoice validated with its number,
--   4. read it back with its lines,
--   5. insert its InvoiceValidated event into the outbox,
--   6. keep its PDF (as large as the service's, measured in the same run;
--      the rendering itself is CPU the raw baseline does not spend).
--
-- Run by relais-bench with `pgbench -n -M prepared` on the billing schema
-- (PGOPTIONS sets search_path=billing), with -D tenant=<uuid> (drafts
-- seeded for it), -D subject=<text>, -D payload=<hex> (as long as the
-- service's events, measured in the same run), -D document=<hex> (as long
-- as its PDFs).
BEGIN;
SELECT id AS invoice_id FROM invoices
WHERE tenant_id = :tenant::uuid AND status = 'draft' LIMIT 1 FOR UPDATE SKIP LOCKED
\gset
INSERT INTO invoice_sequences (tenant_id, series, next_number)
VALUES (:tenant::uuid, extract(year from now())::text, 2)
ON CONFLICT (tenant_id, series) DO UPDATE SET next_number = invoice_sequences.next_number + 1
RETURNING next_number - 1 AS taken
\gset
UPDATE invoices SET status = 'validated',
       number = 'F' || extract(year from now())::text || '-' || lpad(:taken::text, 6, '0'),
       validated_at = now(), origin = 'shop', version = version + 1
WHERE tenant_id = :tenant::uuid AND id = :invoice_id::uuid;
SELECT id, number, status, customer_id, customer_name, order_id, payment_mode, total_excl_vat_cents,
       total_vat_cents, total_incl_vat_cents, validated_at, origin, version, created_at
FROM invoices WHERE tenant_id = :tenant::uuid AND id = :invoice_id::uuid;
SELECT line_no, item_id, reference, description, quantity, unit_price_cents, vat_rate_bp, discount_bp,
       total_excl_vat_cents, vat_cents
FROM invoice_lines WHERE tenant_id = :tenant::uuid AND invoice_id = :invoice_id::uuid ORDER BY line_no;
INSERT INTO outbox (id, subject, payload, headers, aggregate_id)
VALUES (gen_random_uuid(), :subject, decode(:payload, 'hex'), '{}'::jsonb, :invoice_id);
INSERT INTO documents (tenant_id, invoice_id, file_name, content)
VALUES (:tenant::uuid, :invoice_id::uuid, 'invoice.pdf', decode(:document, 'hex'));
COMMIT;
