-- The web origins each company embeds the booking widget on
-- (docs/accounts.md, CORS): a browser may call the API from them.
create table cors_origins (
    tenant_id uuid not null,
    -- scheme://host[:port], lower-case, no path: what browsers send as Origin.
    origin text not null,
    created_at timestamptz not null default now(),
    primary key (tenant_id, origin)
);
create index cors_origins_origin on cors_origins (origin);
