//! The world a case runs in: a stack of its own with the case's records
//! bound on both sides (`World::set_up`), the edits made so far, and how
//! the model shows values (minutes after the booked start, workers by
//! name). Reading both sides is in `read.rs`, editing them in `edit.rs`,
//! applying an op in `apply.rs`.

use std::{collections::BTreeMap, fmt, time::Duration};

use chrono::{DateTime, Utc};
use relais_connector::adapter::ErpAdapter;
use relais_proto::{
    connector::{
        AdapterKind, ConnectionFields, CreateConnectionRequest, Direction, FamilySettings,
        OrderStatusRule, SendAs,
    },
    orders::{Order, OrderStatus},
    planning::{Intervention, InterventionStatus, ListWorkersRequest},
};
use serde_json::json;

use super::case::{Crew, Faults, Field, Policy, Rec, Side};
use crate::stack::{Stack, fields, spawn, text};

/// One edit that changed a value, in the order the test made them.
#[derive(Clone, Debug)]
pub(super) struct Edit {
    pub(super) seq: usize,
    /// The op that made it (a move edits start and end in one op).
    pub(super) op: usize,
    pub(super) side: Side,
    pub(super) rec: Rec,
    pub(super) field: Field,
    pub(super) value: String,
    /// When the edit began: one begun after a conflict was detected is
    /// none of that conflict's business.
    pub(super) began: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub(super) struct Ids {
    pub(super) shop: String,
    pub(super) erp: String,
}

pub(super) type Values = BTreeMap<Field, String>;

/// Both sides of every record, once.
pub(super) struct Snapshot {
    pub(super) shop: BTreeMap<Rec, (Values, i64)>,
    pub(super) erp: BTreeMap<Rec, (Values, i64)>,
}

impl Snapshot {
    pub(super) fn shop(&self, rec: Rec, field: Field) -> &str {
        self.shop[&rec].0[&field].as_str()
    }

    pub(super) fn erp(&self, rec: Rec, field: Field) -> &str {
        self.erp[&rec].0[&field].as_str()
    }

    pub(super) fn converged(&self, rec: Rec) -> bool {
        rec.fields()
            .iter()
            .all(|f| self.shop(rec, *f) == self.erp(rec, *f))
    }
}

pub(super) struct World {
    pub(super) stack: Stack,
    pub(super) conn: String,
    pub(super) policy: Policy,
    pub(super) ids: BTreeMap<Rec, Ids>,
    /// The workers an intervention may go to.
    pub(super) crew: BTreeMap<Crew, Ids>,
    /// The booking of the intervention (planning lists it by booking).
    pub(super) booking: String,
    /// The intervention's booked start: times are shown from it.
    pub(super) booked: DateTime<Utc>,
    /// Each side's version and values once set up (both sides agreed).
    pub(super) start: Snapshot,
    pub(super) faults: Option<Faults>,
    pub(super) edits: Vec<Edit>,
    /// The op being applied.
    pub(super) op: usize,
    pub(super) log: Vec<String>,
    pub(super) faults_set: usize,
    pub(super) restarts: usize,
}

pub(super) fn err(e: impl fmt::Display) -> String {
    e.to_string()
}

/// The connection under test: customers, workers, planning and product
/// orders both ways (orders sent once paid), bookings pushed.
pub(super) async fn connect(stack: &Stack, policy: Policy) -> String {
    let family = |f: &str, d: Direction| FamilySettings {
        family: f.into(),
        direction: d as i32,
        schedule: String::new(),
    };
    let rule = |status: &str, send_as: SendAs| OrderStatusRule {
        status: status.into(),
        send_as: send_as as i32,
    };
    stack
        .connector
        .clone()
        .create_connection(stack.admin(CreateConnectionRequest {
            idempotency_key: "model".into(),
            fields: Some(ConnectionFields {
                name: "model-erp".into(),
                adapter: AdapterKind::ReferenceErp as i32,
                endpoint: stack.erp_base.clone(),
                secret_ref: String::new(),
                secret: crate::stack::ERP_KEYS.into(),
                families: vec![
                    family("customers", Direction::Both),
                    family("workers", Direction::Both),
                    family("planning", Direction::Both),
                    family("bookings", Direction::Push),
                    family("orders", Direction::Both),
                ],
                order_statuses: vec![
                    rule("validated", SendAs::NotSent),
                    rule("paid", SendAs::Order),
                ],
                conflict_policy: policy.pb() as i32,
                enabled: true,
            }),
        }))
        .await
        .unwrap()
        .into_inner()
        .connection
        .unwrap()
        .id
}

pub(super) fn erp_values(r: &relais_connector::adapter::ErpRecord) -> Values {
    Field::PERSON
        .iter()
        .map(|f| (*f, text(r, f.erp()).to_owned()))
        .collect()
}

pub(super) fn instant(t: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
}

pub(super) fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    }
}

