//! The tokens the commands present: an admin's by default, or whoever a
//! command acts as (a staff member, the customer, the ERP connector).

use std::time::Duration;

use chrono::Utc;
use relais_platform::auth::{Authenticator, Claims, Role};
use uuid::Uuid;

pub fn authenticator() -> anyhow::Result<Authenticator> {
    // The CLI signs as `relais-cli`: in development with the key derived
    // from the stack's seed; elsewhere with the operator's own
    // RELAIS_SIGNING_KEY, which the trusted keys must list (docs/keys.md).
    Authenticator::new(&relais_platform::config::token_settings()?, "relais-cli")
}

pub fn admin_token(tenant: Uuid) -> anyhow::Result<String> {
    authenticator()?.mint_for(tenant, Role::Admin, "relais-cli", Duration::from_secs(3600))
}

/// Who a command acts as.
pub enum Actor {
    Admin,
    Staff(String),
    /// The customer themselves; the token's subject is their id.
    Customer(Uuid),
    /// The ERP connector for one connection: changes carry erp:<connection>.
    Connector(String),
}

pub fn token(tenant: Uuid, actor: &Actor) -> anyhow::Result<String> {
    let (sub, role, customer_id, connection) = match actor {
        Actor::Admin => return admin_token(tenant),
        Actor::Staff(sub) => (sub.clone(), Role::Staff, None, None),
        Actor::Customer(id) => (id.to_string(), Role::Customer, Some(*id), None),
        Actor::Connector(c) => (
            "connector".to_owned(),
            Role::Connector,
            None,
            Some(c.clone()),
        ),
    };
    authenticator()?.mint(&Claims {
        sub,
        tenant,
        role,
        customer_id,
        residences: vec![],
        connection,
        exp: Utc::now().timestamp() + 3600,
    })
}
