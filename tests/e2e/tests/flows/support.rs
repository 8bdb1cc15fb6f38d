//! What the flows share, written on the testkit: the stack and where
//! billing writes its mails, a connection to the reference ERP and its
//! runs, the ERP's records, and the shop's customers, services, workers,
//! products and orders as staff create them; mails and PDFs as their
//! reader sees them.

use std::{ops::Deref, path::PathBuf, time::Duration};

use chrono::NaiveDate;
use relais_connector::{
    adapter::{ErpAdapter, ErpRecord},
    reference_erp::ReferenceErpClient,
};
use relais_platform::testing;
use relais_proto::{
    billing::{GetInvoiceRequest, Invoice, InvoiceStatus, ListInvoicesRequest},
    catalogue::{
        CreateProductRequest, CreateServiceRequest, ProductFields, ServiceFields, SetStockRequest,
    },
    connector::{
        AdapterKind, ConflictPolicy, ConnectionFields, CreateConnectionRequest, Direction,
        FamilySettings, Run, RunSyncRequest,
    },
    orders::{
        Address, ChangeOrderStatusRequest, CreateCustomerRequest, CustomerFields, Order,
        OrderStatus, PaymentMode, PlaceBookingRequest, Recurrence, Schedule,
    },
    planning::{CreateWorkerRequest, WeeklySlot, WorkerFields},
    types::{Money, PageRequest},
};
use relais_testkit::{ERP_KEYS, StackBuilder};
use serde_json::Value;
use uuid::Uuid;

/// A started stack (its parts as the flow's builder asked for them).
pub struct Relais {
    kit: relais_testkit::Stack,
    /// Where billing writes the mails it sends (stacks with billing).
    mail_dir: Option<PathBuf>,
}

impl Deref for Relais {
    type Target = relais_testkit::Stack;
    fn deref(&self) -> &relais_testkit::Stack {
        &self.kit
    }
}

/// Starts the parts `builder` asks for.
pub async fn spawn(builder: StackBuilder) -> Relais {
    Relais {
        kit: builder.spawn().await.unwrap(),
        mail_dir: None,
    }
}

/// Starts the parts `builder` asks for and billing, whose mails are read
/// back from its folder.
pub async fn spawn_with_billing(builder: StackBuilder) -> Relais {
    let (tx, rx) = std::sync::mpsc::channel();
    let kit = builder
        .with_billing(move |cfg| {
            let _ = tx.send(cfg.platform.mail.dir.clone());
        })
        .spawn()
        .await
        .unwrap();
    Relais {
        kit,
        mail_dir: Some(rx.recv().unwrap()),
    }
}

pub fn eur(cents: i64) -> Option<Money> {
    Some(Money {
        amount_cents: cents,
        currency: "EUR".into(),
    })
}

/// Tomorrow, in Paris.
pub fn tomorrow() -> NaiveDate {
    (chrono::Utc::now() + chrono::Duration::days(1))
        .with_timezone(&chrono_tz::Europe::Paris)
        .date_naive()
}

pub fn family(name: &str, direction: Direction) -> FamilySettings {
    FamilySettings {
        family: name.into(),
        direction: direction as i32,
        schedule: String::new(),
    }
}

impl Relais {
    // The ERP.

    /// The ERP as the connector reaches it.
    pub fn erp(&self) -> ReferenceErpClient {
        let (public, private) = ERP_KEYS.split_once(':').unwrap();
        ReferenceErpClient::new(&self.erp_base(), public, private, Duration::from_secs(5)).unwrap()
    }

    /// A connection named `name` to the stack's ERP with `families`.
    pub async fn connection(&self, name: &str, fields: ConnectionFields) -> String {
        let fields = ConnectionFields {
            name: name.into(),
            adapter: AdapterKind::ReferenceErp as i32,
            endpoint: self.erp_base(),
            secret: ERP_KEYS.into(),
            enabled: true,
            ..fields
        };
        self.connector()
            .create_connection(self.admin(CreateConnectionRequest {
                idempotency_key: String::new(),
                fields: Some(fields),
            }))
            .await
            .unwrap()
            .into_inner()
            .connection
            .unwrap()
            .id
    }

    /// The connection "test-erp": customers, workers and planning both
    /// ways, bookings pushed; the catalogue, invoices and certificates
    /// pulled.
    pub async fn connect(&self, policy: ConflictPolicy) -> String {
        self.connection(
            "test-erp",
            ConnectionFields {
                families: vec![
                    family("customers", Direction::Both),
                    family("workers", Direction::Both),
                    family("bookings", Direction::Push),
                    family("catalogue", Direction::Pull),
                    family("invoices", Direction::Pull),
                    family("certificates", Direction::Pull),
                    family("planning", Direction::Both),
                ],
                conflict_policy: policy as i32,
                ..Default::default()
            },
        )
        .await
    }

