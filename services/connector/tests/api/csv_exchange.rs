//! The connector with a CSV file exchange (EBP, Sage style): what the shop
//! sends is one complete file per write in `outbound/`; what the ERP drops
//! in `inbound/` reaches the shop on a sync, its bad lines reported (run
//! errors and `rejected/`), the file archived once every good line is in.

use std::{path::Path, time::Duration};

use relais_platform::testing;
use relais_proto::{
    catalogue::ListCategoriesRequest,
    connector::{
        AdapterKind, ConflictPolicy, ConnectionFields, CreateConnectionRequest, Direction,
        FamilySettings, OrderStatusRule, RunStatus, SendAs,
    },
    orders::{GetOrderRequest, OrderStatus},
};
use tonic::Code;

use crate::stack::{Stack, spawn, spawn_with};

fn connection_fields(folder: &Path, families: Vec<FamilySettings>) -> ConnectionFields {
    ConnectionFields {
        name: "ebp".into(),
        adapter: AdapterKind::Csv as i32,
        endpoint: format!("file://{}", folder.display()),
        secret_ref: String::new(),
        secret: String::new(),
        families,
        order_statuses: vec![OrderStatusRule {
            status: "paid".into(),
            send_as: SendAs::Order as i32,
        }],
        conflict_policy: ConflictPolicy::ErpWins as i32,
        enabled: true,
    }
}

fn family(f: &str, d: Direction) -> FamilySettings {
    FamilySettings {
        family: f.into(),
        direction: d as i32,
        schedule: String::new(),
    }
}

async fn connect(stack: &Stack, folder: &Path) -> String {
    stack
        .connector
        .clone()
        .create_connection(stack.admin(CreateConnectionRequest {
            idempotency_key: String::new(),
            fields: Some(connection_fields(
                folder,
                vec![
                    family("customers", Direction::Both),
                    family("catalogue", Direction::Pull),
                    family("orders", Direction::Both),
                ],
            )),
        }))
        .await
        .unwrap()
        .into_inner()
        .connection
        .unwrap()
        .id
}

/// The rows of every `outbound/<object>-*.csv`, as (header, rows) per file.
fn outbound(folder: &Path, object: &str) -> Vec<(Vec<String>, Vec<Vec<String>>)> {
    let mut files: Vec<_> = std::fs::read_dir(folder.join("outbound"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{object}-")) && n.ends_with(".csv"))
        })
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            let mut r = csv::ReaderBuilder::new()
                .delimiter(b';')
                .from_path(p)
                .unwrap();
            let header = r.headers().unwrap().iter().map(str::to_owned).collect();
            let rows = r
                .records()
                .map(|row| row.unwrap().iter().map(str::to_owned).collect())
                .collect();
            (header, rows)
        })
        .collect()
}

fn column<'a>(header: &[String], row: &'a [String], name: &str) -> &'a str {
    let i = header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name} in {header:?}"));
    &row[i]
}

/// Drops a file in `inbound/` as an ERP export would: written aside, then
/// moved in whole.
fn drop_inbound(folder: &Path, name: &str, content: &str) {
    let aside = folder.join(format!(".{name}.part"));
    std::fs::write(&aside, content).unwrap();
    std::fs::rename(&aside, folder.join("inbound").join(name)).unwrap();
}

