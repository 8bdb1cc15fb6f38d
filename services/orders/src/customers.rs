//! Customers: online ones (owned by the shop), residents of a residence,
//! and customers synced from the ERP (read-only outside the connector).

use chrono::{DateTime, Utc};
use relais_platform::{
    auth::{Caller, Role},
    context::{Ctx, timestamp},
    error::{Error, Result, Violations, on_constraint},
    validate,
};
use relais_proto::{
    events::CustomerChanged,
    orders::{Address, Customer, CustomerFields},
};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{access::Scope, payment_methods};

#[derive(sqlx::FromRow)]
pub(crate) struct Row {
    id: Uuid,
    first_name: String,
    last_name: String,
    email: String,
    phone: String,
    billing_address: serde_json::Value,
    delivery_address: Option<serde_json::Value>,
    customer_family: String,
    residence_id: Option<Uuid>,
    payment_method_ref: String,
    external_ref: Option<String>,
    origin: String,
    read_only: bool,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Row> for Customer {
    fn from(r: Row) -> Self {
        Customer {
            id: r.id.to_string(),
            fields: Some(CustomerFields {
                first_name: r.first_name,
                last_name: r.last_name,
                email: r.email,
                phone: r.phone,
                billing_address: Some(address_from_json(&r.billing_address)),
                delivery_address: r.delivery_address.as_ref().map(address_from_json),
                customer_family: r.customer_family,
                residence_id: r.residence_id.map(|x| x.to_string()).unwrap_or_default(),
                payment_method_ref: r.payment_method_ref,
                external_ref: r.external_ref.unwrap_or_default(),
            }),
            origin: r.origin,
            read_only: r.read_only,
            version: r.version,
            created_at: Some(timestamp(r.created_at)),
            updated_at: Some(timestamp(r.updated_at)),
        }
    }
}

pub(crate) const COLS: &str = "id, first_name, last_name, email, phone, billing_address, delivery_address, \
                    customer_family, residence_id, payment_method_ref, external_ref, origin, read_only, \
                    version, created_at, updated_at";

pub use relais_domain::address::{from_json as address_from_json, to_json as address_to_json};

/// A postal address: street, postal code and city required.
pub fn address(v: &mut Violations, field: &str, a: Option<&Address>) -> serde_json::Value {
    let Some(a) = a else {
        v.add(field, "is required");
        return serde_json::Value::Null;
    };
    v.check(
        a.line1.trim().is_empty(),
        &format!("{field}.line1"),
        "must not be empty",
    );
    v.check(
        a.postal_code.trim().is_empty(),
        &format!("{field}.postal_code"),
        "must not be empty",
    );
    v.check(
        a.city.trim().is_empty(),
        &format!("{field}.city"),
        "must not be empty",
    );
    for (name, value) in [("line1", &a.line1), ("line2", &a.line2), ("city", &a.city)] {
        v.check(
            value.chars().count() > 200,
            &format!("{field}.{name}"),
            "at most 200 characters",
        );
    }
    v.check(
        a.postal_code.len() > 16,
        &format!("{field}.postal_code"),
        "at most 16 characters",
    );
    let iso_country = a.country.len() == 2 && a.country.chars().all(|c| c.is_ascii_uppercase());
    v.check(
        !(a.country.is_empty() || iso_country),
        &format!("{field}.country"),
        "must be an ISO 3166 alpha-2 code such as FR",
    );
    address_to_json(a)
}

pub use relais_platform::validate::{email, phone};

pub struct Input {
    first_name: String,
    last_name: String,
    email: String,
    phone: String,
    billing: serde_json::Value,
    delivery: Option<serde_json::Value>,
    family: String,
    pub residence_id: Option<Uuid>,
    payment_method_ref: String,
    external_ref: Option<String>,
}

impl Input {
    pub fn parse(f: Option<&CustomerFields>) -> Result<Self> {
        let mut v = Violations::new();
        let input = Self::parse_at(&mut v, "fields", f);
        v.into_result()?;
        input.ok_or_else(|| Error::invalid("fields", "is required"))
    }

