//! The connector against a real Tryton 8.2 (trytond from PyPI, installed by
//! `scripts/tryton.sh up`, which `make test` runs): each test serves its
//! own copy of the prepared database on a loopback port. Parties ↔
//! customers, categories and products → the catalogue, paid product orders
//! → confirmed sales with their discounts, and their shipment back.

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use relais_connector::{
    adapter::{ErpAdapter, ErpRecord},
    tryton::TrytonClient,
};
use relais_platform::testing;
use relais_proto::{
    catalogue::{CreateProductRequest, ListCategoriesRequest, ProductFields},
    connector::{
        AdapterKind, ConflictPolicy, ConnectionFields, CreateConnectionRequest, Direction,
        FamilySettings, ListDeadLettersRequest, OrderStatusRule, SendAs,
    },
    orders::{
        ChangeOrderStatusRequest, GetOrderRequest, OrderLineRequest, OrderStatus, PaymentMode,
        PlaceProductOrderRequest,
    },
    types::Money,
};
use serde_json::{Value, json};

use crate::stack::{Stack, fields, spawn, spawn_with};

/// A trytond serving a fresh copy of the template database.
struct Tryton {
    bin: String,
    conf: PathBuf,
    child: Option<Child>,
    endpoint: String,
    dir: tempfile::TempDir,
}

