//! Planning: (1) expanding recurring series into occurrences in local time,
//! the code planning runs on every confirmed booking, against Postgres
//! expanding the same series with `generate_series` and `AT TIME ZONE`;
//! (2) availability checks (`FindAvailableWorkers` over gRPC) against
//! pgbench running the one SQL statement that answers the same question.

use std::{path::PathBuf, time::Instant};

use anyhow::Context;
use chrono::{Datelike, NaiveDate, NaiveTime};
use rand::Rng;
use relais_domain::schedule::{Recurrence, Schedule};
use relais_platform::{
    auth::{Claims, Role},
    testing,
};
use relais_proto::planning::{
    FindAvailableWorkersRequest, planning_service_client::PlanningServiceClient,
};
use sqlx::{Connection, PgConnection};
use tonic::{
    Request,
    metadata::{Ascii, MetadataValue},
    transport::Channel,
};
use uuid::Uuid;

use crate::{
    pgbench::{PgBench, pgbench},
    stats::{Rounds, Run},
    support::{BenchDb, Task, drive},
};

const SCRIPT: &str = include_str!("../../../scripts/bench/planning_available.sql");
/// The bench's year: 2027, Monday 4 January to Friday 31 December.
const YEAR_START: (i32, u32, u32) = (2027, 1, 4);
const YEAR_DAYS: i64 = 361;

#[derive(Debug, Clone)]
pub struct Params {
    pub series: usize,
    pub checks: usize,
    pub workers: usize,
    pub bookings_per_worker: usize,
    pub concurrency: usize,
    pub rounds: usize,
    pub pgbench: PathBuf,
    pub pgbench_threads: usize,
    pub keep: bool,
}

pub struct Report {
    pub expansion: Rounds,
    pub expansion_raw: Rounds,
    pub occurrences: u64,
    pub checks: Rounds,
    pub checks_raw: Rounds,
}

fn year_start() -> NaiveDate {
    NaiveDate::from_ymd_opt(YEAR_START.0, YEAR_START.1, YEAR_START.2).unwrap_or_default()
}

/// `n` series over the year: weekly or every other week, one to three
/// weekdays, at 8:00-17:00, in two zones (so DST is crossed both ways).
fn series(n: usize) -> Vec<Schedule> {
    let mut rng = rand::rng();
    let start = year_start();
    (0..n)
        .map(|i| {
            let days: Vec<u32> = match i % 4 {
                0 => vec![1],
                1 => vec![2, 4],
                2 => vec![1, 3, 5],
                _ => vec![6],
            };
            Schedule {
                time_zone: if i % 5 == 0 {
                    "America/New_York".into()
                } else {
                    "Europe/Paris".into()
                },
                first_date: start + chrono::Days::new(rng.random_range(0..28)),
                start_time: NaiveTime::from_hms_opt(rng.random_range(8..17), 0, 0)
                    .unwrap_or_default(),
                duration_minutes: 120,
                recurrence: Some(Recurrence {
                    interval_weeks: 1 + (i % 2) as u32,
                    weekdays: days,
                    end_date: NaiveDate::from_ymd_opt(2027, 12, 31),
                    count: None,
                    interval_months: 0,
                }),
            }
        })
        .collect()
}

/// Relais: each series as planning reads it from an order event
/// (`Schedule::from_placed`, which checks it again) and expands it.
fn expand(all: &[Schedule]) -> (Run, u64, i64) {
    let protos: Vec<_> = all.iter().map(Schedule::to_proto).collect();
    let start = Instant::now();
    let (mut count, mut checksum) = (0u64, 0i64);
    for p in &protos {
        if let Some(s) = Schedule::from_placed(p) {
            for (begin, _) in s.occurrences() {
                count += 1;
                checksum = checksum.wrapping_add(begin.timestamp());
            }
        }
    }
    let run = Run {
        ops: protos.len() as u64,
        elapsed: start.elapsed(),
        latencies: None,
    };
    (run, count, checksum)
}

