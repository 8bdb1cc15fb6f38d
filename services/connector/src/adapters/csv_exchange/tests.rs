//! The exchange end to end on a temporary folder.

#![allow(clippy::unwrap_used)]

use std::time::SystemTime;

use serde_json::json;

use super::*;

fn exchange() -> (tempfile::TempDir, CsvExchange) {
    let dir = tempfile::tempdir().unwrap();
    let x = CsvExchange::new(dir.path()).unwrap();
    (dir, x)
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap()
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_path(path)
        .unwrap();
    let header = r.headers().unwrap().iter().map(str::to_owned).collect();
    let rows = r
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

fn drop_inbound(root: &Path, name: &str, content: &[u8], modified: DateTime<Utc>) {
    let path = root.join(INBOUND).join(name);
    fs::write(&path, content).unwrap();
    let file = fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(SystemTime::from(modified)).unwrap();
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

#[tokio::test]
async fn writes_are_whole_files_one_row_per_line() {
    let (dir, x) = exchange();
    let out = dir.path().join(OUTBOUND);
    let customer = object(json!({
        "first_name": "Jeanne", "last_name": "Martin", "phone": "",
        "address": {"line1": "3 rue Haute", "line2": "", "postal_code": "69001",
                    "city": "Lyon", "country": "FR"},
        "read_only": true, "shop_id": "u-1",
    }));
    let c = x
        .upsert("customer", None, "ref-1", &customer)
        .await
        .unwrap();
    assert!(c.id.starts_with('C') && c.id.len() == 13, "{}", c.id);
    assert_eq!(c.fields, customer);
    let files = names(&out);
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].starts_with("customer-") && files[0].ends_with(&format!("-{}.csv", c.id)));
    let (header, rows) = read_csv(&out.join(&files[0]));
    let expected = "action id address.city address.country address.line1 address.line2 \
                    address.postal_code first_name last_name phone read_only shop_id";
    assert_eq!(header, expected.split(' ').collect::<Vec<_>>());
    let row = [
        "upsert",
        c.id.as_str(),
        "Lyon",
        "FR",
        "3 rue Haute",
        "",
        "69001",
        "Jeanne",
        "Martin",
        "",
        "1",
        "u-1",
    ];
    assert_eq!(rows, vec![row.to_vec()]);

    let quote = object(json!({
        "customer": c.id, "status": "pending", "total_incl_vat_cents": 3600,
        "lines": [
            {"reference": "R1", "label": "Ménage", "quantity": 2, "unit_price_cents": 1000},
            {"reference": "R2", "label": "Repassage; 1h", "quantity": 1, "unit_price_cents": 1600},
        ],
    }));
    x.upsert("quote", Some("Q-12"), "ref-2", &quote)
        .await
        .unwrap();
    let files = names(&out);
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files.iter().all(|f| !f.starts_with('.')));
    let quote_file = files.iter().find(|f| f.starts_with("quote-")).unwrap();
    let (header, rows) = read_csv(&out.join(quote_file));
    let expected = "action id customer line.label line.quantity line.reference \
                    line.unit_price_cents status total_incl_vat_cents";
    assert_eq!(header, expected.split(' ').collect::<Vec<_>>());
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0][..3], ["upsert", "Q-12", c.id.as_str()]);
    assert_eq!(rows[1][..3], ["upsert", "Q-12", c.id.as_str()]);
    assert_eq!(
        rows[0][3..],
        ["Ménage", "2", "R1", "1000", "pending", "3600"]
    );
    assert_eq!(
        rows[1][3..],
        ["Repassage; 1h", "1", "R2", "1600", "pending", "3600"]
    );

    let worker = object(json!({"active": false, "tariffs": ["T1", "T2"]}));
    x.upsert("employee", Some("E1"), "ref-3", &worker)
        .await
        .unwrap();
    let again = x
        .upsert("customer", None, "ref-1", &customer)
        .await
        .unwrap();
    assert_eq!(again.id, c.id, "a retried creation writes the same id");
    assert!(again.version > c.version);
    x.remove("customer", &c.id).await.unwrap();
    let files = names(&out);
    assert_eq!(files.len(), 5, "{files:?}");
    let (_, rows) = read_csv(&out.join(files.iter().find(|f| f.starts_with("employee-")).unwrap()));
    assert_eq!(rows, vec![vec!["upsert", "E1", "0", "T1|T2"]]);
    let last = files
        .iter()
        .filter(|f| f.starts_with("customer-"))
        .max()
        .unwrap();
    assert_eq!(
        read_csv(&out.join(last)),
        (
            vec!["action".into(), "id".into()],
            vec![vec!["delete".into(), c.id.clone()]]
        )
    );
    assert!(!x.reads_back());
    assert!(matches!(
        x.get("customer", &c.id).await,
        Err(ErpError::Refused(_))
    ));
}

