//! The role × operation table of docs/access.md, through the gateway: each
//! route below is one of the table's RPCs, called over HTTP by each of the
//! table's seven callers on customer A's records, and what the caller gets
//! must be the cell's meaning in HTTP (allowed: 2xx, or 409 for a write
//! the record's state refuses; filtered: 200 without A's records; not
//! found: 404; denied: 403; public: 200 without private contacts). The
//! gateway adds no rule of its own to these: it forwards the token.

use relais_platform::auth::{Claims, Role};
use relais_proto::orders::PlaceHourPackOrderRequest;
use reqwest::Method;
use serde_json::Value;

use crate::support::{Answer, Api, confirm, eventually, stack};

const TABLE: &str = include_str!("../../../../docs/access.md");
const CALLERS: [&str; 7] = [
    "customer",
    "other customer",
    "staff R1",
    "staff R2",
    "admin",
    "connector",
    "service",
];

/// The cell of `service`/`rpc` for each caller, from the document.
fn row(service: &str, rpc: &str) -> Vec<String> {
    TABLE
        .lines()
        .map(|l| l.split('|').map(str::trim).collect::<Vec<_>>())
        .find(|c| c.len() > 10 && c[1] == service && c[2] == rpc)
        .unwrap_or_else(|| panic!("docs/access.md has no row {service} {rpc}"))[3..10]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}

/// What a caller got, in the table's words.
fn outcome(a: &Answer, has_a: impl Fn(&Answer) -> bool) -> String {
    match a.status.as_u16() {
        200..=299 if has_a(a) => "allowed".into(),
        200..=299 => "filtered".into(),
        409 => "allowed".into(),
        404 => "not found".into(),
        403 => "denied".into(),
        s => format!("{s}: {}", String::from_utf8_lossy(&a.bytes)),
    }
}

fn lists(a: &Answer, key: &str, id: &str) -> bool {
    a.json()[key]
        .as_array()
        .is_some_and(|items| items.iter().any(|i| i["id"] == id))
}

#[tokio::test]
async fn the_access_table_holds_through_the_gateway() {
    let stack = stack().await;
    let r1 = stack.residence("R1").await;
    let r2 = stack.residence("R2").await;
    let a = stack.resident(&r1, "Alice").await;
    let b = stack.resident(&r2, "Bruno").await;
    stack.member(&r1, "staff-r1").await;
    stack.member(&r2, "staff-r2").await;

    // A's order (an hour pack, paid) and its invoice.
    let cleaning = stack.service("MENAGE", "Ménage à domicile").await;
    let pack = stack.hour_pack("10 h", &cleaning).await;
    let order = stack
        .orders()
        .place_hour_pack_order(stack.admin(PlaceHourPackOrderRequest {
            idempotency_key: String::new(),
            customer_id: a.clone(),
            hour_pack_id: pack,
            terms_accepted: true,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap()
        .id;
    confirm(&stack, &order).await;
    let admin = Api::new(&stack, Some(stack.token(Role::Admin)));
    let invoice = eventually("A's invoice", || async {
        let page = admin
            .ok(&format!("/v1/office/invoices?customer_id={a}"))
            .await;
        page["items"].as_array()?.first()?["id"]
            .as_str()
            .map(str::to_owned)
    })
    .await;

    let token = |who: &str| -> String {
        let base = |role| stack.claims(role);
        relais_testkit::sign(&match who {
            "customer" => Claims {
                customer_id: Some(a.parse().unwrap()),
                ..base(Role::Customer)
            },
            "other customer" => Claims {
                customer_id: Some(b.parse().unwrap()),
                ..base(Role::Customer)
            },
            "staff R1" => Claims {
                sub: "staff-r1".into(),
                ..base(Role::Staff)
            },
            "staff R2" => Claims {
                sub: "staff-r2".into(),
                ..base(Role::Staff)
            },
            "admin" => base(Role::Admin),
            "connector" => Claims {
                connection: Some("erp".into()),
                ..base(Role::Connector)
            },
            _ => Claims {
                sub: "orders".into(),
                ..base(Role::Service)
            },
        })
    };

    // Staff membership reaches billing and planning by event: wait until
    // staff R1 sees A's invoice before probing.
    let staff_r1 = Api::new(&stack, Some(token("staff R1")));
    eventually("billing knows staff R1", || async {
        let a_page = staff_r1
            .get(&format!("/v1/office/invoices?customer_id={a}"))
            .await;
        (a_page.status.as_u16() == 200 && lists(&a_page, "items", &invoice)).then_some(())
    })
    .await;

    type Probe<'a> = (
        &'a str,
        &'a str,
        Method,
        String,
        Box<dyn Fn(&Answer) -> bool + 'a>,
    );
    let probes: Vec<Probe> = vec![
        (
            "orders",
            "ListOrders",
            Method::GET,
            format!("/v1/office/orders?customer_id={a}"),
            Box::new(|x: &Answer| lists(x, "items", &order)),
        ),
        (
            "orders",
            "ExportOrders",
            Method::GET,
            format!("/v1/office/orders/export?customer_id={a}"),
            Box::new(|x: &Answer| String::from_utf8_lossy(&x.bytes).contains(&order)),
        ),
        (
            "orders",
            "GetOrderStatistics",
            Method::GET,
            format!("/v1/office/orders/statistics?dimension=kind&customer_id={a}"),
            Box::new(|x: &Answer| x.json()["rows"].as_array().is_some_and(|r| !r.is_empty())),
        ),
        (
            "orders",
            "ListCustomers",
            Method::GET,
            format!("/v1/office/customers?residence_id={r1}"),
            Box::new(|x: &Answer| lists(x, "items", &a)),
        ),
        (
            "orders",
            "ListResidences",
            Method::GET,
            "/v1/office/residences".into(),
            Box::new(|x: &Answer| lists(x, "items", &r1)),
        ),
        (
            "billing",
            "ListInvoices",
            Method::GET,
            format!("/v1/office/invoices?customer_id={a}"),
            Box::new(|x: &Answer| lists(x, "items", &invoice)),
        ),
        (
            "billing",
            "ValidateInvoice",
            Method::POST,
            format!("/v1/office/invoices/{invoice}/validate"),
            Box::new(|_: &Answer| true),
        ),
    ];

    let mut wrong = Vec::new();
    for (service, rpc, method, path, has_a) in &probes {
        let cells = row(service, rpc);
        for (who, cell) in CALLERS.iter().zip(&cells) {
            let api = Api::new(&stack, Some(token(who)));
            let body = (*method == Method::POST).then(|| Value::Object(Default::default()));
            let got = outcome(
                &api.send(method.clone(), path, body.as_ref(), &[]).await,
                has_a,
            );
            if &got != cell {
                wrong.push(format!(
                    "{service} {rpc} as {who}: table says {cell}, gateway gave {got}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let _ = r2;
}