/// Postgres: the same series in a table, expanded by one query.
async fn expand_sql(conn: &mut PgConnection, all: &[Schedule]) -> anyhow::Result<(Run, u64, i64)> {
    sqlx::query(
        "create temp table if not exists bench_series (
             first_date date, last_date date, start_time time, interval_weeks int,
             weekdays int[], tz text)",
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query("truncate bench_series")
        .execute(&mut *conn)
        .await?;
    let mut firsts = Vec::new();
    let mut lasts = Vec::new();
    let mut times = Vec::new();
    let mut intervals = Vec::new();
    let mut weekdays = Vec::new();
    let mut zones = Vec::new();
    for s in all {
        let r = s
            .recurrence
            .as_ref()
            .context("a series without recurrence")?;
        firsts.push(s.first_date);
        lasts.push(r.end_date.unwrap_or(s.first_date));
        times.push(s.start_time);
        intervals.push(r.interval_weeks as i32);
        // Each row's int[] travels as text: a 2-D array needs even rows.
        weekdays.push(format!(
            "{{{}}}",
            r.weekdays
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ));
        zones.push(s.time_zone.clone());
    }
    sqlx::query(
        "insert into bench_series
         select f, l, t, i, w::int[], z
         from unnest($1::date[], $2::date[], $3::time[], $4::int[], $5::text[], $6::text[])
              as u(f, l, t, i, w, z)",
    )
    .bind(&firsts)
    .bind(&lasts)
    .bind(&times)
    .bind(&intervals)
    .bind(&weekdays)
    .bind(&zones)
    .execute(&mut *conn)
    .await?;
    sqlx::query("analyze bench_series")
        .execute(&mut *conn)
        .await?;
    let start = Instant::now();
    let (count, checksum): (i64, i64) = sqlx::query_as(
        "select count(*), coalesce(sum(extract(epoch from (d::date + s.start_time) at time zone s.tz)::bigint), 0)::bigint
         from bench_series s,
              generate_series(s.first_date, s.last_date, interval '1 day') d
         where extract(isodow from d)::int = any(s.weekdays)
           and ((d::date - (s.first_date - (extract(isodow from s.first_date)::int - 1))) / 7)
               % s.interval_weeks = 0",
    )
    .fetch_one(&mut *conn)
    .await?;
    let run = Run {
        ops: all.len() as u64,
        elapsed: start.elapsed(),
        latencies: None,
    };
    Ok((run, u64::try_from(count).unwrap_or(0), checksum))
}

