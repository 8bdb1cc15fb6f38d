//! Who may see and change which customer's records: one rule for every
//! service (the role × operation table is `docs/access.md`).
//!
//! - admin, connector, service: the whole tenant;
//! - staff: the residents of the residences they are a member of, nothing
//!   else (a customer outside any residence is the office's, not a
//!   residence's: staff do not see them);
//! - customer: their own records (the token's `customer_id`).
//!
//! Out of scope is invisible: a call naming a customer, or one of their
//! records, that the caller may not see is NOT_FOUND, read or write alike,
//! exactly as if it did not exist (a PERMISSION_DENIED would confirm that
//! it does); a listing leaves such records out. PERMISSION_DENIED is for
//! what the caller's role may not do at all (a customer validating an
//! invoice), and for a whole residence named by staff who are not among
//! its members (as the orders service already answered).
//!
//! # Where staff membership comes from
//!
//! The orders service's `residence_staff` table is the one source of truth
//! (AddResidenceStaff / RemoveResidenceStaff). The token's `residences`
//! claim is *not* trusted for access: a token lives until its `exp`, so a
//! member removed by an admin would keep reading residents' invoices for as
//! long as the token they hold, and the claim is only as fresh as the last
//! sign-in. Instead:
//!
//! - orders reads its own table on each call ([`Membership::Owner`]);
//! - every other service holding customer data keeps a copy, fed by the
//!   orders stream ([`Replica`]: `residence.staff_added` / `staff_removed`
//!   and `customer.created` / `updated` for each customer's residence), and
//!   reads it on each call ([`Membership::Replica`]), in its own schema
//!   (docs/architecture.md §1: no service reads another's).
//!
//! A revocation therefore reaches billing and planning as fast as an event
//! does (the outbox relay wakes on commit; typically milliseconds, at worst
//! the consumer's lag), not after a token's lifetime, and a check is one
//! indexed lookup in the service's own database, no call to another
//! service. Staff events carry the residence's `staff_version`, customer
//! events the customer's version: a late or redelivered event never undoes
//! a newer one (removed members stay as `member = false` rows so that an
//! older "added" cannot bring them back). A customer or membership the copy
//! has not heard of yet grants nothing (fail closed).

use prost::Message;
use relais_proto::events::{CustomerChanged, ResidenceStaffChanged};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    auth::{Caller, Role},
    consumer::{ConsumerSpec, Delivery, Handler, HandlerError},
    error::{Error, Result},
    nats::Namespace,
};

/// What a caller may see: the whole tenant, the residents of some
/// residences, or one customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Tenant,
    Residences(Vec<Uuid>),
    Customer(Uuid),
}

/// Where a service reads staff membership and customers' residences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    /// The orders service: its own `residence_staff` and `customers`.
    Owner,
    /// Any other service: `access_staff` and `access_customers`, kept by
    /// [`Replica`] from the orders stream.
    Replica,
}

/// The caller's scope; staff membership read from `membership` now, so a
/// removal takes effect at once (or as soon as its event arrives).
pub async fn scope(
    conn: &mut PgConnection,
    caller: &Caller,
    membership: Membership,
) -> Result<Scope> {
    match caller.role {
        Role::Admin | Role::Connector | Role::Service => Ok(Scope::Tenant),
        Role::Staff => {
            let sql = match membership {
                Membership::Owner => {
                    "select residence_id from residence_staff
                     where tenant_id = $1 and staff_subject = $2"
                }
                Membership::Replica => {
                    "select residence_id from access_staff
                     where tenant_id = $1 and staff_subject = $2 and member"
                }
            };
            let ids: Vec<Uuid> = sqlx::query_scalar(sql)
                .bind(caller.tenant)
                .bind(&caller.subject)
                .fetch_all(conn)
                .await?;
            Ok(Scope::Residences(ids))
        }
        Role::Customer => caller
            .customer_id
            .map(Scope::Customer)
            .ok_or_else(|| Error::Unauthenticated("customer token without customer_id".into())),
    }
}

