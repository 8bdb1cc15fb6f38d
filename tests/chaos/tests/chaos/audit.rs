//! What each consumer did with each order, read where its effect is: the
//! services' own tables (each part's database, as its owner), and the
//! records the connector wrote into the reference ERP. An effect counted
//! twice is a duplicate; an acknowledged order without one is lost.

use std::collections::{HashMap, HashSet};

use relais_testkit::Stack;
use sqlx::PgPool;

use crate::{
    load::{Attempt, Kind},
    shop::{STOCK, Shop},
};

/// The services whose outbox and dead letters are read (each is also the
/// schema its tables are in).
const SERVICES: [&str; 5] = ["catalogue", "orders", "planning", "billing", "connector"];

pub struct Audit {
    pools: HashMap<&'static str, PgPool>,
    tenant: uuid::Uuid,
    product: String,
}

/// One consumer's effects on the orders it acts on.
#[derive(Debug, Default)]
pub struct ConsumerTally {
    pub name: &'static str,
    /// Acknowledged orders of the kinds it acts on.
    pub expected: usize,
    pub once: usize,
    /// Acknowledged orders it has no (complete) effect for.
    pub missing: Vec<String>,
    /// Orders, acknowledged or not, it applied more than once.
    pub doubled: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Tally {
    pub consumers: Vec<ConsumerTally>,
    /// Outbox rows not published yet, every service's.
    pub unpublished: i64,
    /// Dead letters not replayed, every service's.
    pub dead_letters: i64,
    /// The connector's ERP writes still queued, and those it gave up on.
    pub push_pending: i64,
    pub push_dead: i64,
    /// Units the catalogue holds for placed product orders, and the
    /// product orders there are (one unit each).
    pub reserved: i64,
    pub product_orders: i64,
    /// Events the orders service wrote: its stream should hold as many
    /// (JetStream drops a republished one by its id).
    pub orders_events: i64,
}

impl Tally {
    /// Acknowledged orders some consumer has not applied.
    pub fn lost(&self) -> usize {
        self.consumers
            .iter()
            .flat_map(|c| &c.missing)
            .collect::<HashSet<_>>()
            .len()
    }

    /// Orders some consumer applied twice, and units reserved twice.
    pub fn duplicated(&self) -> usize {
        let doubled = self
            .consumers
            .iter()
            .flat_map(|c| &c.doubled)
            .collect::<HashSet<_>>()
            .len();
        doubled + usize::try_from(self.reserved - self.product_orders).unwrap_or(0)
    }

    /// Nothing left to publish, push or apply.
    pub fn drained(&self) -> bool {
        self.lost() == 0
            && self.unpublished == 0
            && self.push_pending == 0
            && self.reserved >= self.product_orders
    }
}

impl Audit {
    pub async fn open(stack: &Stack, shop: &Shop) -> Self {
        let urls = [
            ("catalogue", &stack.catalogue_part().database_url),
            ("orders", &stack.orders_part().database_url),
            ("planning", &stack.planning_part().database_url),
            ("billing", &stack.billing_part().database_url),
            ("connector", &stack.connector_part().database_url),
        ];
        let mut pools = HashMap::new();
        for (service, url) in urls {
            let pool = PgPool::connect(url)
                .await
                .unwrap_or_else(|e| panic!("{service}'s database: {e}"));
            pools.insert(service, pool);
        }
        Self {
            pools,
            tenant: stack.tenant,
            product: shop.product.clone(),
        }
    }

    fn db(&self, service: &str) -> &PgPool {
        &self.pools[service]
    }

    /// Counts every effect now. Fails when a database cannot be read.
    pub async fn tally(&self, stack: &Stack, attempts: &[Attempt]) -> anyhow::Result<Tally> {
        let mut tally = Tally::default();
        for service in SERVICES {
            let q = format!("select count(*) from {service}.outbox where published_at is null");
            tally.unpublished += sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(q))
                .fetch_one(self.db(service))
                .await?;
            let q =
                format!("select count(*) from {service}.dead_letters where replayed_at is null");
            tally.dead_letters += sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(q))
                .fetch_one(self.db(service))
                .await?;
        }
        let push: Vec<(String, i64)> = sqlx::query_as(
            "select status, count(*) from connector.push_items where tenant_id = $1 group by status",
        )
        .bind(self.tenant)
        .fetch_all(self.db("connector"))
        .await?;
        for (status, n) in push {
            match status.as_str() {
                "pending" => tally.push_pending = n,
                "dead" => tally.push_dead = n,
                _ => {}
            }
        }
        // Every order there is, acknowledged or not (a call whose answer
        // was lost may have placed one).
        let orders: Vec<(String, String)> =
            sqlx::query_as("select id::text, kind from orders.orders where tenant_id = $1")
                .bind(self.tenant)
                .fetch_all(self.db("orders"))
                .await?;
        tally.product_orders = orders.iter().filter(|(_, k)| k == "product").count() as i64;
        let available: i64 = sqlx::query_scalar(
            "select stock_available from catalogue.products where tenant_id = $1 and id = $2::uuid",
        )
        .bind(self.tenant)
        .bind(&self.product)
        .fetch_one(self.db("catalogue"))
        .await?;
        tally.reserved = STOCK - available;
        tally.orders_events = sqlx::query_scalar("select count(*) from orders.outbox")
            .fetch_one(self.db("orders"))
            .await?;

