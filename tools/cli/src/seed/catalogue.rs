//! The demo tenant's catalogue, seeded through the catalogue's bulk import
//! (keyed by reference, so seeding twice changes nothing but versions).

use anyhow::Context;
use relais_proto::{
    catalogue::{
        BulkCategory, BulkPrice, BulkProduct, BulkService, BulkStock, BulkUpsertRequest,
        CreateHourPackRequest, ListHourPacksRequest, ListServicesRequest, ProductFields,
        ServiceFields, bulk_upsert_request::Item, catalogue_service_client::CatalogueServiceClient,
    },
    types::Money,
};

use crate::{
    client::{authed, connect},
    demo::TENANT,
};

fn eur(cents: i64) -> Option<Money> {
    Some(Money {
        amount_cents: cents,
        currency: "EUR".into(),
    })
}

fn category(code: &str, parent: &str, name: &str, position: i32) -> Item {
    Item::Category(BulkCategory {
        code: code.into(),
        parent_code: parent.into(),
        name: name.into(),
        position,
        active: true,
    })
}

fn service(code: &str, name: &str, cents: i64, vat: i32, category: &str) -> Item {
    Item::Service(BulkService {
        fields: Some(ServiceFields {
            code: code.into(),
            name: name.into(),
            description: String::new(),
            category_id: String::new(),
            hourly_price: eur(cents),
            vat_rate_bp: vat,
            tax_credit_eligible: true,
            active: true,
        }),
        category_code: category.into(),
    })
}

fn product(
    sku: &str,
    designation: &str,
    cents: i64,
    unit: &str,
    grams: i64,
    category: &str,
) -> Item {
    Item::Product(BulkProduct {
        fields: Some(ProductFields {
            sku: sku.into(),
            designation: designation.into(),
            description: String::new(),
            category_id: String::new(),
            price: eur(cents),
            vat_rate_bp: 2000,
            sales_unit: unit.into(),
            weight_grams: grams,
            image_urls: vec![format!("https://images.relais.example/{sku}.jpg")],
            active: true,
        }),
        category_code: category.into(),
    })
}

fn items() -> Vec<Item> {
    vec![
        category("SAP", "", "Services à la personne", 1),
        category("SAP-MAISON", "SAP", "Entretien de la maison", 1),
        category("SAP-FAMILLE", "SAP", "Garde d'enfants", 2),
        category("SAP-AIDE", "SAP", "Aide aux personnes âgées", 3),
        category("BOUT", "", "Boutique résidents", 2),
        category("BOUT-HYG", "BOUT", "Hygiène et soins", 1),
        category("BOUT-ENT", "BOUT", "Produits d'entretien", 2),
        category("BOUT-CONF", "BOUT", "Confort et loisirs", 3),
        service("MENAGE", "Ménage à domicile", 2600, 1000, "SAP-MAISON"),
        service("REPASSAGE", "Repassage", 2600, 1000, "SAP-MAISON"),
        service("VITRES", "Nettoyage des vitres", 2900, 1000, "SAP-MAISON"),
        service(
            "GARDE-ENF",
            "Garde d'enfants à domicile (+3 ans)",
            2400,
            1000,
            "SAP-FAMILLE",
        ),
        service(
            "SORTIE-ECOLE",
            "Sortie d'école et aide aux devoirs",
            2500,
            1000,
            "SAP-FAMILLE",
        ),
        service(
            "AIDE-DOM",
            "Aide à domicile personnes âgées",
            2800,
            550,
            "SAP-AIDE",
        ),
        service("COURSES", "Accompagnement courses", 2700, 550, "SAP-AIDE"),
        product(
            "HYG-001",
            "Savon surgras doux 250 ml",
            390,
            "flacon",
            280,
            "BOUT-HYG",
        ),
        product(
            "HYG-002",
            "Crème hydratante peaux sensibles 200 ml",
            890,
            "tube",
            230,
            "BOUT-HYG",
        ),
        product(
            "HYG-003",
            "Protections anatomiques taille M (x28)",
            1490,
            "paquet",
            900,
            "BOUT-HYG",
        ),
        product(
            "HYG-004",
            "Brosse à dents souple",
            250,
            "unité",
            20,
            "BOUT-HYG",
        ),
        product(
            "ENT-001",
            "Gants nitrile non poudrés (x100)",
            1190,
            "boîte",
            600,
            "BOUT-ENT",
        ),
        product(
            "ENT-002",
            "Lingettes désinfectantes (x80)",
            590,
            "paquet",
            450,
            "BOUT-ENT",
        ),
        product(
            "CONF-001",
            "Plaid polaire 130 x 170 cm",
            2490,
            "unité",
            700,
            "BOUT-CONF",
        ),
        product(
            "CONF-002",
            "Mots fléchés grands caractères",
            690,
            "livre",
            300,
            "BOUT-CONF",
        ),
        product(
            "CONF-003",
            "Chaussons fermés antidérapants",
            1990,
            "paire",
            350,
            "BOUT-CONF",
        ),
        Item::Stock(BulkStock {
            sku: "HYG-001".into(),
            real: 120,
            available: 110,
        }),
        Item::Stock(BulkStock {
            sku: "HYG-003".into(),
            real: 40,
            available: 32,
        }),
        Item::Stock(BulkStock {
            sku: "ENT-001".into(),
            real: 60,
            available: 60,
        }),
        Item::Stock(BulkStock {
            sku: "CONF-001".into(),
            real: 8,
            available: 5,
        }),
        Item::Price(BulkPrice {
            customer_family: "RESIDENCE".into(),
            item_reference: "HYG-003".into(),
            price: eur(1290),
        }),
        Item::Price(BulkPrice {
            customer_family: "RESIDENCE".into(),
            item_reference: "ENT-001".into(),
            price: eur(990),
        }),
    ]
}

