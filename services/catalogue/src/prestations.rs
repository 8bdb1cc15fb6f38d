//! Services sold by the hour (prestations): the shop's side of the ERP's
//! tariffs, with VAT rate and tax-credit eligibility.

use chrono::{DateTime, Utc};
use relais_platform::error::{Error, Result, Violations, on_constraint};
use relais_platform::{
    context::{Ctx, timestamp},
    validate,
};
use relais_proto::{
    catalogue::{Service, ServiceFields},
    events::ServiceChanged,
};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::categories;

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    code: String,
    name: String,
    description: String,
    category_id: Option<Uuid>,
    hourly_price_cents: i64,
    vat_rate_bp: i32,
    tax_credit_eligible: bool,
    active: bool,
    version: i64,
    origin: String,
    updated_at: DateTime<Utc>,
}

impl From<Row> for Service {
    fn from(r: Row) -> Self {
        Service {
            id: r.id.to_string(),
            code: r.code,
            name: r.name,
            description: r.description,
            category_id: r.category_id.map(|c| c.to_string()).unwrap_or_default(),
            hourly_price: validate::money_out(r.hourly_price_cents),
            vat_rate_bp: r.vat_rate_bp,
            tax_credit_eligible: r.tax_credit_eligible,
            active: r.active,
            version: r.version,
            origin: r.origin,
            updated_at: Some(timestamp(r.updated_at)),
        }
    }
}

/// No service costs more than 1,000.00 an hour.
const MAX_HOURLY_CENTS: i64 = 100_000;

const COLS: &str = "id, code, name, description, category_id, hourly_price_cents, vat_rate_bp, \
                    tax_credit_eligible, active, version, origin, updated_at";

pub struct Input {
    code: String,
    name: String,
    description: String,
    pub category_id: Option<Uuid>,
    hourly_price_cents: i64,
    vat_rate_bp: i32,
    tax_credit_eligible: bool,
    active: bool,
}

impl Input {
    pub fn parse(f: Option<&ServiceFields>) -> Result<Self> {
        let f = f.ok_or_else(|| Error::invalid("fields", "is required"))?;
        let mut v = Violations::new();
        let input = Self {
            code: validate::reference(&mut v, "fields.code", &f.code),
            name: validate::name(&mut v, "fields.name", &f.name),
            description: validate::description(&mut v, "fields.description", &f.description),
            category_id: validate::optional_id(&mut v, "fields.category_id", &f.category_id),
            hourly_price_cents: validate::money(
                &mut v,
                "fields.hourly_price",
                f.hourly_price.as_ref(),
                MAX_HOURLY_CENTS,
            ),
            vat_rate_bp: validate::vat(&mut v, "fields.vat_rate_bp", f.vat_rate_bp),
            tax_credit_eligible: f.tax_credit_eligible,
            active: f.active,
        };
        v.into_result()?;
        Ok(input)
    }
}

fn duplicate(code: &str) -> impl FnOnce() -> Error + '_ {
    move || Error::AlreadyExists(format!("a service with code {code:?} already exists"))
}

pub async fn create(conn: &mut PgConnection, ctx: &Ctx, input: Input) -> Result<Service> {
    if let Some(c) = input.category_id {
        categories::ensure_exists(conn, ctx.tenant, "fields.category_id", c).await?;
    }
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into services (tenant_id, id, code, name, description, category_id, hourly_price_cents,
             currency, vat_rate_bp, tax_credit_eligible, active, origin)
         values ($1, $2, $3, $4, $5, $6, $7, 'EUR', $8, $9, $10, $11) returning {COLS}"
    )))
    .bind(ctx.tenant)
    .bind(Uuid::now_v7())
    .bind(&input.code)
    .bind(&input.name)
    .bind(&input.description)
    .bind(input.category_id)
    .bind(input.hourly_price_cents)
    .bind(input.vat_rate_bp)
    .bind(input.tax_credit_eligible)
    .bind(input.active)
    .bind(&ctx.origin)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| on_constraint(e, "services_code_key", duplicate(&input.code)))?;
    let service = Service::from(row);
    publish(conn, ctx, "created", &service).await?;
    Ok(service)
}

pub async fn update(
    conn: &mut PgConnection,
    ctx: &Ctx,
    id: Uuid,
    expected_version: i64,
    input: Input,
) -> Result<Service> {
    let version: Option<i64> = sqlx::query_scalar(
        "select version from services where tenant_id = $1 and id = $2 for update",
    )
    .bind(ctx.tenant)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    validate::expected_version(
        expected_version,
        version.ok_or_else(|| Error::not_found(format!("service {id}")))?,
    )?;
    if let Some(c) = input.category_id {
        categories::ensure_exists(conn, ctx.tenant, "fields.category_id", c).await?;
    }
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update services set code = $3, name = $4, description = $5, category_id = $6,
             hourly_price_cents = $7, vat_rate_bp = $8, tax_credit_eligible = $9, active = $10,
             origin = $11, version = version + 1, updated_at = now()
         where tenant_id = $1 and id = $2 returning {COLS}"
    )))
    .bind(ctx.tenant)
    .bind(id)
    .bind(&input.code)
    .bind(&input.name)
    .bind(&input.description)
    .bind(input.category_id)
    .bind(input.hourly_price_cents)
    .bind(input.vat_rate_bp)
    .bind(input.tax_credit_eligible)
    .bind(input.active)
    .bind(&ctx.origin)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| on_constraint(e, "services_code_key", duplicate(&input.code)))?;
    let service = Service::from(row);
    publish(conn, ctx, "updated", &service).await?;
    Ok(service)
}

pub async fn upsert_by_code(
    conn: &mut PgConnection,
    ctx: &Ctx,
    input: Input,
) -> Result<(Service, bool)> {
    let existing: Option<Uuid> =
        sqlx::query_scalar("select id from services where tenant_id = $1 and code = $2")
            .bind(ctx.tenant)
            .bind(&input.code)
            .fetch_optional(&mut *conn)
            .await?;
    match existing {
        Some(id) => Ok((update(conn, ctx, id, 0, input).await?, false)),
        None => Ok((create(conn, ctx, input).await?, true)),
    }
}

pub async fn get(pool: &PgPool, tenant: Uuid, id: Uuid) -> Result<Service> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLS} from services where tenant_id = $1 and id = $2"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.map(Service::from)
        .ok_or_else(|| Error::not_found(format!("service {id}")))
}

pub struct Filter {
    pub after: Option<Uuid>,
    pub limit: i64,
    pub include_inactive: bool,
    pub category_id: Option<Uuid>,
    pub query: String,
}

pub async fn list(pool: &PgPool, tenant: Uuid, f: &Filter) -> Result<Vec<Service>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLS} from services
         where tenant_id = $1 and ($2::uuid is null or id > $2) and ($3 or active)
           and ($4::uuid is null or category_id = $4)
           and ($5 = '' or code ilike $6 or name ilike $6)
         order by id limit $7"
    )))
    .bind(tenant)
    .bind(f.after)
    .bind(f.include_inactive)
    .bind(f.category_id)
    .bind(f.query.trim())
    .bind(validate::like(&f.query))
    .bind(f.limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Service::from).collect())
}

async fn publish(conn: &mut PgConnection, ctx: &Ctx, event: &str, s: &Service) -> Result<()> {
    let meta = ctx.meta(Uuid::parse_str(&s.id).unwrap_or_default(), s.version);
    let payload = ServiceChanged {
        meta: Some(meta.clone()),
        service: Some(s.clone()),
    };
    ctx.emit(conn, "service", event, &meta, &payload).await?;
    Ok(())
}
