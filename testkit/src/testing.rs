//! What only tests need of a stack: tokens signed with the test key,
//! JetStream as a subscriber sees it.

use relais_platform::{
    auth::{Claims, Role},
    testing,
};

use crate::Stack;

impl Stack {
    /// Claims of `role` in the stack's tenant, valid ten minutes: change a
    /// field and `sign` them for another subject, customer or tenant.
    pub fn claims(&self, role: Role) -> Claims {
        Claims {
            sub: "tester".into(),
            tenant: self.tenant,
            role,
            customer_id: None,
            residences: vec![],
            connection: None,
            exp: chrono::Utc::now().timestamp() + 600,
        }
    }

    /// A token of `role` in the stack's tenant.
    pub fn token(&self, role: Role) -> String {
        sign(&self.claims(role))
    }

    /// `msg` as an admin of the stack's tenant sends it.
    pub fn admin<T>(&self, msg: T) -> tonic::Request<T> {
        testing::with_token(&self.token(Role::Admin), msg)
    }

    /// JetStream on the stack's server, to read events as a subscriber.
    pub async fn jetstream(&self) -> async_nats::jetstream::Context {
        async_nats::jetstream::new(testing::nats_client_on(&self.nats_url).await)
    }
}

/// A token for `claims`, signed with the key every test stack trusts.
pub fn sign(claims: &Claims) -> String {
    testing::token_with(claims)
}
