//! The stack, its descriptors, the two tenants and their tokens, and tenant
//! A's data created through the public APIs: every request that created it
//! is kept as the template of its method (a request the service accepts),
//! and every id A received is kept to look for in B's answers.
//!
//! Here: the tenants, the world and seeding's machinery; what A seeds in
//! the shop is in `seed_shop.rs`, in billing, the ERP and the connector in
//! `seed_erp.rs`.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    time::Duration,
};

use chrono::Utc;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor};
use relais_platform::auth::{Claims, Role};
use relais_proto::{orders, types::Money};
use uuid::Uuid;

use crate::{
    call::{Outcome, call},
    inputs::{Ids, strings},
    stack::{self, Stack},
};

mod seed_erp;
mod seed_shop;

pub const ROLES: [Role; 5] = [
    Role::Customer,
    Role::Staff,
    Role::Admin,
    Role::Connector,
    Role::Service,
];

/// One tenant's records the tokens of its roles speak for.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub name: &'static str,
    pub id: Uuid,
    /// The customer a customer token is, the residence a staff token
    /// belongs to, the connection a connector token acts for.
    pub customer: Option<String>,
    pub residence: Option<String>,
    pub connection: Option<String>,
}

impl Tenant {
    pub fn token(&self, role: Role) -> String {
        let uuid = |s: &Option<String>| s.as_deref().and_then(|s| Uuid::parse_str(s).ok());
        relais_platform::testing::token_with(&Claims {
            sub: format!("{}-{}", self.name, role.as_str()),
            tenant: self.id,
            role,
            // A customer token needs one; before A's customer exists, any.
            customer_id: (role == Role::Customer)
                .then(|| uuid(&self.customer).unwrap_or_else(Uuid::now_v7)),
            residences: match (role, uuid(&self.residence)) {
                (Role::Staff, Some(r)) => vec![r],
                _ => vec![],
            },
            connection: (role == Role::Connector)
                .then(|| self.connection.clone())
                .flatten(),
            exp: Utc::now().timestamp() + 3600,
        })
    }
}

pub struct World {
    pub stack: Stack,
    /// Every method of every Relais service, by `Service/Method`.
    pub methods: BTreeMap<String, MethodDescriptor>,
    pub a: Tenant,
    pub b: Tenant,
    /// The requests each method accepted from tenant A, encoded, and the
    /// role that made them (RecordErp* take connector tokens only); the
    /// first is the method's baseline, others set other fields (an order
    /// for a `new_customer` instead of a `customer_id`).
    pub templates: HashMap<String, Vec<(Role, Vec<u8>)>>,
    pub ids: Ids,
    /// Every UUID found in an answer to tenant A while seeding (line ids,
    /// payment ids... beyond the ones in `ids`).
    pub a_uuids: BTreeSet<String>,
}

impl World {
    pub async fn start() -> Self {
        let pool = DescriptorPool::decode(relais_proto::FILE_DESCRIPTOR_SET).unwrap();
        let methods = pool
            .services()
            .filter(|s| s.full_name().starts_with("relais."))
            .flat_map(|s| s.methods().collect::<Vec<_>>())
            .map(|m| (crate::inputs::method_path(&m), m))
            .collect();
        let tenant = |name| Tenant {
            name,
            id: Uuid::now_v7(),
            customer: None,
            residence: None,
            connection: None,
        };
        Self {
            stack: stack::spawn().await,
            methods,
            a: tenant("alphatenant"),
            b: tenant("betatenant"),
            templates: HashMap::new(),
            ids: Ids::default(),
            a_uuids: BTreeSet::new(),
        }
    }

    pub fn method(&self, path: &str) -> &MethodDescriptor {
        self.methods
            .get(path)
            .unwrap_or_else(|| panic!("no method {path}"))
    }

    /// Calls `path` with raw bytes.
    pub async fn raw(&self, path: &str, token: &str, body: Vec<u8>) -> Outcome {
        let m = self.method(path);
        let channel = &self.stack.channels[m.parent_service().full_name()];
        call(channel, m, token, body).await
    }