#[tokio::test]
async fn unsafe_objects_and_ids_are_refused() {
    let (dir, x) = exchange();
    let f = Map::new();
    for (object, id) in [
        ("../customer", Some("C1")),
        ("Customer", Some("C1")),
        ("", Some("C1")),
        ("customer", Some("C\n1")),
        ("customer", Some("  ")),
        ("customer", Some("")),
        ("customer", None),
    ] {
        let written = x.upsert(object, id, "", &f).await;
        assert!(
            matches!(written, Err(ErpError::Refused(_))),
            "{object} {id:?}"
        );
    }
    assert!(matches!(
        x.remove("customer", "a\tb").await,
        Err(ErpError::Refused(_))
    ));
    assert!(names(&dir.path().join(OUTBOUND)).is_empty());
    // An ERP's code that a file name cannot hold: safe in the name, as
    // is in the file.
    x.upsert("customer", Some("../DUPONT J"), "", &f)
        .await
        .unwrap();
    let written = names(&dir.path().join(OUTBOUND));
    assert_eq!(written.len(), 1);
    assert!(written[0].ends_with("-___DUPONT_J.csv"), "{written:?}");
    let content = fs::read_to_string(dir.path().join(OUTBOUND).join(&written[0])).unwrap();
    assert!(content.contains("../DUPONT J"), "{content}");
}

#[tokio::test]
async fn inbound_rows_are_typed_and_bad_lines_rejected() {
    let (dir, x) = exchange();
    let content = "\u{feff}id;sku;designation;price_cents;active;images;vat_rate_bp\r\n\
        A1;SKU1;Vis;1250;1;https://x/1.jpg|https://x/2.jpg;2000\r\n\
        A2;SKU2;Clou;12,5;oui;;2000\r\n\
        A3;SKU3;Écrou;300;Non;;550\r\n\
        ;SKU4;Sans code;100;1;;2000\r\n\
        A5;SKU5;Rondelle;;true;;\r\n";
    drop_inbound(
        dir.path(),
        "article.csv",
        content.as_bytes(),
        at(1_800_000_000),
    );
    let page = x.changed_since("article", None, 1, 200).await.unwrap();
    let ids: Vec<&str> = page.records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["A1", "A3", "A5"]);
    assert_eq!((page.total, page.next), (3, None));
    let a1 = &page.records[0];
    assert_eq!(a1.fields["price_cents"], json!(1250));
    assert_eq!(a1.fields["active"], json!(true));
    assert_eq!(
        a1.fields["images"],
        json!(["https://x/1.jpg", "https://x/2.jpg"])
    );
    assert_eq!(
        (a1.updated_at, a1.version),
        (at(1_800_000_000), 1_800_000_000_000_000)
    );
    assert_eq!(page.records[1].fields["active"], json!(false));
    assert_eq!(page.records[1].text("designation"), "Écrou");
    let a5 = &page.records[2].fields;
    assert!(!a5.contains_key("price_cents") && !a5.contains_key("images"));
    assert_eq!(
        page.rejected,
        [
            "article.csv: line 3: column price_cents: not a whole number: \"12,5\"",
            "article.csv: line 5: id is empty",
        ]
    );
    let (header, rows) = read_csv(&dir.path().join(REJECTED).join("article.csv"));
    assert_eq!(header.last().map(String::as_str), Some("reason"));
    assert_eq!(header.len(), 8);
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0][0].as_str(), rows[1][1].as_str()), ("A2", "SKU4"));
    assert_eq!(rows[1][7], "line 5: id is empty");

    let again = x.changed_since("article", None, 1, 200).await.unwrap();
    assert_eq!(again.records, page.records);
    assert!(again.rejected.is_empty(), "reported once, when parsed");
}

