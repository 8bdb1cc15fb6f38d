//! Customers as billing needs them, from the orders service's customer
//! events: the name and address printed on documents, where to e-mail
//! them, and the saved card to debit. A late or repeated event never
//! overwrites a newer version.

use prost::Message;
use relais_platform::{
    consumer::{ConsumerSpec, Delivery, Handler, HandlerError},
    error::{Error, Result},
    mail::{self, Mail},
    nats::Namespace,
};
use relais_proto::{events::CustomerChanged, orders::Address};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::SERVICE;

pub fn spec(ns: &Namespace, max_attempts: i64) -> ConsumerSpec {
    ConsumerSpec {
        service: SERVICE.into(),
        name: "billing-customers".into(),
        source_service: "orders".into(),
        filter_subjects: vec![
            ns.event_filter("orders", "customer", "created"),
            ns.event_filter("orders", "customer", "updated"),
        ],
        max_attempts,
        retry_base: std::time::Duration::from_millis(500),
    }
}

pub struct Customers;

/// The address block of a document: street lines, then postcode and city.
fn address_block(a: Option<&Address>) -> String {
    let Some(a) = a else {
        return String::new();
    };
    let city = format!("{} {}", a.postal_code, a.city);
    [a.line1.as_str(), a.line2.as_str(), city.trim()]
        .into_iter()
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

impl Handler for Customers {
    async fn handle(
        &self,
        tx: &mut PgConnection,
        event: &Delivery,
    ) -> std::result::Result<(), HandlerError> {
        let e = CustomerChanged::decode(event.payload.as_ref()).map_err(HandlerError::poison)?;
        let (Some(meta), Some(c)) = (e.meta, e.customer) else {
            return Err(HandlerError::poison("event without meta or customer"));
        };
        let tenant = Uuid::parse_str(&meta.tenant_id).map_err(HandlerError::poison)?;
        let id = Uuid::parse_str(&c.id).map_err(HandlerError::poison)?;
        let f = c.fields.unwrap_or_default();
        let name = format!("{} {}", f.first_name, f.last_name)
            .trim()
            .to_owned();
        sqlx::query(
            "insert into customers (tenant_id, id, name, email, address, payment_method_ref, version)
             values ($1, $2, $3, $4, $5, $6, $7)
             on conflict (tenant_id, id) do update
                set name = excluded.name, email = excluded.email, address = excluded.address,
                    payment_method_ref = excluded.payment_method_ref, version = excluded.version
                where customers.version < excluded.version",
        )
        .bind(tenant)
        .bind(id)
        .bind(&name)
        .bind(f.email.trim())
        .bind(address_block(f.billing_address.as_ref()))
        .bind(f.payment_method_ref.trim())
        .bind(c.version)
        .execute(&mut *tx)
        .await
        .map_err(|e| HandlerError::Retry(e.into()))?;
        Ok(())
    }
}

/// Queues `mail` to the customer's e-mail, or `fallback` when they have
/// none; false when there is no address at all.
pub async fn mail(
    conn: &mut PgConnection,
    tenant: Uuid,
    customer: Uuid,
    fallback: &str,
    mut mail: Mail,
) -> Result<bool> {
    let email: Option<String> =
        sqlx::query_scalar("select email from customers where tenant_id = $1 and id = $2")
            .bind(tenant)
            .bind(customer)
            .fetch_optional(&mut *conn)
            .await?;
    let to = email
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| fallback.trim().to_owned());
    if to.is_empty() {
        return Ok(false);
    }
    mail.to = to;
    mail::enqueue(conn, &mail).await.map_err(Error::from)?;
    Ok(true)
}

/// The customer's saved card, if any: what a validated invoice is debited
/// from.
pub async fn saved_card(
    conn: &mut PgConnection,
    tenant: Uuid,
    customer: Uuid,
) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "select payment_method_ref from customers
         where tenant_id = $1 and id = $2 and payment_method_ref <> ''",
    )
    .bind(tenant)
    .bind(customer)
    .fetch_optional(conn)
    .await?)
}

/// The name and address block printed on a customer's documents.
pub async fn addressee(
    conn: &mut PgConnection,
    tenant: Uuid,
    customer: Uuid,
) -> Result<Option<(String, String)>> {
    Ok(
        sqlx::query_as("select name, address from customers where tenant_id = $1 and id = $2")
            .bind(tenant)
            .bind(customer)
            .fetch_optional(conn)
            .await?,
    )
}
