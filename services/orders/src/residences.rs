//! Residences (communities) and the staff who may act for each.

use chrono::{DateTime, Utc};
use relais_platform::{
    context::{Ctx, timestamp},
    error::{Error, Result, Violations},
    validate,
};
use relais_proto::{
    events::{ResidenceChanged, ResidenceStaffChanged},
    orders::{CreateResidenceRequest, Residence, StaffMember},
};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{access::Scope, customers};

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    name: String,
    address: serde_json::Value,
    email: String,
    phone: String,
    version: i64,
    updated_at: DateTime<Utc>,
}

impl From<Row> for Residence {
    fn from(r: Row) -> Self {
        Residence {
            id: r.id.to_string(),
            name: r.name,
            address: Some(customers::address_from_json(&r.address)),
            email: r.email,
            phone: r.phone,
            version: r.version,
            updated_at: Some(timestamp(r.updated_at)),
        }
    }
}

const COLS: &str = "id, name, address, email, phone, version, updated_at";

pub async fn create(
    conn: &mut PgConnection,
    ctx: &Ctx,
    req: &CreateResidenceRequest,
) -> Result<Residence> {
    let mut v = Violations::new();
    let name = validate::name(&mut v, "name", &req.name);
    let address = customers::address(&mut v, "address", req.address.as_ref());
    let email = customers::email(&mut v, "email", &req.email);
    let phone = customers::phone(&mut v, "phone", &req.phone);
    v.into_result()?;
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into residences (tenant_id, id, name, address, email, phone, origin)
         values ($1, $2, $3, $4, $5, $6, $7) returning {COLS}"
    )))
    .bind(ctx.tenant)
    .bind(Uuid::now_v7())
    .bind(&name)
    .bind(address)
    .bind(&email)
    .bind(&phone)
    .bind(&ctx.origin)
    .fetch_one(&mut *conn)
    .await?;
    let residence = Residence::from(row);
    let meta = ctx.meta(row_id(&residence), residence.version);
    let event = ResidenceChanged {
        meta: Some(meta.clone()),
        residence: Some(residence.clone()),
    };
    ctx.emit(conn, "residence", "created", &meta, &event)
        .await?;
    Ok(residence)
}

fn row_id(r: &Residence) -> Uuid {
    Uuid::parse_str(&r.id).unwrap_or_default()
}

/// The residence, if it exists in the tenant and the caller may see it.
pub async fn get(
    conn: &mut PgConnection,
    tenant: Uuid,
    scope: &Scope,
    id: Uuid,
) -> Result<Residence> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLS} from residences where tenant_id = $1 and id = $2"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.filter(|_| scope.sees_residence(id))
        .map(Residence::from)
        .ok_or_else(|| Error::not_found(format!("residence {id}")))
}

pub async fn list(conn: &mut PgConnection, tenant: Uuid, scope: &Scope) -> Result<Vec<Residence>> {
    let only: Option<Vec<Uuid>> = match scope {
        Scope::Tenant => None,
        Scope::Residences(ids) => Some(ids.clone()),
        Scope::Customer(_) => Some(vec![]),
    };
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLS} from residences where tenant_id = $1 and ($2::uuid[] is null or id = any($2))
         order by name, id"
    )))
    .bind(tenant)
    .bind(only)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Residence::from).collect())
}

fn subject(v: &mut Violations, value: &str) -> String {
    let s = value.trim();
    v.check(s.is_empty(), "staff_subject", "must not be empty");
    v.check(s.len() > 255, "staff_subject", "at most 255 characters");
    s.to_owned()
}

pub async fn set_staff(
    conn: &mut PgConnection,
    ctx: &Ctx,
    residence: Uuid,
    staff_subject: &str,
    display_name: &str,
    member: bool,
) -> Result<()> {
    let mut v = Violations::new();
    let staff_subject = subject(&mut v, staff_subject);
    v.check(
        display_name.chars().count() > 200,
        "display_name",
        "at most 200 characters",
    );
    v.into_result()?;
    // The residence's row lock orders the changes of its staff; the
    // version they take lets the other services' copies (see
    // relais_platform::access) apply them in that order.
    let version: i64 = sqlx::query_scalar(
        "update residences set staff_version = staff_version + 1
         where tenant_id = $1 and id = $2 returning staff_version",
    )
    .bind(ctx.tenant)
    .bind(residence)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::not_found(format!("residence {residence}")))?;
    let changed = if member {
        sqlx::query(
            "insert into residence_staff (tenant_id, residence_id, staff_subject, display_name)
             values ($1, $2, $3, $4)
             on conflict (tenant_id, residence_id, staff_subject) do update set display_name = excluded.display_name",
        )
        .bind(ctx.tenant)
        .bind(residence)
        .bind(&staff_subject)
        .bind(display_name.trim())
        .execute(&mut *conn)
        .await?
        .rows_affected()
    } else {
        sqlx::query(
            "delete from residence_staff where tenant_id = $1 and residence_id = $2 and staff_subject = $3",
        )
        .bind(ctx.tenant)
        .bind(residence)
        .bind(&staff_subject)
        .execute(&mut *conn)
        .await?
        .rows_affected()
    };
    if changed == 0 {
        return Err(Error::not_found(format!(
            "staff member {staff_subject:?} of residence {residence}"
        )));
    }
    let meta = ctx.meta(residence, version);
    let event = ResidenceStaffChanged {
        meta: Some(meta.clone()),
        residence_id: residence.to_string(),
        staff_subject,
        member,
    };
    let name = if member {
        "staff_added"
    } else {
        "staff_removed"
    };
    ctx.emit(conn, "residence", name, &meta, &event).await?;
    Ok(())
}

pub async fn staff(
    conn: &mut PgConnection,
    tenant: Uuid,
    residence: Uuid,
) -> Result<Vec<StaffMember>> {
    get(conn, tenant, &Scope::Tenant, residence).await?;
    let rows: Vec<(String, String, DateTime<Utc>)> = sqlx::query_as(
        "select staff_subject, display_name, added_at from residence_staff
         where tenant_id = $1 and residence_id = $2 order by display_name, staff_subject",
    )
    .bind(tenant)
    .bind(residence)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(staff_subject, display_name, added)| StaffMember {
            staff_subject,
            display_name,
            added_at: Some(timestamp(added)),
        })
        .collect())
}