        let acked: HashMap<&str, Kind> = attempts
            .iter()
            .filter(|a| a.acknowledged)
            .filter_map(|a| Some((a.order_id.as_deref()?, a.kind)))
            .collect();
        let effects = self.effects(stack).await?;
        for (name, kind, counts) in effects {
            let mut c = ConsumerTally {
                name,
                ..Default::default()
            };
            for (id, _) in acked.iter().filter(|(_, k)| **k == kind) {
                c.expected += 1;
                match counts.get(*id) {
                    Some(Effect {
                        count: 1,
                        complete: true,
                    }) => c.once += 1,
                    Some(e) if e.count > 1 => {}
                    _ => c.missing.push((*id).to_owned()),
                }
            }
            c.doubled = counts
                .iter()
                .filter(|(_, e)| e.count > 1)
                .map(|(id, _)| id.clone())
                .collect();
            tally.consumers.push(c);
        }
        Ok(tally)
    }

    /// Per consumer, the kind of order it acts on and its effect per order
    /// id.
    async fn effects(
        &self,
        stack: &Stack,
    ) -> anyhow::Result<Vec<(&'static str, Kind, HashMap<String, Effect>)>> {
        let tenant = self.tenant;
        // Stock: the order.placed event in the catalogue's inbox, handled
        // in the transaction that took the stock (the total is checked
        // against the product orders apart: a unit taken twice shows there).
        let placed: Vec<(String, String)> = sqlx::query_as(
            "select aggregate_id, id::text from orders.outbox where subject like '%.order.placed'",
        )
        .fetch_all(self.db("orders"))
        .await?;
        let handled: HashSet<String> = sqlx::query_scalar(
            "select event_id::text from catalogue.inbox where consumer = 'catalogue-stock-reservations'",
        )
        .fetch_all(self.db("catalogue"))
        .await?
        .into_iter()
        .collect();
        let mut stock = HashMap::new();
        for (order, event) in placed {
            if handled.contains(&event) {
                stock.entry(order).or_insert(Effect::default()).add(true);
            }
        }

        let per_order = |sql: &'static str, service: &'static str| async move {
            let rows: Vec<(String, i64)> = sqlx::query_as(sql)
                .bind(tenant)
                .fetch_all(self.db(service))
                .await?;
            anyhow::Ok(
                rows.into_iter()
                    .map(|(id, n)| {
                        (
                            id,
                            Effect {
                                count: n,
                                complete: true,
                            },
                        )
                    })
                    .collect::<HashMap<_, _>>(),
            )
        };
        let interventions = per_order(
            "select order_id::text, count(*) from planning.interventions where tenant_id = $1 group by 1",
            "planning",
        )
        .await?;
        let mut billing = per_order(
            "select order_id::text, count(*) from billing.invoices
             where tenant_id = $1 and kind = 'invoice' group by 1",
            "billing",
        )
        .await?;
        billing.extend(
            per_order(
                "select order_id::text, count(*) from billing.bookings where tenant_id = $1 group by 1",
                "billing",
            )
            .await?,
        );

        // The connector: the ERP's records naming the shop's order, in the
        // status its last event gave (a paid order, an accepted quote), and
        // a booking's one intervention as the quote's service.
        let text = relais_testkit::erp::text;
        let mut erp_orders = HashMap::new();
        for r in stack.erp_records("order").await {
            erp_orders
                .entry(text(&r, "shop_id").to_owned())
                .or_insert(Effect::default())
                .add(text(&r, "status") == "paid");
        }
        let mut services_per_quote: HashMap<String, i64> = HashMap::new();
        for r in stack.erp_records("service").await {
            *services_per_quote
                .entry(text(&r, "quote").to_owned())
                .or_default() += 1;
        }
        let mut erp_quotes = HashMap::new();
        for r in stack.erp_records("quote").await {
            let services = services_per_quote.get(&r.id).copied().unwrap_or(0);
            let e = erp_quotes
                .entry(text(&r, "shop_id").to_owned())
                .or_insert(Effect::default());
            e.add(text(&r, "status") == "accepted" && services == 1);
            // Two of the booking's interventions in the ERP: a duplicate.
            e.count += (services - 1).max(0);
        }
        Ok(vec![
            ("stock (catalogue)", Kind::Product, stock),
            ("planning", Kind::Booking, interventions),
            ("billing: invoices", Kind::Product, billing.clone()),
            ("billing: bookings", Kind::Booking, billing),
            ("connector: ERP orders", Kind::Product, erp_orders),
            ("connector: ERP quotes", Kind::Booking, erp_quotes),
        ])
    }
}

/// How many times an order's effect is there, and whether the last one
/// is complete (e.g. the ERP's quote accepted once the booking was paid).
#[derive(Clone, Copy, Debug, Default)]
struct Effect {
    count: i64,
    complete: bool,
}

impl Effect {
    fn add(&mut self, complete: bool) {
        self.count += 1;
        self.complete = complete;
    }
}
