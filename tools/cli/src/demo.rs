//! The demo tenant: a home-services company that also supplies care
//! residences. Seeded through the catalogue's bulk import (keyed by
//! reference, so seeding twice changes nothing but versions).

use anyhow::Context;
use relais_proto::{
    catalogue::{
        BulkCategory, BulkPrice, BulkProduct, BulkService, BulkStock, BulkUpsertRequest,
        CreateHourPackRequest, ListHourPacksRequest, ListServicesRequest, ProductFields,
        ServiceFields, bulk_upsert_request::Item, catalogue_service_client::CatalogueServiceClient,
    },
    types::Money,
};
use uuid::Uuid;

use crate::{authed, connect};

/// The demo tenant's id.
pub const TENANT: Uuid = Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0001);

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

/// The staff member of the demo residence (`relais token --role staff --sub demo-staff`).
pub const STAFF: &str = "demo-staff";

/// The demo ids `relais dev` prints.
pub struct DemoOrders {
    pub residence: String,
    /// Jeanne Martin, resident of the residence (no e-mail of her own).
    pub resident: String,
    /// Paul Durand, an online customer with an e-mail and an address.
    pub customer: String,
}

/// A residence with one staff member and one resident, and an online
/// customer (idempotent).
pub async fn seed_orders(addr: &str, token: &str) -> anyhow::Result<DemoOrders> {
    use relais_proto::orders::{
        AddResidenceStaffRequest, Address, CreateCustomerRequest, CreateResidenceRequest,
        CustomerFields, orders_service_client::OrdersServiceClient,
    };
    let mut client = OrdersServiceClient::new(connect(addr).await?);
    let address = Address {
        line1: "4 allée des Tilleuls".into(),
        line2: String::new(),
        postal_code: "69003".into(),
        city: "Lyon".into(),
        country: "FR".into(),
    };
    let residence = client
        .create_residence(authed(
            token,
            CreateResidenceRequest {
                idempotency_key: "demo-residence".into(),
                name: "Résidence Les Tilleuls".into(),
                address: Some(address.clone()),
                email: "accueil@tilleuls.example".into(),
                phone: "04 78 00 00 00".into(),
            },
        )?)
        .await
        .context("demo residence")?
        .into_inner()
        .residence
        .context("no residence")?
        .id;
    client
        .add_residence_staff(authed(
            token,
            AddResidenceStaffRequest {
                residence_id: residence.clone(),
                staff_subject: STAFF.into(),
                display_name: "Aline (aide-soignante)".into(),
            },
        )?)
        .await?;
    let resident = client
        .create_customer(authed(
            token,
            CreateCustomerRequest {
                idempotency_key: "demo-resident-1".into(),
                fields: Some(CustomerFields {
                    first_name: "Jeanne".into(),
                    last_name: "Martin".into(),
                    email: String::new(),
                    phone: "04 78 00 00 12".into(),
                    billing_address: Some(Address {
                        line2: "Chambre 12".into(),
                        ..address
                    }),
                    delivery_address: None,
                    customer_family: "RESIDENCE".into(),
                    residence_id: residence.clone(),
                    payment_method_ref: String::new(),
                    external_ref: String::new(),
                }),
            },
        )?)
        .await
        .context("demo resident")?
        .into_inner()
        .customer
        .context("no customer")?
        .id;
    let customer = client
        .create_customer(authed(
            token,
            CreateCustomerRequest {
                idempotency_key: "demo-customer-1".into(),
                fields: Some(CustomerFields {
                    first_name: "Paul".into(),
                    last_name: "Durand".into(),
                    email: "paul.durand@example.org".into(),
                    phone: "06 12 34 56 78".into(),
                    billing_address: Some(Address {
                        line1: "18 rue Sala".into(),
                        line2: String::new(),
                        postal_code: "69002".into(),
                        city: "Lyon".into(),
                        country: "FR".into(),
                    }),
                    delivery_address: None,
                    customer_family: String::new(),
                    residence_id: String::new(),
                    // The payment simulator's card that always goes through.
                    payment_method_ref: "pm_card_visa".into(),
                    external_ref: String::new(),
                }),
            },
        )?)
        .await
        .context("demo customer")?
        .into_inner()
        .customer
        .context("no customer")?
        .id;
    Ok(DemoOrders {
        residence,
        resident,
        customer,
    })
}