    /// The fields under `prefix` (e.g. `new_customer`), their violations
    /// added to `v`.
    pub fn parse_at(v: &mut Violations, prefix: &str, f: Option<&CustomerFields>) -> Option<Self> {
        let Some(f) = f else {
            v.add(prefix, "is required");
            return None;
        };
        let before = v.len();
        let v = &mut *v;
        let field = |name: &str| format!("{prefix}.{name}");
        let family = if f.customer_family.trim().is_empty() {
            String::new()
        } else {
            validate::reference(v, &field("customer_family"), &f.customer_family)
        };
        let external_ref = if f.external_ref.trim().is_empty() {
            None
        } else {
            Some(validate::reference(
                v,
                &field("external_ref"),
                &f.external_ref,
            ))
        };
        // Empty: no saved card; otherwise the rule SetCustomerPaymentMethod
        // applies, so a reference is stored the same way by either call.
        let payment_method_ref = if f.payment_method_ref.trim().is_empty() {
            String::new()
        } else {
            payment_methods::check_reference(v, &field("payment_method_ref"), &f.payment_method_ref)
        };
        let input = Self {
            first_name: validate::name(v, &field("first_name"), &f.first_name),
            last_name: validate::name(v, &field("last_name"), &f.last_name),
            email: email(v, &field("email"), &f.email),
            phone: phone(v, &field("phone"), &f.phone),
            billing: address(v, &field("billing_address"), f.billing_address.as_ref()),
            delivery: f
                .delivery_address
                .as_ref()
                .map(|a| address(v, &field("delivery_address"), Some(a))),
            family,
            residence_id: validate::optional_id(v, &field("residence_id"), &f.residence_id),
            payment_method_ref,
            external_ref,
        };
        (v.len() == before).then_some(input)
    }
}

fn db_error(e: sqlx::Error) -> Error {
    match on_constraint(e, "customers_residence_fkey", || {
        Error::invalid("fields.residence_id", "no such residence")
    }) {
        Error::Db(e) => on_constraint(e, "customers_external_ref_key", || {
            Error::AlreadyExists(
                "a customer with this external_ref already exists for this origin".into(),
            )
        }),
        other => other,
    }
}

pub async fn create(
    conn: &mut PgConnection,
    ctx: &Ctx,
    scope: &Scope,
    input: Input,
) -> Result<Customer> {
    scope.may_place_in(input.residence_id)?;
    let read_only = ctx.origin.starts_with("erp");
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into customers (tenant_id, id, first_name, last_name, email, phone, billing_address,
             delivery_address, customer_family, residence_id, payment_method_ref, external_ref, origin, read_only,
             payment_method_saved_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
             case when $11 = '' then null else now() end) returning {COLS}"
    )))
    .bind(ctx.tenant)
    .bind(Uuid::now_v7())
    .bind(&input.first_name)
    .bind(&input.last_name)
    .bind(&input.email)
    .bind(&input.phone)
    .bind(&input.billing)
    .bind(&input.delivery)
    .bind(&input.family)
    .bind(input.residence_id)
    .bind(&input.payment_method_ref)
    .bind(&input.external_ref)
    .bind(&ctx.origin)
    .bind(read_only)
    .fetch_one(&mut *conn)
    .await
    .map_err(db_error)?;
    let customer = Customer::from(row);
    publish(conn, ctx, "created", &customer).await?;
    Ok(customer)
}