/// The residence of a customer as the service knows it: None for a
/// customer it has never heard of, Some(None) for one outside any residence.
pub async fn customer_residence(
    conn: &mut PgConnection,
    tenant: Uuid,
    customer: Uuid,
    membership: Membership,
) -> Result<Option<Option<Uuid>>> {
    let sql = match membership {
        Membership::Owner => "select residence_id from customers where tenant_id = $1 and id = $2",
        Membership::Replica => {
            "select residence_id from access_customers where tenant_id = $1 and customer_id = $2"
        }
    };
    Ok(sqlx::query_scalar(sql)
        .bind(tenant)
        .bind(customer)
        .fetch_optional(conn)
        .await?)
}

impl Scope {
    pub fn sees_residence(&self, id: Uuid) -> bool {
        match self {
            Scope::Tenant => true,
            Scope::Residences(ids) => ids.contains(&id),
            Scope::Customer(_) => false,
        }
    }

    /// The rule: may the caller see (and, if its role writes, act on) the
    /// records of `customer`, who lives in `residence` (None: in none)?
    pub fn sees_customer(&self, customer: Uuid, residence: Option<Uuid>) -> bool {
        match self {
            Scope::Tenant => true,
            Scope::Residences(ids) => residence.is_some_and(|r| ids.contains(&r)),
            Scope::Customer(me) => *me == customer,
        }
    }

    /// Whether the caller sees `customer`'s records, their residence looked
    /// up in `membership` only when it matters (staff).
    pub async fn sees(
        &self,
        conn: &mut PgConnection,
        tenant: Uuid,
        customer: Uuid,
        membership: Membership,
    ) -> Result<bool> {
        Ok(match self {
            Scope::Tenant => true,
            Scope::Customer(me) => *me == customer,
            Scope::Residences(ids) if ids.is_empty() => false,
            Scope::Residences(_) => {
                let residence = customer_residence(conn, tenant, customer, membership).await?;
                self.sees_customer(customer, residence.flatten())
            }
        })
    }

    /// A call on `customer` or one of their records, read or write:
    /// NOT_FOUND (as `what`) when the caller may not see it, exactly as if
    /// it did not exist.
    pub async fn read(
        &self,
        conn: &mut PgConnection,
        tenant: Uuid,
        customer: Uuid,
        membership: Membership,
        what: impl std::fmt::Display,
    ) -> Result<()> {
        if self.sees(conn, tenant, customer, membership).await? {
            Ok(())
        } else {
            Err(Error::not_found(what.to_string()))
        }
    }

    /// A write for a whole residence (or, with None, the whole tenant):
    /// staff only for one of theirs, customers never.
    pub fn act_for_residence(&self, residence: Option<Uuid>) -> Result<()> {
        match (self, residence) {
            (Scope::Tenant, _) => Ok(()),
            (Scope::Residences(ids), Some(r)) if ids.contains(&r) => Ok(()),
            (Scope::Residences(_), None) => Err(Error::invalid(
                "residence_id",
                "staff must choose one of their residences",
            )),
            (Scope::Residences(_), Some(_)) => Err(Error::PermissionDenied(
                "you are not a member of this residence".into(),
            )),
            (Scope::Customer(_), _) => {
                Err(Error::PermissionDenied("customers may not do this".into()))
            }
        }
    }

    /// Staff and admins may create or move a customer into `residence`.
    pub fn may_place_in(&self, residence: Option<Uuid>) -> Result<()> {
        match (self, residence) {
            (Scope::Tenant, _) => Ok(()),
            (Scope::Residences(ids), Some(r)) if ids.contains(&r) => Ok(()),
            (Scope::Residences(_), _) => Err(Error::PermissionDenied(
                "staff may only manage residents of the residences they belong to".into(),
            )),
            (Scope::Customer(_), _) => Err(Error::PermissionDenied(
                "customers cannot manage customer records".into(),
            )),
        }
    }

    /// For listings in SQL: the only customer to show (customers), and the
    /// only residences whose residents to show (staff); None: no limit.
    pub fn only_customer(&self) -> Option<Uuid> {
        match self {
            Scope::Customer(me) => Some(*me),
            _ => None,
        }
    }