    /// Runs a family now, as staff do from the back office: the run, once
    /// the last progress message says it finished.
    pub async fn run(&self, connection: &str, family: &str) -> Run {
        let mut stream = self
            .connector()
            .run_sync(self.admin(RunSyncRequest {
                connection_id: connection.into(),
                family: family.into(),
                full: false,
            }))
            .await
            .unwrap()
            .into_inner();
        let mut last = None;
        while let Some(m) = stream.message().await.unwrap() {
            last = Some(m);
        }
        let last = last.expect("progress messages");
        assert!(last.finished, "{last:?}");
        last.run.unwrap()
    }

    /// Every record of `object` in the ERP.
    pub async fn erp_records(&self, object: &str) -> Vec<ErpRecord> {
        let erp = self.erp();
        let mut all = Vec::new();
        let mut page = 1;
        loop {
            let changes = erp.changed_since(object, None, page, 500).await.unwrap();
            all.extend(changes.records);
            match changes.next {
                Some(n) => page = n,
                None => return all,
            }
        }
    }

    /// Waits until the ERP holds `n` records of `object` that `check` accepts.
    pub async fn erp_eventually(
        &self,
        object: &str,
        n: usize,
        check: impl Fn(&ErpRecord) -> bool,
    ) -> Vec<ErpRecord> {
        testing::eventually(Duration::from_secs(30), || async {
            let records = self.erp_records(object).await;
            let ok: Vec<ErpRecord> = records.into_iter().filter(&check).collect();
            (ok.len() == n).then_some(ok)
        })
        .await
        .unwrap_or_else(|| panic!("the ERP never held {n} such {object} records"))
    }

    // The shop, as staff fill it.

    /// A service at 25 €/h, 10 % VAT, eligible to the tax credit.
    pub async fn service(&self, code: &str, name: &str) -> String {
        self.catalogue()
            .create_service(self.admin(CreateServiceRequest {
                idempotency_key: String::new(),
                fields: Some(ServiceFields {
                    code: code.into(),
                    name: name.into(),
                    hourly_price: eur(2500),
                    vat_rate_bp: 1000,
                    active: true,
                    tax_credit_eligible: true,
                    ..Default::default()
                }),
            }))
            .await
            .unwrap()
            .into_inner()
            .service
            .unwrap()
            .id
    }

    /// A worker created in the shop, available every day from 7:00 to 20:00.
    pub async fn worker(&self, first_name: &str, last_name: &str, skill: &str) -> String {
        self.planning()
            .create_worker(
                self.admin(CreateWorkerRequest {
                    idempotency_key: String::new(),
                    fields: Some(WorkerFields {
                        first_name: first_name.into(),
                        last_name: last_name.into(),
                        email: format!("{}@example.org", first_name.to_lowercase()),
                        skill_service_ids: vec![skill.into()],
                        availability: (1..=7)
                            .map(|d| WeeklySlot {
                                weekday: d,
                                start_time: "07:00".into(),
                                end_time: "20:00".into(),
                            })
                            .collect(),
                        active: true,
                        ..Default::default()
                    }),
                }),
            )
            .await
            .unwrap()
            .into_inner()
            .worker
            .unwrap()
            .id
    }

    /// An online customer in Lyon with `email` and, unless empty, a saved
    /// card.
    pub async fn customer(&self, first: &str, last: &str, email: &str, card: &str) -> String {
        self.orders()
            .create_customer(self.admin(CreateCustomerRequest {
                idempotency_key: String::new(),
                fields: Some(CustomerFields {
                    first_name: first.into(),
                    last_name: last.into(),
                    email: email.into(),
                    billing_address: Some(Address {
                        line1: "12 rue de la République".into(),
                        postal_code: "69001".into(),
                        city: "Lyon".into(),
                        country: "FR".into(),
                        ..Default::default()
                    }),
                    payment_method_ref: card.into(),
                    ..Default::default()
                }),
            }))
            .await
            .unwrap()
            .into_inner()
            .customer
            .unwrap()
            .id
    }

