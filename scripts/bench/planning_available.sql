-- Raw-SQL ceiling for one FindAvailableWorkers (`make bench`,
-- docs/benchmarks.md): the active workers with the skill who have no
-- absence and no live intervention overlapping a 9:00-11:00 (Paris) slot on
-- a random day of the bench's year, in one statement. It skips what Relais
-- also checks and SQL cannot easily: each worker's weekly hours in their own
-- time zone (Relais checks them in memory after its queries).
--
-- Run by relais-bench with `pgbench -n -M prepared` on the planning schema
-- (PGOPTIONS sets search_path=planning), with:
--   -D tenant=<uuid> -D skill=<uuid>   the seeded tenant and skill
--   -D year_start=YYYY-MM-DD -D days=N  the days slots are drawn from
\set day random(0, :days - 1)
SELECT w.id, w.first_name, w.last_name, w.email, w.phone, w.photo_url, w.provider, w.skills,
       w.availability, w.time_zone, w.active, w.external_ref, w.origin, w.version,
       w.created_at, w.updated_at
FROM workers w
WHERE w.tenant_id = :tenant::uuid AND w.active AND :skill::uuid = ANY (w.skills)
  AND NOT EXISTS (
      SELECT 1 FROM absences a
      WHERE a.tenant_id = w.tenant_id AND a.worker_id = w.id
        AND a.during && tstzrange(((:year_start::date + :day::int) + time '09:00') AT TIME ZONE 'Europe/Paris',
                                  ((:year_start::date + :day::int) + time '11:00') AT TIME ZONE 'Europe/Paris'))
  AND NOT EXISTS (
      SELECT 1 FROM interventions i
      WHERE i.tenant_id = w.tenant_id AND i.worker_id = w.id AND i.status <> 'cancelled'
        AND tstzrange(i.starts_at, i.ends_at)
            && tstzrange(((:year_start::date + :day::int) + time '09:00') AT TIME ZONE 'Europe/Paris',
                         ((:year_start::date + :day::int) + time '11:00') AT TIME ZONE 'Europe/Paris'))
ORDER BY w.id;
