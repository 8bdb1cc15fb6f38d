-- Where a worker's weekly availability comes from (shop, erp, or the
-- tenant's opening hours for an ERP worker whose record carries none).
alter table workers add column availability_source text not null default 'shop'
    check (availability_source in ('shop', 'erp', 'opening_hours'));

-- ERP workers synced before: the ERP's records carried no availability, so
-- hours they have were set in the shop (the default, 'shop'); those without
-- could never be booked, so they get the default opening hours
-- (Mon-Fri 08:00-19:00, as RELAIS_CONNECTOR_OPENING_HOURS's default) until
-- their next sync.
update workers set availability_source = 'opening_hours',
    availability = (select jsonb_agg(jsonb_build_object(
            'weekday', d, 'start', '08:00:00', 'end', '19:00:00') order by d)
        from generate_series(1, 5) d)
    where origin like 'erp%' and availability = '[]'::jsonb;
