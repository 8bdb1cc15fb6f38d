//! The demo tenant's people with accounts on the gateway: what `make run`
//! prints and the README's `curl` walkthrough signs in with.

use anyhow::Context;
use relais_gateway::accounts::Accounts;
use relais_platform::auth::Role;
use relais_proto::orders::{AddResidenceStaffRequest, orders_service_client::OrdersServiceClient};

use super::orders::DemoOrders;
use crate::{
    client::{authed, connect},
    demo::TENANT,
};

/// A demo account: e-mail, password (public: it is printed and in the
/// README), role.
pub struct DemoAccount {
    pub email: &'static str,
    pub password: &'static str,
    pub role: Role,
}

pub const OFFICE: DemoAccount = DemoAccount {
    email: "office@demo.relais.localhost",
    password: "demo-office-1",
    role: Role::Admin,
};
pub const STAFF: DemoAccount = DemoAccount {
    email: "staff@demo.relais.localhost",
    password: "demo-staff-1",
    role: Role::Staff,
};
pub const PAUL: DemoAccount = DemoAccount {
    email: "paul.durand@example.org",
    password: "demo-paul-1",
    role: Role::Customer,
};

/// The office, the residence's staff member (a member of the demo
/// residence) and Paul, each with their password (idempotent: a restart
/// resets them).
pub async fn seed_accounts(
    accounts: &Accounts,
    orders: &str,
    token: &str,
    demo: &DemoOrders,
) -> anyhow::Result<()> {
    accounts
        .ensure(TENANT, OFFICE.email, OFFICE.password, OFFICE.role, None)
        .await?;
    let staff = accounts
        .ensure(TENANT, STAFF.email, STAFF.password, STAFF.role, None)
        .await?;
    let paul = demo.customer.parse().context("Paul's id")?;
    accounts
        .ensure(TENANT, PAUL.email, PAUL.password, PAUL.role, Some(paul))
        .await?;
    OrdersServiceClient::new(connect(orders).await?)
        .add_residence_staff(authed(
            token,
            AddResidenceStaffRequest {
                residence_id: demo.residence.clone(),
                staff_subject: staff.to_string(),
                display_name: "Demo staff (account)".into(),
            },
        )?)
        .await
        .context("the staff account's residence")?;
    Ok(())
}