/// Two workers of the demo agency (idempotent): Awa does every household
/// service, Marc cleaning and windows; both Monday to Friday, 8:00-18:00.
pub async fn seed_planning(planning: &str, catalogue: &str, token: &str) -> anyhow::Result<()> {
    use relais_proto::{
        catalogue::{ListServicesRequest, catalogue_service_client::CatalogueServiceClient},
        planning::{
            CreateWorkerRequest, WeeklySlot, WorkerFields,
            planning_service_client::PlanningServiceClient,
        },
        types::PageRequest,
    };
    let services = CatalogueServiceClient::new(connect(catalogue).await?)
        .list_services(authed(
            token,
            ListServicesRequest {
                page: Some(PageRequest {
                    page_size: 500,
                    page_token: String::new(),
                }),
                ..Default::default()
            },
        )?)
        .await
        .context("demo services")?
        .into_inner()
        .services;
    let ids = |codes: &[&str]| -> Vec<String> {
        services
            .iter()
            .filter(|s| codes.contains(&s.code.as_str()))
            .map(|s| s.id.clone())
            .collect()
    };
    let week: Vec<WeeklySlot> = (1..=5)
        .map(|d| WeeklySlot {
            weekday: d,
            start_time: "08:00".into(),
            end_time: "18:00".into(),
        })
        .collect();
    let mut client = PlanningServiceClient::new(connect(planning).await?);
    for (key, first, last, codes) in [
        (
            "demo-worker-1",
            "Awa",
            "Diallo",
            &["MENAGE", "REPASSAGE", "VITRES"][..],
        ),
        ("demo-worker-2", "Marc", "Petit", &["MENAGE", "VITRES"][..]),
    ] {
        client
            .create_worker(authed(
                token,
                CreateWorkerRequest {
                    idempotency_key: key.into(),
                    fields: Some(WorkerFields {
                        first_name: first.into(),
                        last_name: last.into(),
                        email: format!("{}.{}@agence-demo.example", first, last).to_lowercase(),
                        phone: "06 00 00 00 00".into(),
                        photo_url: String::new(),
                        provider: "Agence démo".into(),
                        skill_service_ids: ids(codes),
                        availability: week.clone(),
                        time_zone: String::new(),
                        active: true,
                        external_ref: String::new(),
                        // Planning sets it for the shop's workers.
                        availability_source: 0,
                    }),
                },
            )?)
            .await
            .with_context(|| format!("demo worker {first}"))?;
    }
    Ok(())
}

/// Last year's tax certificate of Paul Durand, as the demo ERP validated
/// it (seed 001), recorded through billing's connector API: billing keeps
/// it in his account as a PDF and e-mails it. Waits for billing to know
/// Paul (his customer event may still be on its way).
pub async fn seed_billing(billing: &str, customer: &str) -> anyhow::Result<()> {
    use chrono::Datelike;
    use relais_proto::billing::{
        CertificateWorker, RecordErpTaxCertificateRequest,
        billing_service_client::BillingServiceClient,
    };
    let token = crate::orders::token(TENANT, &crate::orders::Actor::Connector("demo-erp".into()))?;
    let mut client = BillingServiceClient::new(crate::connect(billing).await?);
    let year = chrono::Utc::now().year() - 1;
    let request = RecordErpTaxCertificateRequest {
        external_number: format!("AT-{year}-0007"),
        customer_id: customer.to_owned(),
        year,
        amount_paid: Some(Money {
            amount_cents: 131_250,
            currency: "EUR".into(),
        }),
        minutes: 3150,
        workers: vec![
            CertificateWorker {
                worker_id: String::new(),
                name: "Awa Diallo".into(),
                minutes: 2100,
            },
            CertificateWorker {
                worker_id: String::new(),
                name: "Marc Petit".into(),
                minutes: 1050,
            },
        ],
    };
    let mut last = None;
    for _ in 0..50 {
        match client
            .record_erp_tax_certificate(authed(&token, request.clone())?)
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if e.code() == tonic::Code::NotFound => {
                last = Some(e);
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(e) => anyhow::bail!("demo certificate refused: {}", e.message()),
        }
    }
    anyhow::bail!("billing never learnt of the demo customer: {last:?}")
}

/// The demo ids as shell variables (`eval "$(relais demo-ids)"`): looked up
/// by the demo's names, so they hold whatever day `relais dev` seeded them.
pub async fn print_ids(orders: &str, token: &str) -> anyhow::Result<()> {
    use relais_proto::orders::{
        ListCustomersRequest, ListResidencesRequest, orders_service_client::OrdersServiceClient,
    };
    let mut client = OrdersServiceClient::new(connect(orders).await?);
    let residence = client
        .list_residences(authed(token, ListResidencesRequest {})?)
        .await
        .context("demo residence")?
        .into_inner()
        .residences
        .into_iter()
        .find(|r| r.name == "Résidence Les Tilleuls")
        .context("no demo residence: is `make run` (relais dev) up, with its demo data?")?
        .id;
    async fn customer(
        client: &mut OrdersServiceClient<tonic::transport::Channel>,
        token: &str,
        query: &str,
        residence_id: &str,
    ) -> anyhow::Result<String> {
        let req = ListCustomersRequest {
            page: Some(relais_proto::types::PageRequest {
                page_size: 10,
                page_token: String::new(),
            }),
            residence_id: residence_id.to_owned(),
            query: query.to_owned(),
        };
        client
            .list_customers(authed(token, req)?)
            .await
            .with_context(|| format!("demo customer {query}"))?
            .into_inner()
            .customers
            .into_iter()
            .next()
            .map(|c| c.id)
            .with_context(|| format!("no demo customer {query}"))
    }
    let resident = customer(&mut client, token, "Martin", &residence).await?;
    let paul = customer(&mut client, token, "paul.durand@example.org", "").await?;
    println!("RESIDENCE={residence}\nRESIDENT={resident}\nPAUL={paul}");
    Ok(())
}
