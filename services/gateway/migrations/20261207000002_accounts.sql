-- People's accounts and sign-in (docs/accounts.md). An account belongs to
-- one tenant; its e-mail is unique within the tenant (lower-cased before it
-- is stored), not across tenants: the same person may be a customer of two
-- companies with two accounts that know nothing of each other.
create table accounts (
    tenant_id uuid not null,
    id uuid not null,
    email text not null,
    -- argon2id PHC string; null until an invited account sets its password.
    password_hash text,
    role text not null check (role in ('customer', 'staff', 'admin')),
    -- The orders service's customer a customer account speaks for.
    customer_id uuid,
    status text not null check (status in ('invited', 'active', 'disabled')),
    -- Consecutive failed sign-ins, and until when the account refuses any.
    failed_attempts int not null default 0,
    locked_until timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (tenant_id, id),
    unique (tenant_id, email),
    check (role <> 'customer' or customer_id is not null)
);

-- One row per signed-in device: a family of refresh tokens, each used
-- once. `current_hash` is the SHA-256 of the refresh token now valid;
-- `previous_hash` the one it replaced, kept to recognise a stolen token
-- replayed after its rotation (the whole session is then revoked).
create table sessions (
    id uuid primary key,
    tenant_id uuid not null,
    account_id uuid not null,
    current_hash bytea not null,
    previous_hash bytea,
    -- The CSRF token's SHA-256: cookie-authenticated calls must echo it.
    csrf_hash bytea not null,
    expires_at timestamptz not null,
    revoked_at timestamptz,
    created_at timestamptz not null default now(),
    last_used_at timestamptz not null default now(),
    foreign key (tenant_id, account_id) references accounts (tenant_id, id) on delete cascade
);
create index sessions_account on sessions (tenant_id, account_id) where revoked_at is null;

-- Single-use links sent by mail: password resets and invitations. Only
-- the token's SHA-256 is kept, so a copy of the database opens nothing.
create table account_links (
    token_hash bytea primary key,
    tenant_id uuid not null,
    account_id uuid not null,
    purpose text not null check (purpose in ('reset', 'invitation')),
    expires_at timestamptz not null,
    used_at timestamptz,
    created_at timestamptz not null default now(),
    foreign key (tenant_id, account_id) references accounts (tenant_id, id) on delete cascade
);
create index account_links_account on account_links (tenant_id, account_id);