#[tokio::test]
async fn malformed_rows_are_rejected_with_their_line() {
    let (dir, x) = exchange();
    let content = b"id;name;active\nE1;L\xe9a;1\nE2;Max;1;extra\nE3;Zoe;maybe\nE4;Ana;0\n";
    drop_inbound(dir.path(), "employee-1.csv", content, at(1_800_000_000));
    let page = x.changed_since("employee", None, 1, 10).await.unwrap();
    assert_eq!(page.records.len(), 1);
    assert_eq!(
        page.rejected,
        [
            "employee-1.csv: line 2: column name: not valid UTF-8",
            "employee-1.csv: line 3: 4 columns where the header has 3",
            "employee-1.csv: line 4: column active: not 1/0, true/false, oui/non or yes/no: \"maybe\"",
        ]
    );
}

#[tokio::test]
async fn pages_follow_file_times() {
    let (dir, x) = exchange();
    let mut content = String::from("id;last_name\n");
    for i in 0..450 {
        content.push_str(&format!("C{i:04};Nom {i}\n"));
    }
    drop_inbound(
        dir.path(),
        "customer-b.csv",
        content.as_bytes(),
        at(1_800_000_000),
    );
    let mut sizes = Vec::new();
    let mut page = Some(1);
    while let Some(p) = page {
        let changes = x.changed_since("customer", None, p, 200).await.unwrap();
        assert_eq!(changes.total, 450);
        if p == 3 {
            assert_eq!(changes.records[49].id, "C0449");
        }
        sizes.push(changes.records.len());
        page = changes.next;
    }
    assert_eq!(sizes, [200, 200, 50]);

    // A later file, named first: read after, and alone after the first.
    drop_inbound(
        dir.path(),
        "customer-a.csv",
        b"id;last_name\nC9;Neuf\n",
        at(1_800_000_060),
    );
    let all = x.changed_since("customer", None, 3, 200).await.unwrap();
    assert_eq!((all.total, all.records.len()), (451, 51));
    assert_eq!(all.records.last().map(|r| r.id.as_str()), Some("C9"));
    // The folder is the queue: `since` does not hide a file.
    let again = x
        .changed_since("customer", Some(at(1_800_000_030)), 1, 200)
        .await
        .unwrap();
    assert_eq!(again.total, 451);
}

