-- Who may see which customer's records (relais_platform::access): this
-- service's copy, fed by the orders stream, of staff membership and of
-- each customer's residence. Removed members stay with member = false, so
-- that an older "added" event arriving late cannot bring them back.
create table access_staff (
    tenant_id uuid not null,
    staff_subject text not null,
    residence_id uuid not null,
    member boolean not null,
    -- The residence's staff_version at the change.
    version bigint not null,
    primary key (tenant_id, staff_subject, residence_id)
);

create table access_customers (
    tenant_id uuid not null,
    customer_id uuid not null,
    -- Null: the customer lives in no residence.
    residence_id uuid,
    version bigint not null,
    primary key (tenant_id, customer_id)
);

create index access_customers_residence on access_customers (tenant_id, residence_id, customer_id);
