-- Workers with their skills and weekly availability, dated absences, and
-- interventions. A worker is never booked twice at once: the exclusion
-- constraint refuses overlapping live interventions of one worker, whatever
-- path (consumer, API, ERP) writes them.

create table workers (
    tenant_id uuid not null,
    id uuid not null,
    first_name text not null,
    last_name text not null,
    email text not null,
    phone text not null,
    photo_url text not null,
    provider text not null,
    skills uuid[] not null,
    availability jsonb not null,
    time_zone text not null,
    active boolean not null,
    external_ref text,
    origin text not null,
    version bigint not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (tenant_id, id),
    unique (tenant_id, origin, external_ref)
);
create index workers_skills on workers using gin (skills);

create table absences (
    tenant_id uuid not null,
    id uuid not null,
    worker_id uuid not null,
    during tstzrange not null check (not isempty(during)),
    reason text not null,
    primary key (tenant_id, id),
    foreign key (tenant_id, worker_id) references workers (tenant_id, id)
);
create index absences_worker on absences using gist (tenant_id, worker_id, during);

create table interventions (
    tenant_id uuid not null,
    id uuid not null,
    order_id uuid not null,
    occurrence int not null check (occurrence > 0),
    customer_id uuid not null,
    service_id uuid not null,
    worker_id uuid,
    address jsonb not null,
    starts_at timestamptz not null,
    ends_at timestamptz not null,
    status text not null check (status in ('planned', 'done', 'cancelled')),
    hour_pack_order_id uuid,
    unassigned_reason text not null default '',
    origin text not null,
    version bigint not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (tenant_id, id),
    -- One intervention per occurrence of a booking: a redelivered order
    -- event cannot plan it twice.
    unique (tenant_id, order_id, occurrence),
    foreign key (tenant_id, worker_id) references workers (tenant_id, id),
    check (ends_at > starts_at),
    constraint interventions_no_double_booking exclude using gist (
        tenant_id with =, worker_id with =, tstzrange(starts_at, ends_at) with &&
    ) where (status <> 'cancelled' and worker_id is not null)
);
create index interventions_customer on interventions (tenant_id, customer_id, starts_at);
create index interventions_order on interventions (tenant_id, order_id, occurrence);