pub async fn run(p: &Params) -> anyhow::Result<Report> {
    let mut report = Report {
        expansion: Rounds::default(),
        expansion_raw: Rounds::default(),
        occurrences: 0,
        checks: Rounds::default(),
        checks_raw: Rounds::default(),
    };
    let all = series(p.series);
    let mut admin = PgConnection::connect(&testing::admin_url())
        .await
        .context("Postgres is not reachable: run `make bench`")?;
    for round in 1..=p.rounds {
        eprintln!(
            "bench: planning round {round}/{}: expanding {} series over a year",
            p.rounds, p.series
        );
        let (ours, count, sum) = expand(&all);
        let (raw, raw_count, raw_sum) = expand_sql(&mut admin, &all).await?;
        anyhow::ensure!(
            (count, sum) == (raw_count, raw_sum),
            "expansion disagrees with Postgres: {count} occurrences (checksum {sum}) vs {raw_count} ({raw_sum})"
        );
        report.occurrences = count;
        report.expansion.push(ours);
        report.expansion_raw.push(raw);
    }
    admin.close().await.ok();

    let cfg = testing::config(&testing::nats_url()).await?;
    let db = BenchDb::new(&cfg.database_url)?;
    let ns = relais_platform::nats::Namespace::new(cfg.namespace.clone());
    let nats_url = cfg.nats_url.clone();
    let dir = std::env::temp_dir().join(format!("relais-bench-{}", Uuid::new_v4().simple()));
    let result = checks(p, cfg, &db, &dir, &mut report).await;
    if let Ok(nats) = relais_platform::nats::connect_as(
        &nats_url,
        "relais-bench",
        Some(&relais_platform::testing::harness_auth()),
    )
    .await
    {
        let js = async_nats::jetstream::new(nats);
        let _ = js.delete_stream(ns.stream(relais_planning::SERVICE)).await;
        let _ = js.delete_stream(ns.stream("orders")).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    let dropped = db.drop_now(p.keep).await;
    result?;
    dropped?;
    Ok(report)
}

async fn checks(
    p: &Params,
    mut cfg: relais_platform::config::PlatformConfig,
    db: &BenchDb,
    dir: &std::path::Path,
    report: &mut Report,
) -> anyhow::Result<()> {
    cfg.db_max_connections = u32::try_from(p.concurrency).unwrap_or(u32::MAX);
    // The benchmark seeds workers in the database and only reads
    // availability: planning asks the catalogue nothing on that path, so it
    // is pointed at an address where nothing listens (connected lazily).
    let app = relais_planning::App::build(relais_planning::PlanningConfig {
        platform: cfg,
        catalogue_addr: "http://127.0.0.1:9".to_owned(),
    })
    .await
    .context("planning failed to start")?;
    let grpc = app.grpc_addr();
    let pool = app.pool();
    let service = Task::spawn(|shutdown| app.run(shutdown));
    let tenant = Uuid::now_v7();
    let skill = Uuid::now_v7();
    seed(&pool, tenant, skill, p.workers, p.bookings_per_worker).await?;
    let token = testing::token_with(&Claims {
        sub: "bench".into(),
        tenant,
        role: Role::Service,
        customer_id: None,
        residences: vec![],
        connection: None,
        exp: chrono::Utc::now().timestamp() + 3600,
    });
    let auth: MetadataValue<Ascii> = format!("Bearer {token}").parse()?;
    let mut clients = Vec::new();
    for _ in 0..p.concurrency {
        let channel = Channel::from_shared(format!("http://{grpc}"))?
            .connect()
            .await?;
        clients.push(PlanningServiceClient::new(channel));
    }
    std::fs::create_dir_all(dir)?;
    let script = dir.join("planning_available.sql");
    std::fs::write(&script, SCRIPT)?;
    let bench = PgBench {
        bin: &p.pgbench,
        concurrency: p.concurrency,
        schema: relais_planning::SERVICE,
    };
    let defines = vec![
        ("tenant", tenant.to_string()),
        ("skill", skill.to_string()),
        ("days", YEAR_DAYS.to_string()),
        ("year_start", year_start().to_string()),
    ];
    let per_client = p.checks.div_ceil(p.concurrency);
    for round in 1..=p.rounds {
        eprintln!(
            "bench: planning round {round}/{}: {} availability checks among {} workers ({} bookings each)",
            p.rounds, p.checks, p.workers, p.bookings_per_worker
        );
        let auth = auth.clone();
        let run = drive(&clients, p.checks, move |mut client, _| {
            let req = slot_request(skill, &auth);
            async move {
                client
                    .find_available_workers(req)
                    .await
                    .context("FindAvailableWorkers failed")?;
                Ok(())
            }
        })
        .await?;
        report.checks.push(run);
        db.checkpoint().await?;
        let log = dir.join(format!("planning-round-{round}"));
        std::fs::create_dir_all(&log)?;
        let threads = p.pgbench_threads.clamp(1, p.concurrency);
        let raw = pgbench(
            &bench,
            &db.url,
            &script,
            threads,
            per_client,
            &defines,
            Some(&log),
        )
        .await?;
        report.checks_raw.push(raw);
    }
    drop(clients);
    service.stop().await??;
    Ok(())
}

/// A weekday slot of the year, 9:00-11:00 Paris time (the same draw as
/// the pgbench script's).
fn slot_request(skill: Uuid, auth: &MetadataValue<Ascii>) -> Request<FindAvailableWorkersRequest> {
    let day = year_start() + chrono::Days::new(rand::rng().random_range(0..YEAR_DAYS as u64));
    let tz = chrono_tz::Europe::Paris;
    let at = |h| {
        use chrono::TimeZone;
        tz.from_local_datetime(&day.and_hms_opt(h, 0, 0).unwrap_or_default())
            .earliest()
            .map(|t| prost_types::Timestamp {
                seconds: t.timestamp(),
                nanos: 0,
            })
    };
    let mut req = Request::new(FindAvailableWorkersRequest {
        service_id: skill.to_string(),
        start: at(9),
        end: at(11),
    });
    req.metadata_mut().insert("authorization", auth.clone());
    req
}

/// `workers` workers with the skill, Monday to Friday 8:00-18:00, each
/// with `bookings` two-hour interventions spread over the year's weekdays.
async fn seed(
    pool: &sqlx::PgPool,
    tenant: Uuid,
    skill: Uuid,
    workers: usize,
    bookings: usize,
) -> anyhow::Result<()> {
    let week = serde_json::json!([
        {"weekday": 1, "start": "08:00:00", "end": "18:00:00"},
        {"weekday": 2, "start": "08:00:00", "end": "18:00:00"},
        {"weekday": 3, "start": "08:00:00", "end": "18:00:00"},
        {"weekday": 4, "start": "08:00:00", "end": "18:00:00"},
        {"weekday": 5, "start": "08:00:00", "end": "18:00:00"}
    ]);
    let mut rng = rand::rng();
    for w in 0..workers {
        let id = Uuid::now_v7();
        sqlx::query(
            "insert into workers (tenant_id, id, first_name, last_name, email, phone, photo_url,
                 provider, skills, availability, time_zone, active, origin)
             values ($1, $2, 'Bench', $3, '', '', '', 'Bench', $4, $5, 'Europe/Paris', true, 'shop')",
        )
        .bind(tenant)
        .bind(id)
        .bind(format!("W{w:03}"))
        .bind(vec![skill])
        .bind(&week)
        .execute(pool)
        .await
        .context("seeding workers")?;
        // Distinct weekday slots per worker (never overlapping: the
        // exclusion constraint would refuse them).
        let mut slots = std::collections::BTreeSet::new();
        while slots.len() < bookings {
            let day = year_start() + chrono::Days::new(rng.random_range(0..YEAR_DAYS as u64));
            if day.weekday().number_from_monday() <= 5 {
                slots.insert((day, rng.random_range(0..5u32)));
            }
        }
        let mut starts = Vec::new();
        for (day, slot) in slots {
            use chrono::TimeZone;
            if let Some(t) = chrono_tz::Europe::Paris
                .from_local_datetime(&day.and_hms_opt(8 + 2 * slot, 0, 0).unwrap_or_default())
                .earliest()
            {
                starts.push(t.with_timezone(&chrono::Utc));
            }
        }
        sqlx::query(
            "insert into interventions (tenant_id, id, order_id, occurrence, customer_id, service_id,
                 worker_id, address, starts_at, ends_at, status, origin)
             select $1, gen_random_uuid(), $2, row_number() over (), $3, $4, $5, '{}'::jsonb,
                    s, s + interval '2 hours', 'planned', 'shop'
             from unnest($6::timestamptz[]) s",
        )
        .bind(tenant)
        .bind(Uuid::now_v7())
        .bind(Uuid::now_v7())
        .bind(skill)
        .bind(id)
        .bind(&starts)
        .execute(pool)
        .await
        .context("seeding interventions")?;
    }
    sqlx::query("analyze").execute(pool).await?;
    Ok(())
}