fn names_in(folder: &Path, sub: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(folder.join(sub))
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_csv_exchange_carries_customers_catalogue_and_orders_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    let stack = spawn_with(move |cfg| cfg.exchange_root = root).await;
    // The tenant's own exchange folder.
    let folder = &dir.path().join(stack.tenant.to_string()).join("ebp");
    let connection = connect(&stack, folder).await;
    for sub in ["outbound", "inbound", "archive", "rejected"] {
        assert!(
            folder.join(sub).is_dir(),
            "{sub}/ is there for the ERP at once"
        );
    }

    // ERP → shop: families, articles (two bad lines), customers.
    drop_inbound(
        folder,
        "family.csv",
        "id;code;parent_code;name\nF1;ENTRETIEN;;Entretien\nF2;HYGIENE;ENTRETIEN;Hygiène\n",
    );
    drop_inbound(
        folder,
        "article.csv",
        "id;sku;designation;family_code;price_cents;vat_rate_bp;active;stock_real\n\
         A1;HYG-001;Gants nitrile;HYGIENE;1190;2000;1;40\n\
         A2;HYG-002;Savon;HYGIENE;12,5;2000;1;10\n\
         ;HYG-003;Sans code;HYGIENE;300;2000;1;5\n\
         A4;HYG-004;Lingettes;HYGIENE;450;2000;oui;12\n",
    );
    let run = stack.run(&connection, "catalogue").await;
    assert_eq!(run.status(), RunStatus::Partial, "{run:?}");
    assert_eq!((run.applied, run.failed), (4, 2), "{run:?}");
    assert_eq!(
        (run.done, run.total),
        (6, 6),
        "the run counts lines, bad ones included: {run:?}"
    );
    assert!(
        run.errors
            .iter()
            .any(|e| e.contains("line 3") && e.contains("price_cents")),
        "the bad price, with its line: {:?}",
        run.errors
    );
    assert!(
        run.errors
            .iter()
            .any(|e| e.contains("line 4") && e.contains("id")),
        "the line without its code: {:?}",
        run.errors
    );
    let rejected = std::fs::read_to_string(folder.join("rejected/article.csv")).unwrap();
    assert_eq!(
        rejected.lines().count(),
        3,
        "header and two lines: {rejected}"
    );
    assert!(rejected.lines().next().unwrap().ends_with(";reason"));
    assert_eq!(
        names_in(folder, "archive"),
        ["article.csv", "family.csv"],
        "applied files are archived"
    );
    assert!(names_in(folder, "inbound").is_empty());
    let products = stack.products().await;
    let mut skus: Vec<&str> = products.iter().map(|p| p.sku.as_str()).collect();
    skus.sort();
    assert_eq!(skus, ["HYG-001", "HYG-004"]);
    let gloves = products.iter().find(|p| p.sku == "HYG-001").unwrap();
    assert_eq!(gloves.price.as_ref().unwrap().amount_cents, 1190);
    assert_eq!(gloves.stock_real, 40);
    let hygiene = stack
        .catalogue
        .clone()
        .list_categories(stack.admin(ListCategoriesRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .categories
        .into_iter()
        .find(|c| c.code == "HYGIENE")
        .unwrap();
    assert_eq!(gloves.category_id, hygiene.id);

    // The next run finds nothing new: archived files are not read again.
    let again = stack.run(&connection, "catalogue").await;
    assert_eq!(
        (again.total, again.applied, again.failed),
        (0, 0, 0),
        "{again:?}"
    );

    drop_inbound(
        folder,
        "customer-20261201.csv",
        "id;first_name;last_name;email;address.line1;address.postal_code;address.city;price_group\n\
         411LER;Martine;Leroy;martine@leroy.fr;8 quai Perrache;69002;Lyon;RESIDENCE\n",
    );
    let run = stack.run(&connection, "customers").await;
    assert_eq!((run.applied, run.failed), (1, 0), "{run:?}");
    let martine = stack.customers_matching("Leroy").await;
    assert_eq!(martine.len(), 1);
    let f = martine[0].fields.clone().unwrap();
    assert_eq!(
        (f.external_ref.as_str(), f.customer_family.as_str()),
        ("411LER", "RESIDENCE")
    );
    assert_eq!(f.billing_address.unwrap().city, "Lyon");

    // A file of nothing but bad lines: reported, filed, and archived too.
    drop_inbound(
        folder,
        "customer-20261202.csv",
        "id;first_name;last_name;read_only\n411X;Jean;Bon;peut-être\n",
    );
    let run = stack.run(&connection, "customers").await;
    assert_eq!((run.applied, run.failed), (0, 1), "{run:?}");
    assert!(folder.join("rejected/customer-20261202.csv").is_file());
    assert!(
        names_in(folder, "inbound").is_empty(),
        "{:?}",
        names_in(folder, "inbound")
    );

    // Shop → ERP: an online customer and its paid order, one file each.
    stack.in_stock(&gloves.id, 40).await;
    let paul = stack.customer("Durand").await;
    let placed = stack.paid_product_order(&paul, &gloves.id).await;
    let order_files = testing::eventually(Duration::from_secs(30), || async {
        let files = outbound(folder, "order");
        (!files.is_empty()).then_some(files)
    })
    .await
    .expect("the paid order is written to outbound/");
    let customer_files = outbound(folder, "customer");
    assert_eq!(customer_files.len(), 1, "one file for the online customer");
    let (h, rows) = &customer_files[0];
    assert_eq!(rows.len(), 1);
    assert_eq!(column(h, &rows[0], "last_name"), "Durand");
    assert_eq!(column(h, &rows[0], "address.city"), "Lyon");
    assert_eq!(column(h, &rows[0], "shop_id"), paul);
    let customer_code = column(h, &rows[0], "id").to_owned();
    assert!(
        names_in(folder, "outbound")
            .iter()
            .all(|n| !n.ends_with(".tmp")),
        "no half-written file is left"
    );

    let (h, rows) = order_files.last().unwrap();
    assert_eq!(rows.len(), 1, "one row per line");
    let row = &rows[0];
    assert_eq!(column(h, row, "customer"), customer_code);
    assert_eq!(column(h, row, "shop_id"), placed.id);
    assert_eq!(column(h, row, "line.reference"), "HYG-001");
    assert_eq!(column(h, row, "line.quantity"), "3");
    assert_eq!(column(h, row, "line.discount_bp"), "1000");
    assert_eq!(column(h, row, "line.unit_price_cents"), "1190");
    let order_code = column(h, row, "id").to_owned();

    // The ERP exports the order shipped: the shop follows.
    drop_inbound(
        folder,
        "order.csv",
        &format!("id;status;picking_list;delivery_note\n{order_code};shipped;BP-77;BL-77\n"),
    );
    let run = stack.run(&connection, "orders").await;
    assert_eq!((run.applied, run.failed), (1, 0), "{run:?}");
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
async fn a_csv_or_tryton_connection_takes_only_what_its_erp_holds() {
    let stack = spawn().await;
    let mut connector = stack.connector.clone();
    let err = connector
        .create_connection(stack.admin(CreateConnectionRequest {
            idempotency_key: String::new(),
            fields: Some(ConnectionFields {
                endpoint: "file://relative/folder".into(),
                ..connection_fields(
                    Path::new("/unused"),
                    vec![
                        family("customers", Direction::Both),
                        family("workers", Direction::Pull),
                    ],
                )
            }),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("fields.endpoint"),
        "{}",
        err.message()
    );
    assert!(
        err.message().contains("fields.families[1].direction")
            && err.message().contains("does not carry workers"),
        "{}",
        err.message()
    );
    let err = connector
        .create_connection(stack.admin(CreateConnectionRequest {
            idempotency_key: String::new(),
            fields: Some(ConnectionFields {
                name: "tryton".into(),
                adapter: AdapterKind::Tryton as i32,
                endpoint: "http://127.0.0.1:8000".into(),
                secret_ref: String::new(),
                secret: String::new(),
                families: vec![family("planning", Direction::Both)],
                order_statuses: vec![],
                conflict_policy: ConflictPolicy::ErpWins as i32,
                enabled: true,
            }),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    for field in [
        "fields.endpoint",
        "fields.secret",
        "fields.families[0].direction",
    ] {
        assert!(err.message().contains(field), "{field}: {}", err.message());
    }
    // Another tenant's folder (or anything outside this tenant's) is not
    // this tenant's to read.
    let elsewhere = std::env::temp_dir()
        .join("relais-exchange")
        .join(uuid::Uuid::now_v7().to_string())
        .join("ebp");
    let err = connector
        .create_connection(stack.admin(CreateConnectionRequest {
            idempotency_key: String::new(),
            fields: Some(connection_fields(
                &elsewhere,
                vec![family("customers", Direction::Both)],
            )),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("fields.endpoint") && err.message().contains("tenant"),
        "{}",
        err.message()
    );
    let listed = connector
        .list_connections(stack.admin(Default::default()))
        .await
        .unwrap()
        .into_inner()
        .connections;
    assert!(listed.is_empty(), "nothing was created: {listed:?}");
}
