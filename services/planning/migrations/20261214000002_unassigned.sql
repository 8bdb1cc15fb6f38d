-- The office's list of planned interventions nobody is assigned to
-- (ListInterventions with unassigned_only), without scanning the tenant's.
create index interventions_unassigned on interventions (tenant_id, starts_at, id)
    where worker_id is null and status = 'planned';