pub async fn seed(addr: &str, token: &str) -> anyhow::Result<()> {
    let mut client = CatalogueServiceClient::new(connect(addr).await?);
    let requests: Vec<BulkUpsertRequest> = items()
        .into_iter()
        .enumerate()
        .map(|(i, item)| BulkUpsertRequest {
            correlation_id: i.to_string(),
            item: Some(item),
        })
        .collect();
    let total = requests.len();
    let mut answers = client
        .bulk_upsert(authed(token, futures::stream::iter(requests))?)
        .await
        .context("demo seed")?
        .into_inner();
    let mut failed = 0;
    while let Some(a) = answers.message().await? {
        if !a.error.is_empty() {
            failed += 1;
            eprintln!("seed item {}: {} ({})", a.correlation_id, a.error, a.field);
        }
    }
    anyhow::ensure!(failed == 0, "{failed} of {total} demo items were refused");

    // Packs have no natural key: create them once.
    let packs = client
        .list_hour_packs(authed(
            token,
            ListHourPacksRequest {
                include_inactive: true,
            },
        )?)
        .await?
        .into_inner();
    if packs.hour_packs.is_empty() {
        let services = client
            .list_services(authed(
                token,
                ListServicesRequest {
                    query: String::new(),
                    ..Default::default()
                },
            )?)
            .await?
            .into_inner()
            .services;
        let ids = |codes: &[&str]| {
            services
                .iter()
                .filter(|s| codes.contains(&s.code.as_str()))
                .map(|s| s.id.clone())
                .collect::<Vec<_>>()
        };
        for (key, name, hours, cents, eligible) in [
            (
                "demo-pack-10",
                "Pack 10 h entretien",
                10,
                23_900,
                ids(&["MENAGE", "REPASSAGE", "VITRES"]),
            ),
            (
                "demo-pack-20",
                "Pack 20 h entretien",
                20,
                45_900,
                ids(&["MENAGE", "REPASSAGE", "VITRES"]),
            ),
            (
                "demo-pack-aide",
                "Pack 15 h aide à domicile",
                15,
                39_900,
                ids(&["AIDE-DOM", "COURSES"]),
            ),
        ] {
            client
                .create_hour_pack(authed(
                    token,
                    CreateHourPackRequest {
                        idempotency_key: key.into(),
                        name: name.into(),
                        duration_minutes: hours * 60,
                        price: eur(cents),
                        eligible_service_ids: eligible,
                        vat_rate_bp: None,
                        active_on_creation: true,
                    },
                )?)
                .await
                .with_context(|| format!("demo pack {name}"))?;
        }
    }
    println!("demo tenant {TENANT}: {total} catalogue items seeded");
    Ok(())
}
