-- Mail outbox: an e-mail is queued in the transaction of what it tells
-- (an invoice validated, a payment failed), then sent by the mail relay,
-- so nothing committed goes unsent and nothing rolled back is sent.
create table mail_outbox (
    id uuid primary key,
    to_addr text not null,
    subject text not null,
    body text not null,
    attachment_name text,
    attachment_type text,
    attachment bytea,
    -- What the mail is about (e.g. "invoice:<id>"), for support.
    about text not null default '',
    created_at timestamptz not null default now(),
    next_attempt_at timestamptz not null default now(),
    attempts int not null default 0,
    last_error text,
    sent_at timestamptz,
    -- Set after the last attempt: the address or the server refuses it.
    failed_at timestamptz
);
create index mail_outbox_due on mail_outbox (next_attempt_at) where sent_at is null and failed_at is null;
create index mail_outbox_sent_at on mail_outbox (sent_at) where sent_at is not null;
