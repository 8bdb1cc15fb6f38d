//! What a caller may see: the whole tenant, some residences, or one
//! customer. Staff membership is read from the database on each call, so a
//! member removed by an admin loses access at once.

use relais_platform::{
    auth::{Caller, Role},
    error::{Error, Result},
};
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub enum Scope {
    Tenant,
    Residences(Vec<Uuid>),
    Customer(Uuid),
}

pub async fn scope(conn: &mut PgConnection, caller: &Caller) -> Result<Scope> {
    match caller.role {
        Role::Admin | Role::Connector | Role::Service => Ok(Scope::Tenant),
        Role::Staff => {
            let ids: Vec<Uuid> = sqlx::query_scalar(
                "select residence_id from residence_staff where tenant_id = $1 and staff_subject = $2",
            )
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

impl Scope {
    pub fn sees_residence(&self, id: Uuid) -> bool {
        match self {
            Scope::Tenant => true,
            Scope::Residences(ids) => ids.contains(&id),
            Scope::Customer(_) => false,
        }
    }

    /// A customer record, given the residence it belongs to.
    pub fn sees_customer(&self, id: Uuid, residence: Option<Uuid>) -> bool {
        match self {
            Scope::Tenant => true,
            Scope::Residences(ids) => residence.is_some_and(|r| ids.contains(&r)),
            Scope::Customer(me) => *me == id,
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
}