pub async fn update(
    conn: &mut PgConnection,
    ctx: &Ctx,
    caller: &Caller,
    scope: &Scope,
    id: Uuid,
    expected_version: i64,
    input: Input,
) -> Result<Customer> {
    let current: Option<(Option<Uuid>, bool, i64)> = sqlx::query_as(
        "select residence_id, read_only, version from customers where tenant_id = $1 and id = $2 for update",
    )
    .bind(ctx.tenant)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let (residence, read_only, version) = current
        .filter(|(residence, _, _)| scope.sees_customer(id, *residence))
        .ok_or_else(|| Error::not_found(format!("customer {id}")))?;
    scope.may_place_in(residence)?;
    scope.may_place_in(input.residence_id)?;
    if read_only && caller.role != Role::Connector {
        return Err(Error::FailedPrecondition(
            "this customer comes from the ERP and is changed there; it syncs back here".into(),
        ));
    }
    validate::expected_version(expected_version, version)?;
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update customers set first_name = $3, last_name = $4, email = $5, phone = $6, billing_address = $7,
             delivery_address = $8, customer_family = $9, residence_id = $10, payment_method_ref = $11,
             external_ref = $12, version = version + 1, updated_at = now(),
             payment_method_saved_at = case
                 when payment_method_ref = $11 then payment_method_saved_at
                 when $11 = '' then null
                 else now() end
         where tenant_id = $1 and id = $2 returning {COLS}"
    )))
    .bind(ctx.tenant)
    .bind(id)
    .bind(&input.first_name)
    .bind(&input.last_name)
    .bind(&input.email)
    .bind(&input.phone)
    .bind(&input.billing)
    .bind(&input.delivery)
    .bind(&input.family)
    .bind(input.residence_id)
    .bind(&input.payment_method_ref)
    .bind(&input.external_ref)
    .fetch_one(&mut *conn)
    .await
    .map_err(db_error)?;
    let customer = Customer::from(row);
    publish(conn, ctx, "updated", &customer).await?;
    Ok(customer)
}

pub async fn get(
    conn: &mut PgConnection,
    tenant: Uuid,
    scope: &Scope,
    id: Uuid,
) -> Result<Customer> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLS} from customers where tenant_id = $1 and id = $2"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.filter(|r| scope.sees_customer(r.id, r.residence_id))
        .map(Customer::from)
        .ok_or_else(|| Error::not_found(format!("customer {id}")))
}

pub struct Filter {
    pub residence_id: Option<Uuid>,
    pub query: String,
    pub after: Option<Uuid>,
    pub limit: i64,
}

pub async fn list(
    conn: &mut PgConnection,
    tenant: Uuid,
    scope: &Scope,
    f: &Filter,
) -> Result<Vec<Customer>> {
    match (scope, f.residence_id) {
        (Scope::Tenant, _) => {}
        (Scope::Residences(ids), Some(r)) if ids.contains(&r) => {}
        (Scope::Residences(_), None) => {
            return Err(Error::invalid(
                "residence_id",
                "staff must choose one of their residences",
            ));
        }
        (Scope::Residences(_), Some(_)) => {
            return Err(Error::PermissionDenied(
                "you are not a member of this residence".into(),
            ));
        }
        (Scope::Customer(_), _) => {
            return Err(Error::PermissionDenied(
                "customers cannot list customers".into(),
            ));
        }
    }
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLS} from customers
         where tenant_id = $1 and ($2::uuid is null or residence_id = $2) and ($3::uuid is null or id > $3)
           and ($4 = '' or last_name ilike $5 or first_name ilike $5 or email ilike $5)
         order by id limit $6"
    )))
    .bind(tenant)
    .bind(f.residence_id)
    .bind(f.after)
    .bind(f.query.trim())
    .bind(validate::like(&f.query))
    .bind(f.limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Customer::from).collect())
}

pub(crate) async fn publish(
    conn: &mut PgConnection,
    ctx: &Ctx,
    event: &str,
    c: &Customer,
) -> Result<()> {
    let meta = ctx.meta(Uuid::parse_str(&c.id).unwrap_or_default(), c.version);
    let payload = CustomerChanged {
        meta: Some(meta.clone()),
        customer: Some(c.clone()),
    };
    ctx.emit(conn, "customer", event, &meta, &payload).await?;
    Ok(())
}