    pub fn only_residences(&self) -> Option<Vec<Uuid>> {
        match self {
            Scope::Residences(ids) => Some(ids.clone()),
            _ => None,
        }
    }
}

/// The copy of staff membership and customers' residences a service keeps
/// from the orders stream (tables `access_staff`, `access_customers`, in the
/// service's schema; see the billing and planning migrations).
pub struct Replica;

/// The durable consumer feeding [`Replica`] for `service`.
pub fn replica_spec(service: &str, ns: &Namespace, max_attempts: i64) -> ConsumerSpec {
    ConsumerSpec {
        service: service.into(),
        name: format!("{service}-access"),
        source_service: "orders".into(),
        filter_subjects: vec![
            ns.event_filter("orders", "customer", "created"),
            ns.event_filter("orders", "customer", "updated"),
            ns.event_filter("orders", "residence", "staff_added"),
            ns.event_filter("orders", "residence", "staff_removed"),
        ],
        max_attempts,
        retry_base: std::time::Duration::from_millis(200),
    }
}

fn id(field: &str, value: &str) -> std::result::Result<Uuid, HandlerError> {
    Uuid::parse_str(value.trim()).map_err(|_| HandlerError::poison(format!("{field} is not an id")))
}

impl Handler for Replica {
    async fn handle(
        &self,
        tx: &mut PgConnection,
        event: &Delivery,
    ) -> std::result::Result<(), HandlerError> {
        if event.subject.ends_with(".residence.staff_added")
            || event.subject.ends_with(".residence.staff_removed")
        {
            let e = ResidenceStaffChanged::decode(event.payload.as_ref())
                .map_err(HandlerError::poison)?;
            let meta = e
                .meta
                .ok_or_else(|| HandlerError::poison("event without meta"))?;
            sqlx::query(
                "insert into access_staff (tenant_id, residence_id, staff_subject, member, version)
                 values ($1, $2, $3, $4, $5)
                 on conflict (tenant_id, staff_subject, residence_id) do update
                    set member = excluded.member, version = excluded.version
                    where access_staff.version < excluded.version",
            )
            .bind(id("tenant_id", &meta.tenant_id)?)
            .bind(id("residence_id", &e.residence_id)?)
            .bind(e.staff_subject.trim())
            .bind(e.member)
            .bind(meta.aggregate_version)
            .execute(&mut *tx)
            .await?;
            return Ok(());
        }
        let e = CustomerChanged::decode(event.payload.as_ref()).map_err(HandlerError::poison)?;
        let (Some(meta), Some(c)) = (e.meta, e.customer) else {
            return Err(HandlerError::poison("event without meta or customer"));
        };
        let residence = c
            .fields
            .as_ref()
            .map(|f| f.residence_id.trim())
            .filter(|r| !r.is_empty())
            .map(|r| id("residence_id", r))
            .transpose()?;
        sqlx::query(
            "insert into access_customers (tenant_id, customer_id, residence_id, version)
             values ($1, $2, $3, $4)
             on conflict (tenant_id, customer_id) do update
                set residence_id = excluded.residence_id, version = excluded.version
                where access_customers.version < excluded.version",
        )
        .bind(id("tenant_id", &meta.tenant_id)?)
        .bind(id("customer.id", &c.id)?)
        .bind(residence)
        .bind(c.version)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staff_see_their_residents_only() {
        let (r1, r2, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let staff = Scope::Residences(vec![r1]);
        assert!(staff.sees_customer(c, Some(r1)));
        assert!(!staff.sees_customer(c, Some(r2)));
        assert!(!staff.sees_customer(c, None));
        assert!(Scope::Tenant.sees_customer(c, None));
        assert!(Scope::Customer(c).sees_customer(c, Some(r2)));
        assert!(!Scope::Customer(c).sees_customer(Uuid::now_v7(), Some(r1)));
        assert!(staff.act_for_residence(Some(r1)).is_ok());
        assert!(matches!(
            staff.act_for_residence(Some(r2)),
            Err(Error::PermissionDenied(_))
        ));
    }
}
