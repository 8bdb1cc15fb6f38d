-- Credit notes: a cancellation or refund is never an edit of a validated
-- invoice but a credit note against it, numbered in its own gapless series
-- (A<year>-...). A draft whose order is cancelled is voided (it never had a
-- number).
alter table invoices
    add column kind text not null default 'invoice' check (kind in ('invoice', 'credit_note')),
    add column credited_invoice_id uuid,
    add column reason text not null default '',
    drop constraint invoices_tenant_id_order_id_key,
    drop constraint invoices_status_check,
    drop constraint invoices_check1,
    add constraint invoices_status_check
        check (status in ('draft', 'validated', 'paid', 'payment_failed', 'void', 'issued')),
    add constraint invoices_numbered
        check ((number is null) = (status in ('draft', 'void'))),
    add constraint invoices_credit_note
        check ((kind = 'credit_note') = (credited_invoice_id is not null)),
    add foreign key (tenant_id, credited_invoice_id) references invoices (tenant_id, id);

-- Still one invoice per order, however often its event arrives; credit
-- notes may be several (partial refunds).
create unique index invoices_one_per_order on invoices (tenant_id, order_id) where kind = 'invoice';
create index invoices_credited on invoices (tenant_id, credited_invoice_id) where kind = 'credit_note';
