-- Catalogue of each tenant. References between rows carry the tenant in
-- composite foreign keys, so a row can never point at another tenant's.

create table categories (
    tenant_id uuid not null,
    id uuid not null,
    parent_id uuid,
    code text not null,
    name text not null,
    position int not null default 0,
    active boolean not null default true,
    version bigint not null default 1,
    origin text not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (tenant_id, id),
    constraint categories_code_key unique (tenant_id, code),
    constraint categories_parent_fkey foreign key (tenant_id, parent_id) references categories (tenant_id, id)
);
create index categories_parent on categories (tenant_id, parent_id);

create table services (
    tenant_id uuid not null,
    id uuid not null,
    code text not null,
    name text not null,
    description text not null default '',
    category_id uuid,
    hourly_price_cents bigint not null check (hourly_price_cents >= 0),
    currency text not null,
    vat_rate_bp int not null,
    tax_credit_eligible boolean not null default false,
    active boolean not null default true,
    version bigint not null default 1,
    origin text not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (tenant_id, id),
    constraint services_code_key unique (tenant_id, code),
    constraint services_category_fkey foreign key (tenant_id, category_id) references categories (tenant_id, id)
);

create table products (
    tenant_id uuid not null,
    id uuid not null,
    sku text not null,
    designation text not null,
    description text not null default '',
    category_id uuid,
    price_cents bigint not null check (price_cents >= 0),
    currency text not null,
    vat_rate_bp int not null,
    sales_unit text not null default 'unit',
    weight_grams bigint not null default 0 check (weight_grams >= 0),
    image_urls text[] not null default '{}',
    active boolean not null default true,
    stock_real bigint not null default 0 check (stock_real >= 0),
    stock_available bigint not null default 0 check (stock_available >= 0 and stock_available <= stock_real),
    version bigint not null default 1,
    origin text not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (tenant_id, id),
    constraint products_sku_key unique (tenant_id, sku),
    constraint products_category_fkey foreign key (tenant_id, category_id) references categories (tenant_id, id)
);
create index products_category on products (tenant_id, category_id);

-- The price a customer family (price group) pays for a product or service.
create table price_list_entries (
    tenant_id uuid not null,
    customer_family text not null,
    item_id uuid not null,
    item_kind text not null check (item_kind in ('product', 'service')),
    price_cents bigint not null check (price_cents >= 0),
    currency text not null,
    version bigint not null default 1,
    updated_at timestamptz not null default now(),
    primary key (tenant_id, customer_family, item_id)
);
create index price_list_entries_item on price_list_entries (tenant_id, item_id);

create table hour_packs (
    tenant_id uuid not null,
    id uuid not null,
    name text not null,
    duration_minutes int not null check (duration_minutes > 0),
    price_cents bigint not null check (price_cents >= 0),
    currency text not null,
    vat_rate_bp int not null,
    -- Empty: every service of the tenant with the pack's VAT rate.
    eligible_service_ids uuid[] not null default '{}',
    active boolean not null,
    deleted_at timestamptz,
    version bigint not null default 1,
    origin text not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (tenant_id, id)
);
