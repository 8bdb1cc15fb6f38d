-- Residences, their staff, and customers (online or synced from the ERP).

create table residences (
    tenant_id uuid not null,
    id uuid not null,
    name text not null,
    address jsonb not null,
    email text not null default '',
    phone text not null default '',
    version bigint not null default 1,
    origin text not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (tenant_id, id)
);

-- Who may act for a residence: checked on every staff call.
create table residence_staff (
    tenant_id uuid not null,
    residence_id uuid not null,
    staff_subject text not null,
    display_name text not null default '',
    added_at timestamptz not null default now(),
    primary key (tenant_id, residence_id, staff_subject),
    foreign key (tenant_id, residence_id) references residences (tenant_id, id)
);
create index residence_staff_subject on residence_staff (tenant_id, staff_subject);

create table customers (
    tenant_id uuid not null,
    id uuid not null,
    first_name text not null,
    last_name text not null,
    email text not null default '',
    phone text not null default '',
    billing_address jsonb not null,
    delivery_address jsonb,
    customer_family text not null default '',
    residence_id uuid,
    payment_method_ref text not null default '',
    external_ref text,
    origin text not null,
    read_only boolean not null default false,
    version bigint not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (tenant_id, id),
    constraint customers_external_ref_key unique (tenant_id, origin, external_ref),
    constraint customers_residence_fkey foreign key (tenant_id, residence_id) references residences (tenant_id, id)
);
create index customers_residence on customers (tenant_id, residence_id);