    /// Gloves (ENT-001, 11.90 € + 20 % VAT), 10,000 in stock.
    pub async fn gloves(&self) -> String {
        let id = self
            .catalogue()
            .create_product(self.admin(CreateProductRequest {
                idempotency_key: String::new(),
                fields: Some(ProductFields {
                    sku: "ENT-001".into(),
                    designation: "Gants".into(),
                    price: eur(1190),
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
        self.catalogue()
            .set_stock(self.admin(SetStockRequest {
                product_id: id.clone(),
                real: 10_000,
                available: 10_000,
            }))
            .await
            .unwrap();
        id
    }

    /// The order confirmed: paid, as billing or the office says.
    pub async fn confirm(&self, order: &str) -> Order {
        self.orders()
            .change_order_status(self.admin(ChangeOrderStatusRequest {
                id: order.into(),
                status: OrderStatus::Confirmed as i32,
                ..Default::default()
            }))
            .await
            .expect("confirmed")
            .into_inner()
            .order
            .unwrap()
    }

    /// The order cancelled for `reason`.
    pub async fn cancel(&self, order: &str, reason: &str) {
        self.orders()
            .change_order_status(self.admin(ChangeOrderStatusRequest {
                id: order.into(),
                status: OrderStatus::Cancelled as i32,
                reason: reason.into(),
                ..Default::default()
            }))
            .await
            .expect("cancelled");
    }

    /// A booking by card from `first` at 9:00, two hours, with `worker`,
    /// every week `weeks` times; placed and confirmed (paid): planning
    /// plans it.
    pub async fn book(
        &self,
        customer: &str,
        service: &str,
        worker: &str,
        first: NaiveDate,
        weeks: i32,
    ) -> Order {
        let placed = self
            .orders()
            .place_booking(self.admin(PlaceBookingRequest {
                idempotency_key: Uuid::now_v7().to_string(),
                customer_id: customer.into(),
                service_id: service.into(),
                schedule: Some(Schedule {
                    first_date: first.format("%Y-%m-%d").to_string(),
                    start_time: "09:00".into(),
                    duration_minutes: 120,
                    recurrence: (weeks > 1).then(|| Recurrence {
                        interval_weeks: 1,
                        weekdays: vec![
                            chrono::Datelike::weekday(&first).number_from_monday() as i32
                        ],
                        count: weeks,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                worker_id: worker.into(),
                payment_mode: PaymentMode::Card as i32,
                terms_accepted: true,
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner()
            .order
            .unwrap();
        self.confirm(&placed.id).await
    }

    // Billing, as the customer reads it.

    /// The customer's invoices once there are `n`.
    pub async fn invoices(&self, customer: &str, n: usize) -> Vec<Invoice> {
        let list = || async {
            self.billing()
                .list_invoices(self.admin(ListInvoicesRequest {
                    page: Some(PageRequest {
                        page_size: 500,
                        page_token: String::new(),
                    }),
                    customer_id: customer.into(),
                }))
                .await
                .ok()
                .map(|r| r.into_inner().invoices)
        };
        testing::eventually(Duration::from_secs(15), || async {
            list().await.filter(|l| l.len() == n)
        })
        .await
        .unwrap_or_else(|| panic!("expected {n} invoices"))
    }

    /// The invoice once it is `status`.
    pub async fn invoice_once(&self, id: &str, status: InvoiceStatus) -> Invoice {
        testing::eventually(Duration::from_secs(15), || async {
            let i = self
                .billing()
                .get_invoice(self.admin(GetInvoiceRequest { id: id.into() }))
                .await
                .ok()?
                .into_inner()
                .invoice?;
            (i.status == status as i32).then_some(i)
        })
        .await
        .unwrap_or_else(|| panic!("invoice {id} never became {status:?}"))
    }

    /// The mails billing wrote so far whose subject mentions `about`, once
    /// there are `n`.
    pub async fn mails_about(&self, about: &str, n: usize) -> Vec<ReadMail> {
        let dir = self.mail_dir.as_ref().expect("a stack with billing's mail");
        testing::eventually(Duration::from_secs(10), || async {
            let found: Vec<ReadMail> = testing::mails_in(dir)
                .iter()
                .map(|m| read_mail(m))
                .filter(|m| m.subject.contains(about))
                .collect();
            (found.len() >= n).then_some(found)
        })
        .await
        .unwrap_or_else(|| panic!("no {n} mail(s) about {about}"))
    }
}

/// A mail as its reader sees it, decoded by a real MIME parser.
#[derive(Debug)]
pub struct ReadMail {
    pub to: String,
    pub subject: String,
    pub body: String,
    /// (file name, content)
    pub attachments: Vec<(String, Vec<u8>)>,
}

pub fn read_mail(raw: &str) -> ReadMail {
    use mail_parser::{MessageParser, MimeHeaders};
    let m = MessageParser::default()
        .parse(raw.as_bytes())
        .expect("a parsable mail");
    ReadMail {
        to: m
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap_or_default()
            .to_owned(),
        subject: m.subject().unwrap_or_default().to_owned(),
        body: m.body_text(0).map(|b| b.into_owned()).unwrap_or_default(),
        attachments: m
            .attachments()
            .map(|a| {
                (
                    a.attachment_name().unwrap_or_default().to_owned(),
                    a.contents().to_vec(),
                )
            })
            .collect(),
    }
}

/// The text of a PDF, as a reader copies it out.
pub fn pdf_text_of(bytes: &[u8]) -> String {
    let pdf = lopdf::Document::load_mem(bytes).unwrap();
    let pages: Vec<u32> = pdf.get_pages().keys().copied().collect();
    pdf.extract_text(&pages).unwrap()
}

/// A text field of an ERP record ("" when absent).
pub fn text<'a>(r: &'a ErpRecord, field: &str) -> &'a str {
    r.fields
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// A JSON object's fields, as the ERP adapter takes them.
pub fn fields(v: Value) -> serde_json::Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}