/// A shop order's status as the ERP names it (what the connector sends).
pub(super) fn order_status(o: &Order) -> &'static str {
    match o.status() {
        OrderStatus::Placed | OrderStatus::Quote => "validated",
        OrderStatus::Confirmed => "paid",
        OrderStatus::Preparing => "preparing",
        OrderStatus::Shipped => "shipped",
        OrderStatus::Delivered | OrderStatus::Completed => "delivered",
        OrderStatus::Cancelled => "cancelled",
        _ => "?",
    }
}

pub(super) fn intervention_status(i: &Intervention) -> &'static str {
    match i.status() {
        InterventionStatus::Planned => "planned",
        InterventionStatus::Done => "done",
        InterventionStatus::Cancelled => "cancelled",
        InterventionStatus::Unspecified => "?",
    }
}

impl World {
    /// A fresh stack with the case's records, bound and agreed on both sides.
    pub(super) async fn set_up(policy: Policy) -> Result<World, String> {
        let stack = spawn().await;
        let conn = connect(&stack, policy).await;
        let service = stack.service("MENAGE").await;
        let erp = stack.erp();
        let alpha = stack.customer("Alpha").await;
        let bravo = stack.customer("Bravo").await;
        let omar = stack.shop_worker("Omar", &service).await;
        let awa = stack.shop_worker("Awa", &service).await;
        let jeanne = erp
            .upsert(
                "customer",
                None,
                "model-jeanne",
                &fields(json!({
                    "first_name": "Jeanne", "last_name": "Martin",
                    "email": "jeanne@example.org", "phone": "04 78 00 00 12",
                    "address": { "line1": "4 allée des Tilleuls", "postal_code": "69003", "city": "Lyon" },
                })),
            )
            .await
            .map_err(err)?;
        let lea = erp
            .upsert(
                "employee",
                None,
                "model-lea",
                &fields(json!({
                    "first_name": "Léa", "last_name": "Moreau", "email": "lea@example.org",
                    "phone": "06 12 34 56 78", "active": true,
                })),
            )
            .await
            .map_err(err)?;
        for family in ["customers", "workers"] {
            stack.sync(&conn, family, false).await.map_err(err)?;
        }
        // Bravo's booking with Omar (one intervention, tomorrow 9:00), and
        // Alpha's product order, paid: both sent.
        let booking = stack.book(&bravo, &service, &omar, 1).await.id;
        let gloves = crate::orders::product(&stack).await;
        let order = stack.paid_product_order(&alpha, &gloves).await.id;
        let by_shop_id = |object: &'static str, id: String| {
            let stack = &stack;
            async move {
                stack
                    .erp_eventually(object, 1, |r| text(r, "shop_id") == id)
                    .await
                    .remove(0)
            }
        };
        let erp_alpha = by_shop_id("customer", alpha.clone()).await;
        let erp_bravo = by_shop_id("customer", bravo.clone()).await;
        let erp_omar = by_shop_id("employee", omar.clone()).await;
        let erp_awa = by_shop_id("employee", awa.clone()).await;
        let visit = stack
            .erp_eventually("service", 1, |s| text(s, "status") == "planned")
            .await
            .remove(0);
        let erp_order = stack
            .erp_eventually("order", 1, |o| {
                text(o, "shop_id") == order && text(o, "status") == "paid"
            })
            .await
            .remove(0);
        let shop_jeanne = stack
            .customers_matching("Martin")
            .await
            .pop()
            .ok_or("the ERP customer never reached the shop")?
            .id;
        let shop_lea = stack
            .planning
            .clone()
            .list_workers(stack.admin(ListWorkersRequest::default()))
            .await
            .map_err(err)?
            .into_inner()
            .workers
            .into_iter()
            .find(|w| w.fields.as_ref().is_some_and(|f| f.external_ref == lea.id))
            .ok_or("the ERP employee never reached the shop")?
            .id;
        let jeanne = erp.get("customer", &jeanne.id).await.map_err(err)?;
        let lea = erp.get("employee", &lea.id).await.map_err(err)?;
        stack
            .bound(
                &conn,
                "customer",
                &[erp_alpha.clone(), erp_bravo.clone(), jeanne.clone()],
            )
            .await;
        stack
            .bound(
                &conn,
                "worker",
                &[erp_omar.clone(), erp_awa.clone(), lea.clone()],
            )
            .await;
        stack
            .bound(&conn, "intervention", std::slice::from_ref(&visit))
            .await;
        stack
            .bound(&conn, "order", std::slice::from_ref(&erp_order))
            .await;
        let ids: BTreeMap<Rec, Ids> = [
            (Rec::ShopCustomerA, alpha, erp_alpha.id),
            (Rec::ShopCustomerB, bravo, erp_bravo.id),
            (Rec::ErpCustomer, shop_jeanne, jeanne.id),
            (Rec::ErpWorker, shop_lea, lea.id),
            (Rec::ShopWorker, omar.clone(), erp_omar.id.clone()),
            (
                Rec::Intervention,
                text(&visit, "shop_id").to_owned(),
                visit.id.clone(),
            ),
            (Rec::ProductOrder, order, erp_order.id),
        ]
        .into_iter()
        .map(|(r, shop, erp)| (r, Ids { shop, erp }))
        .collect();
        let crew: BTreeMap<Crew, Ids> = [
            (Crew::Omar, omar, erp_omar.id),
            (Crew::Awa, awa, erp_awa.id),
        ]
        .into_iter()
        .map(|(c, shop, erp)| (c, Ids { shop, erp }))
        .collect();
        let mut world = World {
            stack,
            conn,
            policy,
            ids,
            crew,
            booking,
            booked: DateTime::<Utc>::MIN_UTC,
            start: Snapshot {
                shop: BTreeMap::new(),
                erp: BTreeMap::new(),
            },
            faults: None,
            edits: Vec::new(),
            op: 0,
            log: Vec::new(),
            faults_set: 0,
            restarts: 0,
        };
        world.booked = instant(world.shop_intervention().await?.start.as_ref())
            .ok_or("the intervention has no start")?;
        // The connector may still be finishing its first writes (an
        // intervention is sent, then its booking moves on): the start is
        // what both sides hold once nothing moves.
        let mut start = world.snapshot().await?;
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let again = world.snapshot().await?;
            let same = again.shop == start.shop && again.erp == start.erp;
            start = again;
            if same {
                break;
            }
        }
        world.start = start;
        for rec in Rec::ALL {
            if !world.start.converged(rec) {
                return Err(format!(
                    "set-up: {rec:?} differs before any edit: shop {:?}, ERP {:?}",
                    world.start.shop[&rec], world.start.erp[&rec]
                ));
            }
        }
        Ok(world)
    }

    /// An instant as the model shows it: minutes after the booked start.
    pub(super) fn minutes(&self, t: Option<DateTime<Utc>>) -> String {
        match t {
            Some(t) => format!("{:+}m", (t - self.booked).num_minutes()),
            None => "none".into(),
        }
    }

    pub(super) fn crew_of(&self, id: &str, side: Side) -> String {
        if id.is_empty() {
            return String::new();
        }
        self.crew
            .iter()
            .find(|(_, ids)| {
                (match side {
                    Side::Shop => &ids.shop,
                    Side::Erp => &ids.erp,
                }) == id
            })
            .map_or_else(|| format!("worker {id}"), |(c, _)| format!("{c:?}"))
    }

    /// A field's value as the ERP shows it (a conflict's values), as the
    /// model shows it.
    pub(super) fn shown(&self, field: Field, erp: &str) -> String {
        match field {
            Field::Start | Field::End => match DateTime::parse_from_rfc3339(erp) {
                Ok(t) => self.minutes(Some(t.with_timezone(&Utc))),
                Err(_) => erp.to_owned(),
            },
            Field::Worker => self.crew_of(erp, Side::Erp),
            _ => erp.to_owned(),
        }
    }
}