#[tokio::test]
async fn dotted_columns_nest_and_lines_group() {
    let (dir, x) = exchange();
    let customers = "id;first_name;phone;address.line1;address.line2;address.postal_code;\
        address.city;delivery_address.line1;delivery_address.city;read_only\n\
        C1;Jeanne;;3 rue Haute;;69001;Lyon;;;0\n\
        C2;Paul;0601;;;;;;;1\n\
        C2;Paul;0602;;;;;;;1\n";
    drop_inbound(
        dir.path(),
        "customer.csv",
        customers.as_bytes(),
        at(1_800_000_000),
    );
    let page = x.changed_since("customer", None, 1, 10).await.unwrap();
    assert!(page.rejected.is_empty(), "{:?}", page.rejected);
    assert_eq!(page.records.len(), 2);
    let c1 = &page.records[0].fields;
    assert_eq!(
        c1["address"],
        json!({"line1": "3 rue Haute", "line2": "", "postal_code": "69001", "city": "Lyon"})
    );
    assert!(
        !c1.contains_key("delivery_address"),
        "an empty address is none"
    );
    assert_eq!(
        (&c1["phone"], &c1["read_only"]),
        (&json!(""), &json!(false))
    );
    assert_eq!(page.records[1].text("phone"), "0602", "the last row wins");

    let orders = "id;status;total_incl_vat_cents;line.line_no;line.reference;line.quantity\n\
        O1;preparing;3600;1;R1;2\n\
        O1;preparing;3600;2;R2;1\n\
        O2;shipped;500;1;R3;1\n\
        O3;pending;100;1;R4;x\n\
        O3;pending;100;2;R5;1\n\
        O4;pending;0;;;\n";
    drop_inbound(
        dir.path(),
        "order.csv",
        orders.as_bytes(),
        at(1_800_000_000),
    );
    let page = x.changed_since("order", None, 1, 10).await.unwrap();
    let ids: Vec<&str> = page.records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["O1", "O2", "O4"]);
    assert_eq!(
        page.records[0].fields["lines"],
        json!([
            {"line_no": 1, "reference": "R1", "quantity": 2},
            {"line_no": 2, "reference": "R2", "quantity": 1},
        ])
    );
    assert_eq!(page.records[0].fields["total_incl_vat_cents"], json!(3600));
    assert_eq!(
        page.records[1].fields["lines"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(page.records[2].fields["lines"], json!([]));
    assert_eq!(
        page.rejected,
        [
            "order.csv: line 5: column line.quantity: not a whole number: \"x\"",
            "order.csv: line 6: record O3 is not read: its line 5 was rejected",
        ]
    );
}

#[tokio::test]
async fn a_link_in_inbound_is_not_read() {
    let (dir, x) = exchange();
    let elsewhere = tempfile::tempdir().unwrap();
    let secret = elsewhere.path().join("customer.csv");
    fs::write(&secret, "id;last_name\nC1;Autre locataire\n").unwrap();
    std::os::unix::fs::symlink(&secret, dir.path().join(INBOUND).join("customer.csv")).unwrap();
    let page = x.changed_since("customer", None, 1, 10).await.unwrap();
    assert_eq!(page.total, 0, "{:?}", page.records);
}

#[tokio::test]
async fn acknowledged_files_are_archived_without_overwriting() {
    let (dir, x) = exchange();
    let archive = dir.path().join(ARCHIVE);
    drop_inbound(dir.path(), "customer-a.csv", b"id\nC1\n", at(1_800_000_000));
    drop_inbound(dir.path(), "customer-b.csv", b"id\nC2\n", at(1_800_000_120));
    drop_inbound(
        dir.path(),
        "customer_family.csv",
        b"id\nF1\n",
        at(1_800_000_000),
    );
    assert_eq!(
        x.changed_since("customer", None, 1, 10)
            .await
            .unwrap()
            .total,
        2
    );
    x.acknowledge("customer", at(1_800_000_060)).await.unwrap();
    assert_eq!(names(&archive), ["customer-a.csv"]);
    assert_eq!(
        names(&dir.path().join(INBOUND)),
        ["customer-b.csv", "customer_family.csv"]
    );
    let left = x.changed_since("customer", None, 1, 10).await.unwrap();
    assert_eq!(
        left.records
            .iter()
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>(),
        ["C2"]
    );

    drop_inbound(dir.path(), "customer-a.csv", b"id\nC3\n", at(1_800_000_010));
    // Dropped after the last read: not archived unread.
    x.acknowledge("customer", at(1_800_000_060)).await.unwrap();
    assert_eq!(names(&archive), ["customer-a.csv"]);
    x.changed_since("customer", None, 1, 10).await.unwrap();
    x.acknowledge("customer", at(1_800_000_060)).await.unwrap();
    let archived = names(&archive);
    assert_eq!(archived.len(), 2, "{archived:?}");
    assert_eq!(
        fs::read(archive.join("customer-a.csv")).unwrap(),
        b"id\nC1\n"
    );
    let second = archived.iter().find(|n| *n != "customer-a.csv").unwrap();
    assert!(second.starts_with("customer-a-") && second.ends_with(".csv"));
    assert_eq!(fs::read(archive.join(second)).unwrap(), b"id\nC3\n");
}
