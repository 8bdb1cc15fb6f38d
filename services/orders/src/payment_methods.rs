//! A customer's saved card: the payment provider's reference of a payment
//! method the customer saved through the provider's client-side
//! tokenisation (never card data), which billing debits for their card
//! invoices (docs/architecture.md, Flow 5).
//!
//! It has its own calls, apart from UpdateCustomer, so that customers keep
//! their card without being allowed to edit the rest of their record
//! (names, residence, price group are the office's). Customers from the
//! ERP (read-only) may save one too: the card is the online side's, the
//! ERP neither holds nor receives it (the connector maps no such field),
//! and the connector's writes start from the shop's record, so they keep it.
//!
//! Who may: the platform's one rule, as written in `relais_platform`: a
//! customer's card is their own, from the token (`Caller::own_customer`:
//! naming another is NOT_FOUND), the others name one they may see
//! (`access::Scope::sees_customer`, else NOT_FOUND); the connector never
//! (`ROLES`).

use chrono::{DateTime, Utc};
use relais_platform::{
    auth::{Caller, Role},
    context::{Ctx, timestamp},
    error::{Error, Result, Violations},
    validate,
};
use relais_proto::orders::{Customer, PaymentMethod};
use sqlx::{FromRow, PgConnection, Row as _};
use uuid::Uuid;

use crate::{
    access::Scope,
    customers::{self, COLS},
};

/// Who may read or change a saved card. Not the connector: the ERP holds
/// no card, so a connection has nothing to read or write there.
pub const ROLES: &[Role] = &[Role::Customer, Role::Staff, Role::Admin, Role::Service];

/// The customer whose card a call is about: a customer's own, whatever
/// `asked` says (empty, theirs, or another's: NOT_FOUND); for the other
/// roles the one `asked` names, required.
pub fn whose(caller: &Caller, asked: &str) -> Result<Uuid> {
    match caller.own_customer(asked)? {
        Some(me) => Ok(me),
        None => validate::id("customer_id", asked),
    }
}

/// What the shop keeps of a reference, and the most a provider's is.
const MAX_REF: usize = 255;

/// The provider's reference as sent, checked (as `payment_method_ref`).
pub fn reference(value: &str) -> Result<String> {
    let mut v = Violations::new();
    let r = check_reference(&mut v, "payment_method_ref", value);
    v.into_result()?;
    Ok(r)
}

/// A provider's reference in `field`, trimmed (surrounding blanks are a
/// copy's, not the reference's), its violations added to `v`. It is stored
/// and later sent to the provider as is, so nothing but visible ASCII
/// (Stripe's, Adyen's and the simulator's references all are): a space or
/// an accent means a client sent something else than the provider's answer.
/// UpdateCustomer and CreateCustomer hold a card to the same rule.
pub fn check_reference(v: &mut Violations, field: &str, value: &str) -> String {
    let r = value.trim();
    if r.is_empty() {
        v.add(
            field,
            "is required: the payment provider's reference of the saved card",
        );
    } else if r.len() > MAX_REF {
        v.add(field, format!("at most {MAX_REF} characters"));
    } else if !r.chars().all(|c| c.is_ascii_graphic()) {
        v.add(
            field,
            "must be the payment provider's reference: visible ASCII characters only, \
             no spaces or control characters",
        );
    }
    r.to_owned()
}

/// The card of `customer` as its reader sees it: NOT_FOUND, exactly as if
/// absent, for a customer out of the caller's scope.
pub async fn get(
    conn: &mut PgConnection,
    tenant: Uuid,
    scope: &Scope,
    customer: Uuid,
) -> Result<PaymentMethod> {
    let card: Option<Card> = sqlx::query_as(
        "select id, residence_id, payment_method_ref, payment_method_saved_at, version
         from customers where tenant_id = $1 and id = $2",
    )
    .bind(tenant)
    .bind(customer)
    .fetch_optional(conn)
    .await?;
    Ok(visible(card, scope, customer)?.view())
}

/// Saves `reference` as the card of `customer` (None: removes it), in the
/// caller's transaction with its event. The card it has already changes
/// nothing: no new version, no event, `saved_at` kept, so a repeated PUT
/// or DELETE is harmless.
pub async fn set(
    conn: &mut PgConnection,
    ctx: &Ctx,
    scope: &Scope,
    customer: Uuid,
    reference: Option<String>,
) -> Result<PaymentMethod> {
    // Locked: two changes of one customer take one version each.
    let card: Option<Card> = sqlx::query_as(
        "select id, residence_id, payment_method_ref, payment_method_saved_at, version
         from customers where tenant_id = $1 and id = $2 for update",
    )
    .bind(ctx.tenant)
    .bind(customer)
    .fetch_optional(&mut *conn)
    .await?;
    let current = visible(card, scope, customer)?;
    let reference = reference.unwrap_or_default();
    if current.payment_method_ref == reference {
        return Ok(current.view());
    }
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "update customers set payment_method_ref = $3,
             payment_method_saved_at = case when $3 = '' then null else now() end,
             version = version + 1, updated_at = now()
         where tenant_id = $1 and id = $2
         returning {COLS}, payment_method_saved_at"
    )))
    .bind(ctx.tenant)
    .bind(customer)
    .bind(&reference)
    .fetch_one(&mut *conn)
    .await?;
    let saved_at: Option<DateTime<Utc>> = row.try_get("payment_method_saved_at")?;
    let record = Customer::from(customers::Row::from_row(&row)?);
    // Published like any change of the record: billing's copy takes the
    // new card for the next debit, the connector finds nothing it maps.
    customers::publish(conn, ctx, "updated", &record).await?;
    Ok(PaymentMethod {
        customer_id: record.id,
        saved: !reference.is_empty(),
        saved_at: saved_at.map(timestamp),
        customer_version: record.version,
    })
}

/// The customer's card if the caller sees the customer: NOT_FOUND, exactly
/// as if absent, otherwise.
fn visible(card: Option<Card>, scope: &Scope, customer: Uuid) -> Result<Card> {
    card.filter(|c| scope.sees_customer(c.id, c.residence_id))
        .ok_or_else(|| Error::not_found(format!("customer {customer}")))
}

/// The card columns of a customer.
#[derive(FromRow)]
struct Card {
    id: Uuid,
    residence_id: Option<Uuid>,
    payment_method_ref: String,
    payment_method_saved_at: Option<DateTime<Utc>>,
    version: i64,
}

impl Card {
    fn view(self) -> PaymentMethod {
        PaymentMethod {
            customer_id: self.id.to_string(),
            saved: !self.payment_method_ref.is_empty(),
            saved_at: self
                .payment_method_saved_at
                .filter(|_| !self.payment_method_ref.is_empty())
                .map(timestamp),
            customer_version: self.version,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_visible_ascii_of_255_at_most() {
        assert_eq!(
            reference(" pm_card_visa\n").ok().as_deref(),
            Some("pm_card_visa")
        );
        for bad in [
            "",
            "  ",
            "pm card",
            "pm_\u{7}x",
            "pm_carte_é",
            &"x".repeat(256),
        ] {
            assert!(
                matches!(reference(bad), Err(Error::InvalidArgument(_))),
                "{bad:?} accepted"
            );
        }
        assert!(reference(&"x".repeat(255)).is_ok());
    }
}
