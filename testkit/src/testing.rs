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

    /// Publishes on the orders stream, for the stack's tenant, an
    /// `order.confirmed` that no consumer can decode (with a valid event
    /// id): planning's and billing's consumers make it a dead letter at
    /// once. Returns its subject and event id.
    pub async fn publish_unreadable_order_event(&self) -> (String, uuid::Uuid) {
        let subject = self.ns.subject("orders", self.tenant, "order", "confirmed");
        let event_id = uuid::Uuid::now_v7();
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", event_id.to_string().as_str());
        self.jetstream()
            .await
            .publish_with_headers(subject.clone(), headers, "not protobuf".into())
            .await
            .unwrap_or_else(|e| panic!("publish: {e}"))
            .await
            .unwrap_or_else(|e| panic!("publish ack: {e}"));
        (subject, event_id)
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