    /// A call tenant A's seeding needs to succeed: its request becomes the
    /// method's template, the UUIDs of its answer A's.
    async fn seed<Req: Message, Resp: Message + Default>(
        &mut self,
        path: &str,
        role: Role,
        req: Req,
    ) -> Result<Resp, tonic::Status> {
        let body = req.encode_to_vec();
        let out = self.raw(path, &self.a.token(role), body.clone()).await;
        if let Some(s) = out.status {
            return Err(s);
        }
        assert!(!out.timed_out, "{path} hung while seeding");
        let kept = self.templates.entry(path.to_owned()).or_default();
        // The first request and those setting another set of fields.
        let fields = |b: &[u8]| {
            DynamicMessage::decode(self.methods[path].input(), b)
                .map(|m| m.fields().map(|(f, _)| f.number()).collect::<Vec<_>>())
                .unwrap_or_default()
        };
        let new_fields = fields(&body);
        if !kept.iter().any(|(_, b)| fields(b) == new_fields) {
            kept.push((role, body));
        }
        let output = self.method(path).output();
        for b in &out.bodies {
            let mut found = Vec::new();
            if let Ok(m) = DynamicMessage::decode(output.clone(), b.as_slice()) {
                strings(&m, "", &mut found);
            }
            self.a_uuids.extend(
                found
                    .into_iter()
                    .filter(|(_, v)| Uuid::parse_str(v).is_ok())
                    .map(|(_, v)| v),
            );
        }
        let last = out.bodies.last().cloned().unwrap_or_default();
        Ok(Resp::decode(last.as_slice()).unwrap())
    }

    async fn must<Req: Message + Clone, Resp: Message + Default>(
        &mut self,
        path: &str,
        role: Role,
        req: Req,
    ) -> Resp {
        self.seed(path, role, req)
            .await
            .unwrap_or_else(|s| panic!("seeding {path}: {s:?}"))
    }

    /// Retries a seeding call that depends on an event still on its way
    /// (billing learns of a customer from the orders stream).
    async fn eventually<Req: Message + Clone, Resp: Message + Default>(
        &mut self,
        path: &str,
        role: Role,
        req: Req,
        ok: impl Fn(&Resp) -> bool,
    ) -> Resp {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let last = self.seed::<Req, Resp>(path, role, req.clone()).await;
            match last {
                Ok(r) if ok(&r) => return r,
                other if tokio::time::Instant::now() > deadline => {
                    panic!("seeding {path} never succeeded: {:?}", other.err())
                }
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    fn keep(&mut self, kind: &'static str, id: &str) {
        assert!(!id.is_empty(), "seeding gave no {kind} id");
        self.ids.by_kind.insert(kind, id.to_owned());
    }

    /// Tenant A's data: one record of each kind every service keeps.
    pub async fn seed_tenant_a(&mut self) {
        self.seed_catalogue().await;
        // The time the worker's absence and the ERP's invoice are set from.
        let now = Utc::now().timestamp();
        self.seed_people(now).await;
        self.seed_orders().await;
        self.seed_imports().await;
        self.seed_billing(now).await;
        self.seed_connector().await;
        assert!(
            self.ids
                .by_kind
                .values()
                .all(|id| Uuid::parse_str(id).is_ok()),
            "every id of A is a UUID: {:?}",
            self.ids.by_kind
        );
    }

    async fn confirm(&mut self, order: &str) {
        let _: orders::ChangeOrderStatusResponse = self
            .must(
                "OrdersService/ChangeOrderStatus",
                Role::Admin,
                orders::ChangeOrderStatusRequest {
                    id: order.into(),
                    status: orders::OrderStatus::Confirmed as i32,
                    ..Default::default()
                },
            )
            .await;
    }
}

fn eur(cents: i64) -> Option<Money> {
    Some(Money {
        amount_cents: cents,
        currency: "EUR".into(),
    })
}

/// A fresh idempotency key.
fn key() -> String {
    Uuid::now_v7().to_string()
}

fn address() -> Option<orders::Address> {
    Some(orders::Address {
        line1: "3 rue alphatenant".into(),
        postal_code: "69002".into(),
        city: "Lyon".into(),
        country: "FR".into(),
        ..Default::default()
    })
}

fn at(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}
