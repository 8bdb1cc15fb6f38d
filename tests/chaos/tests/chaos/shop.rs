//! What the shop holds before the load starts, as its admin makes it: a
//! product with ample stock, a service to book, a few customers, and a
//! connection pushing customers, paid product orders and bookings to the
//! reference ERP.

use std::time::Duration;

use relais_platform::testing;
use relais_proto::connector::{
    AdapterKind, ConflictPolicy, ConnectionFields, CreateConnectionRequest, Direction,
    FamilySettings, OrderStatusRule, SendAs,
};
use relais_testkit::{ERP_KEYS, Stack};

/// Stock enough that no order of the run is ever short: the audit reads
/// the reservations off it.
pub const STOCK: i64 = 1_000_000;
const CUSTOMERS: usize = 4;

pub struct Shop {
    pub product: String,
    pub service: String,
    pub customers: Vec<String>,
}

impl Shop {
    /// Makes the shop and waits until billing holds its customers (it
    /// drafts invoices for them).
    pub async fn open(stack: &Stack) -> Self {
        connect_erp(stack).await;
        let product = product(stack).await;
        let service = stack.service("MENAGE", "Ménage à domicile").await;
        let mut customers = Vec::with_capacity(CUSTOMERS);
        for i in 0..CUSTOMERS {
            customers.push(customer(stack, i).await);
        }
        let billing = sqlx::PgPool::connect(&stack.billing_part().database_url)
            .await
            .unwrap_or_else(|e| panic!("billing's database: {e}"));
        testing::eventually(Duration::from_secs(30), || async {
            let n: i64 =
                sqlx::query_scalar("select count(*) from billing.customers where tenant_id = $1")
                    .bind(stack.tenant)
                    .fetch_one(&billing)
                    .await
                    .ok()?;
            (n == CUSTOMERS as i64).then_some(())
        })
        .await
        .unwrap_or_else(|| panic!("billing never received the {CUSTOMERS} customers"));
        billing.close().await;
        Self {
            product,
            service,
            customers,
        }
    }
}

/// The connection "chaos-erp": customers, bookings (quotes and their
/// interventions) and product orders pushed; a product order is sent as
/// an order once paid, not when placed.
async fn connect_erp(stack: &Stack) {
    let push = |family: &str| FamilySettings {
        family: family.into(),
        direction: Direction::Push as i32,
        schedule: String::new(),
    };
    let rule = |status: &str, send_as: SendAs| OrderStatusRule {
        status: status.into(),
        send_as: send_as as i32,
    };
    stack
        .connector()
        .create_connection(stack.admin(CreateConnectionRequest {
            idempotency_key: String::new(),
            fields: Some(ConnectionFields {
                name: "chaos-erp".into(),
                adapter: AdapterKind::ReferenceErp as i32,
                endpoint: stack.erp_base(),
                secret: ERP_KEYS.into(),
                enabled: true,
                families: vec![push("customers"), push("bookings"), push("orders")],
                order_statuses: vec![
                    rule("validated", SendAs::NotSent),
                    rule("paid", SendAs::Order),
                ],
                conflict_policy: ConflictPolicy::ErpWins as i32,
                ..Default::default()
            }),
        }))
        .await
        .unwrap_or_else(|e| panic!("the ERP connection: {e}"));
}

/// Gloves at 11.90 € + 20 % VAT, [`STOCK`] in stock.
async fn product(stack: &Stack) -> String {
    stack.gloves(STOCK).await
}

/// An online customer in Lyon.
async fn customer(stack: &Stack, i: usize) -> String {
    let email = format!("client{i}@example.org");
    stack
        .customer(&format!("Client{i}"), "Durand", &email, "")
        .await
}