impl Drop for Tryton {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Tryton {
    /// None (the test then says why and passes) when Tryton is not
    /// installed here: `scripts/tryton.sh up` installs it.
    async fn start() -> Option<Tryton> {
        let (Ok(bin), Ok(template)) = (
            std::env::var("RELAIS_TRYTOND"),
            std::env::var("RELAIS_TRYTON_TEMPLATE"),
        ) else {
            eprintln!(
                "SKIPPED: Tryton is not installed (RELAIS_TRYTOND / RELAIS_TRYTON_TEMPLATE unset); \
                 run scripts/tryton.sh up and source .local/tryton/env"
            );
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(&template, dir.path().join("relais.sqlite")).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let conf: PathBuf = dir.path().join("trytond.conf");
        std::fs::write(
            &conf,
            format!(
                "[database]\nuri = sqlite://\npath = {}\n[web]\nlisten = 127.0.0.1:{port}\n",
                dir.path().display()
            ),
        )
        .unwrap();
        let mut tryton = Tryton {
            bin,
            conf,
            child: None,
            endpoint: format!("http://127.0.0.1:{port}/relais"),
            dir,
        };
        tryton.serve().await;
        Some(tryton)
    }

    /// Starts trytond on the database, and waits until it answers.
    async fn serve(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("trytond.log"))
            .unwrap();
        self.child = Some(
            Command::new(&self.bin)
                .args(["-c", self.conf.to_str().unwrap(), "-d", "relais"])
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
        let client = self.client();
        let up = testing::eventually(Duration::from_secs(60), || async {
            client
                .call("res.user", "search_count", vec![json!([])])
                .await
                .ok()
        })
        .await;
        assert!(up.is_some(), "trytond did not answer within 60 s");
    }

    /// Tryton goes down: calls are refused until `serve` again.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn client(&self) -> TrytonClient {
        TrytonClient::new(&self.endpoint, "admin", "admin", Duration::from_secs(10)).unwrap()
    }
}

fn decimal(s: &str) -> Value {
    json!({"__class__": "Decimal", "decimal": s})
}

async fn one_id(erp: &TrytonClient, model: &str, domain: Value) -> i64 {
    let found = erp
        .call(model, "search", vec![domain.clone()])
        .await
        .unwrap();
    let ids = found.as_array().unwrap();
    assert_eq!(ids.len(), 1, "{model} {domain}: {ids:?}");
    ids[0].as_i64().unwrap()
}

async fn create(erp: &TrytonClient, model: &str, values: Value) -> i64 {
    erp.call(model, "create", vec![json!([values])])
        .await
        .unwrap()[0]
        .as_i64()
        .unwrap()
}

async fn read(erp: &TrytonClient, model: &str, id: i64, fields: &[&str]) -> Value {
    erp.call(model, "read", vec![json!([id]), json!(fields)])
        .await
        .unwrap()[0]
        .clone()
}

async fn connect(stack: &Stack, tryton: &Tryton) -> String {
    connect_with(stack, tryton, vec![("paid", SendAs::Order)]).await
}

async fn connect_with(stack: &Stack, tryton: &Tryton, rules: Vec<(&str, SendAs)>) -> String {
    let family = |f: &str, d: Direction| FamilySettings {
        family: f.into(),
        direction: d as i32,
        schedule: String::new(),
    };
    stack
        .connector
        .clone()
        .create_connection(
            stack.admin(CreateConnectionRequest {
                idempotency_key: String::new(),
                fields: Some(ConnectionFields {
                    name: "tryton".into(),
                    adapter: AdapterKind::Tryton as i32,
                    endpoint: tryton.endpoint.clone(),
                    secret_ref: String::new(),
                    secret: "admin:admin".into(),
                    families: vec![
                        family("customers", Direction::Both),
                        family("catalogue", Direction::Pull),
                        family("orders", Direction::Both),
                    ],
                    order_statuses: rules
                        .into_iter()
                        .map(|(status, send_as)| OrderStatusRule {
                            status: status.into(),
                            send_as: send_as as i32,
                        })
                        .collect(),
                    conflict_policy: ConflictPolicy::ErpWins as i32,
                    enabled: true,
                }),
            }),
        )
        .await
        .unwrap()
        .into_inner()
        .connection
        .unwrap()
        .id
}

async fn sales(erp: &TrytonClient) -> Vec<ErpRecord> {
    erp.changed_since("order", None, 1, 100)
        .await
        .unwrap()
        .records
}

#[tokio::test]
async fn tryton_parties_products_and_sales_flow_both_ways() {
    let Some(tryton) = Tryton::start().await else {
        return;
    };
    let stack = spawn().await;
    let connection = connect(&stack, &tryton).await;
    let erp = tryton.client();

    // In Tryton: a category, a product in it (with the 20 % VAT of its
    // accounting category), a customer kept there.
    let accounting = one_id(&erp, "product.category", json!([["accounting", "=", true]])).await;
    let unit = one_id(&erp, "product.uom", json!([["symbol", "=", "u"]])).await;
    let hygiene = create(&erp, "product.category", json!({"name": "Hygiène"})).await;
    create(
        &erp,
        "product.template",
        json!({
            "name": "Gants nitrile", "code": "ENT-001", "type": "goods", "salable": true,
            "list_price": decimal("11.90"), "default_uom": unit, "sale_uom": unit,
            "account_category": accounting, "categories": [["add", [hygiene]]],
            "products": [["create", [{}]]],
        }),
    )
    .await;
    let leroy = create(
        &erp,
        "party.party",
        json!({
            "name": "Martine Leroy",
            "contact_mechanisms": [["create", [{"type": "email", "value": "martine@leroy.fr"}]]],
            "addresses": [["create", [{"street": "8 quai Perrache", "postal_code": "69002", "city": "Lyon"}]]],
        }),
    )
    .await;

    // 40 in stock, counted in Tryton.
    let gloves_id = one_id(&erp, "product.product", json!([["code", "=", "ENT-001"]])).await;
    let storage = one_id(&erp, "stock.location", json!([["code", "=", "STO"]])).await;
    let inventory = create(
        &erp,
        "stock.inventory",
        json!({"location": storage, "lines": [["create", [{"product": gloves_id, "quantity": 40}]]]}),
    )
    .await;
    erp.call("stock.inventory", "confirm", vec![json!([inventory])])
        .await
        .unwrap();

    // Tryton → shop: the catalogue, then the customer.
    let run = stack.run(&connection, "catalogue").await;
    assert_eq!((run.applied, run.failed), (2, 0), "{run:?}");
    let category = stack
        .catalogue
        .clone()
        .list_categories(stack.admin(ListCategoriesRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .categories
        .into_iter()
        .find(|c| c.name == "Hygiène")
        .expect("the Tryton category is a shop category");
    let products = stack.products().await;
    assert_eq!(products.len(), 1, "{products:?}");
    let gloves = &products[0];
    assert_eq!(gloves.sku, "ENT-001");
    assert_eq!(gloves.designation, "Gants nitrile");
    assert_eq!(gloves.price.as_ref().unwrap().amount_cents, 1190);
    assert_eq!(gloves.vat_rate_bp, 2000, "the VAT of the product's taxes");
    assert_eq!(gloves.category_id, category.id);
    assert_eq!((gloves.stock_real, gloves.stock_available), (40, 40));

    let run = stack.run(&connection, "customers").await;
    assert_eq!(run.failed, 0, "{run:?}");
    let customers = stack.customers_matching("Leroy").await;
    assert_eq!(customers.len(), 1, "{customers:?}");
    let martine = customers[0].fields.clone().unwrap();
    assert!(
        customers[0].read_only,
        "a Tryton customer is read-only in the shop"
    );
    assert_eq!(martine.external_ref, leroy.to_string());
    assert_eq!(martine.email, "martine@leroy.fr");
    assert_eq!(martine.billing_address.unwrap().city, "Lyon");

    // Her email edited on its own in Tryton (the party itself untouched):
    // the next sync takes it.
    let mechanism =
        read(&erp, "party.party", leroy, &["contact_mechanisms"]).await["contact_mechanisms"][0]
            .as_i64()
            .unwrap();
    erp.call(
        "party.contact_mechanism",
        "write",
        vec![json!([mechanism]), json!({"value": "m.leroy@leroy.fr"})],
    )
    .await
    .unwrap();
    let run = stack.run(&connection, "customers").await;
    assert_eq!((run.applied, run.failed), (1, 0), "{run:?}");
    let now = stack.customers_matching("Leroy").await;
    assert_eq!(now[0].fields.clone().unwrap().email, "m.leroy@leroy.fr");

    // Shop → Tryton: an online customer's paid order of 3 gloves at 10 % off.
    let paul = stack.customer("Durand").await;
    let placed = stack.paid_product_order(&paul, &gloves.id).await;

    let sale = testing::eventually(Duration::from_secs(30), || async {
        sales(&erp)
            .await
            .into_iter()
            .find(|s| s.fields["state"] == "processing")
    })
    .await
    .expect("the paid order is a confirmed sale in Tryton");
    assert_eq!(sales(&erp).await.len(), 1, "one sale, whatever the retries");
    assert_eq!(sale.fields["shop_id"], placed.id.as_str());
    let party = sale.fields["customer"]
        .as_str()
        .unwrap()
        .parse::<i64>()
        .unwrap();
    let p = read(&erp, "party.party", party, &["name"]).await;
    assert_eq!(
        p["name"], "Paul Durand",
        "the online customer, created in Tryton"
    );
    let customer = erp.get("customer", &party.to_string()).await.unwrap();
    assert_eq!(customer.fields["email"], "durand@example.org");
    assert_eq!(customer.fields["address"]["city"], "Lyon");
    let lines = erp
        .call(
            "sale.line",
            "search_read",
            vec![
                json!([["sale", "=", sale.id.parse::<i64>().unwrap()]]),
                0.into(),
                Value::Null,
                Value::Null,
                json!([
                    "product.code",
                    "quantity",
                    "base_price",
                    "discount_rate",
                    "unit_price"
                ]),
            ],
        )
        .await
        .unwrap();
    let lines = lines.as_array().unwrap();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert_eq!(line["product."]["code"], "ENT-001");
    assert_eq!(line["quantity"], 3.0);
    assert_eq!(line["base_price"]["decimal"], "11.90");
    assert_eq!(line["discount_rate"]["decimal"], "0.1000");
    assert_eq!(line["unit_price"]["decimal"], "10.7100");

    // Tryton ships it: the shop's order is shipped after the next sync.
    let shipment =
        read(&erp, "sale.sale", sale.id.parse().unwrap(), &["shipments"]).await["shipments"][0]
            .as_i64()
            .expect("the confirmed sale has its shipment");
    for step in ["assign_force", "pick", "pack", "do"] {
        erp.call("stock.shipment.out", step, vec![json!([shipment])])
            .await
            .unwrap_or_else(|e| panic!("shipment {step}: {e}"));
    }
    let run = stack.run(&connection, "orders").await;
    assert_eq!((run.applied, run.failed), (1, 0), "{run:?}");
    // Shipped from Tryton's stock: the next catalogue sync brings it.
    let run = stack.run(&connection, "catalogue").await;
    assert_eq!((run.applied, run.failed), (1, 0), "{run:?}");
    let now = stack.products().await;
    assert_eq!(now[0].stock_real, 37, "{now:?}");
    let order = stack
        .orders
        .clone()
        .get_order(stack.admin(GetOrderRequest {
            id: placed.id.clone(),
        }))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(order.status(), OrderStatus::Shipped);
}

#[tokio::test]
async fn a_tryton_create_retried_with_its_reference_finds_the_first_record() {
    let Some(tryton) = Tryton::start().await else {
        return;
    };
    let erp = tryton.client();
    let customer = fields(json!({
        "first_name": "Inès", "last_name": "Moreau", "email": "ines@example.org",
        "phone": "06 11 22 33 44",
        "address": {"line1": "2 rue Neuve", "line2": "", "postal_code": "13001",
                    "city": "Marseille", "country": "FR"},
        "shop_id": "0190-ines",
    }));
    let reference = "relais:test:customer:0190-ines";
    let first = erp
        .upsert("customer", None, reference, &customer)
        .await
        .unwrap();
    // The answer was lost: the retry carries the same reference.
    let again = erp
        .upsert("customer", None, reference, &customer)
        .await
        .unwrap();
    assert_eq!(first.id, again.id);
    let found = erp
        .call(
            "party.party",
            "search_count",
            vec![json!([["name", "=", "Inès Moreau"]])],
        )
        .await
        .unwrap();
    assert_eq!(found, 1, "one party in Tryton");
    assert!(erp.holds("customer", &customer, &again), "{again:?}");
    assert_eq!(again.fields["shop_id"], "0190-ines");
    assert_eq!(again.fields["phone"], "06 11 22 33 44");

    // An edit replaces the email and phone, and keeps one address.
    let mut edited = customer.clone();
    edited.insert("email".into(), "ines.moreau@example.org".into());
    let after = erp
        .upsert("customer", Some(&first.id), reference, &edited)
        .await
        .unwrap();
    assert_eq!(after.fields["email"], "ines.moreau@example.org");
    assert!(after.version >= first.version);
    let party = read(
        &erp,
        "party.party",
        first.id.parse().unwrap(),
        &["contact_mechanisms", "addresses"],
    )
    .await;
    assert_eq!(party["contact_mechanisms"].as_array().unwrap().len(), 2);
    assert_eq!(party["addresses"].as_array().unwrap().len(), 1);

    // What Tryton refuses is a refusal (dead letter), not a retry.
    let err = erp
        .upsert(
            "quote",
            None,
            "relais:test:quote:x",
            &fields(json!({"customer": "999999", "lines": []})),
        )
        .await
        .unwrap_err();
    assert!(!err.retryable(), "{err}");
}

#[tokio::test]
async fn customers_created_while_tryton_is_down_reach_it_once_when_it_is_back() {
    let Some(mut tryton) = Tryton::start().await else {
        return;
    };
    let stack = spawn_with(|cfg| {
        // Enough attempts to outlast the outage.
        cfg.push.max_attempts = 40;
    })
    .await;
    let connection = connect(&stack, &tryton).await;
    let erp = tryton.client();
    let online = |records: Vec<ErpRecord>| -> Vec<ErpRecord> {
        records
            .into_iter()
            .filter(|r| r.fields.contains_key("shop_id"))
            .collect()
    };

    tryton.stop();
    for name in ["Durand", "Petit", "Roux"] {
        stack.customer(name).await;
    }
    // The writes fail and wait their turn while Tryton is down.
    tokio::time::sleep(Duration::from_secs(3)).await;
    tryton.serve().await;

    let parties = testing::eventually(Duration::from_secs(60), || async {
        let all = online(
            erp.changed_since("customer", None, 1, 100)
                .await
                .ok()?
                .records,
        );
        (all.len() >= 3).then_some(all)
    })
    .await;
    let Some(parties) = parties else {
        let dead = stack
            .connector
            .clone()
            .list_dead_letters(stack.admin(ListDeadLettersRequest {
                connection_id: connection.clone(),
            }))
            .await
            .unwrap()
            .into_inner();
        panic!(
            "the customers never all reached Tryton: {:?}; dead letters {dead:?}",
            erp.changed_since("customer", None, 1, 100).await
        );
    };
    // Settled: nothing more comes, nothing twice.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = online(
        erp.changed_since("customer", None, 1, 100)
            .await
            .unwrap()
            .records,
    );
    assert_eq!(after.len(), 3, "{after:?}");
    let mut names: Vec<String> = parties
        .iter()
        .map(|p| p.fields["last_name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["Durand", "Petit", "Roux"]);
    let dead = stack
        .connector
        .clone()
        .list_dead_letters(stack.admin(ListDeadLettersRequest {
            connection_id: connection,
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(dead.dead_letters.is_empty(), "{dead:?}");
}

#[tokio::test]
async fn an_order_sent_as_a_quote_is_confirmed_in_tryton_when_paid_or_cancelled_with_it() {
    let Some(tryton) = Tryton::start().await else {
        return;
    };
    let stack = spawn().await;
    connect_with(
        &stack,
        &tryton,
        vec![("validated", SendAs::Quote), ("paid", SendAs::Order)],
    )
    .await;
    let erp = tryton.client();
    let soap = stack
        .catalogue
        .clone()
        .create_product(stack.admin(CreateProductRequest {
            idempotency_key: String::new(),
            fields: Some(ProductFields {
                sku: "SAV-01".into(),
                designation: "Savon doux".into(),
                price: Some(Money {
                    amount_cents: 450,
                    currency: "EUR".into(),
                }),
                vat_rate_bp: 2000,
                active: true,
                ..Default::default()
            }),
        }))
        .await
        .unwrap()
        .into_inner()
        .product
        .unwrap()
        .id;
    stack.in_stock(&soap, 20).await;
    let paul = stack.customer("Durand").await;
    let place = || async {
        stack
            .orders
            .clone()
            .place_product_order(stack.admin(PlaceProductOrderRequest {
                customer_id: paul.clone(),
                lines: vec![OrderLineRequest {
                    item_id: soap.clone(),
                    quantity: 2,
                    discount_bp: 0,
                }],
                shipping_method: "delivery".into(),
                payment_mode: PaymentMode::Card as i32,
                terms_accepted: true,
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner()
            .order
            .unwrap()
    };
    let placed = place().await;
    let state = |wanted: &'static str| {
        let erp = &erp;
        async move {
            testing::eventually(Duration::from_secs(30), || async {
                let all = sales(erp).await;
                (all.len() == 1 && all[0].fields["state"] == wanted).then_some(all)
            })
            .await
            .unwrap_or_else(|| panic!("the sale never was {wanted}"))
        }
    };
    let quoted = state("quotation").await;
    // A product Tryton does not know: a line of text at the shop's price.
    let line = &erp
        .call(
            "sale.line",
            "search_read",
            vec![
                json!([["sale", "=", quoted[0].id.parse::<i64>().unwrap()]]),
                0.into(),
                Value::Null,
                Value::Null,
                json!(["product", "description", "quantity", "unit_price"]),
            ],
        )
        .await
        .unwrap()[0];
    assert_eq!(line["product"], Value::Null);
    assert_eq!(line["description"], "Savon doux");
    assert_eq!(line["unit_price"]["decimal"], "4.5000");

    stack
        .orders
        .clone()
        .change_order_status(stack.admin(ChangeOrderStatusRequest {
            id: placed.id.clone(),
            status: OrderStatus::Confirmed as i32,
            ..Default::default()
        }))
        .await
        .unwrap();
    let confirmed = state("processing").await;
    assert_eq!(confirmed[0].id, quoted[0].id, "the same sale, confirmed");

    // Another, quoted, then cancelled in the shop: cancelled in Tryton.
    let second = place().await;
    let sale_of = |order: String| {
        let erp = &erp;
        async move {
            sales(erp)
                .await
                .into_iter()
                .find(|s| s.fields["shop_id"] == order.as_str())
        }
    };
    testing::eventually(Duration::from_secs(30), || async {
        sale_of(second.id.clone())
            .await
            .filter(|s| s.fields["state"] == "quotation")
    })
    .await
    .expect("the second order is a quotation");
    stack
        .orders
        .clone()
        .change_order_status(stack.admin(ChangeOrderStatusRequest {
            id: second.id.clone(),
            status: OrderStatus::Cancelled as i32,
            reason: "changed her mind".into(),
            ..Default::default()
        }))
        .await
        .unwrap();
    testing::eventually(Duration::from_secs(30), || async {
        sale_of(second.id.clone())
            .await
            .filter(|s| s.fields["state"] == "cancelled")
    })
    .await
    .expect("the quotation is cancelled in Tryton");
}
