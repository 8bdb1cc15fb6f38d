//! The stack, its descriptors, the two tenants and their tokens, and tenant
//! A's data created through the public APIs: every request that created it
//! is kept as the template of its method (a request the service accepts),
//! and every id A received is kept to look for in B's answers.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    time::Duration,
};

use chrono::{Datelike, Utc};
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor};
use relais_platform::auth::{Claims, Role};
use relais_proto::{billing, catalogue, connector, orders, planning, types::Money};
use uuid::Uuid;

use crate::{
    call::{Outcome, call},
    inputs::{Ids, strings},
    stack::{self, Stack},
};

pub const ROLES: [Role; 5] = [
    Role::Customer,
    Role::Staff,
    Role::Admin,
    Role::Connector,
    Role::Service,
];

/// One tenant's records the tokens of its roles speak for.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub name: &'static str,
    pub id: Uuid,
    /// The customer a customer token is, the residence a staff token
    /// belongs to, the connection a connector token acts for.
    pub customer: Option<String>,
    pub residence: Option<String>,
    pub connection: Option<String>,
}

impl Tenant {
    pub fn token(&self, role: Role) -> String {
        let uuid = |s: &Option<String>| s.as_deref().and_then(|s| Uuid::parse_str(s).ok());
        relais_platform::testing::token_with(&Claims {
            sub: format!("{}-{}", self.name, role.as_str()),
            tenant: self.id,
            role,
            // A customer token needs one; before A's customer exists, any.
            customer_id: (role == Role::Customer)
                .then(|| uuid(&self.customer).unwrap_or_else(Uuid::now_v7)),
            residences: match (role, uuid(&self.residence)) {
                (Role::Staff, Some(r)) => vec![r],
                _ => vec![],
            },
            connection: (role == Role::Connector)
                .then(|| self.connection.clone())
                .flatten(),
            exp: Utc::now().timestamp() + 3600,
        })
    }
}

pub struct World {
    pub stack: Stack,
    /// Every method of every Relais service, by `Service/Method`.
    pub methods: BTreeMap<String, MethodDescriptor>,
    pub a: Tenant,
    pub b: Tenant,
    /// The requests each method accepted from tenant A, encoded, and the
    /// role that made them (RecordErp* take connector tokens only); the
    /// first is the method's baseline, others set other fields (an order
    /// for a `new_customer` instead of a `customer_id`).
    pub templates: HashMap<String, Vec<(Role, Vec<u8>)>>,
    pub ids: Ids,
    /// Every UUID found in an answer to tenant A while seeding (line ids,
    /// payment ids... beyond the ones in `ids`).
    pub a_uuids: BTreeSet<String>,
}

impl World {
    pub async fn start() -> Self {
        let pool = DescriptorPool::decode(relais_proto::FILE_DESCRIPTOR_SET).unwrap();
        let methods = pool
            .services()
            .filter(|s| s.full_name().starts_with("relais."))
            .flat_map(|s| s.methods().collect::<Vec<_>>())
            .map(|m| (crate::inputs::method_path(&m), m))
            .collect();
        let tenant = |name| Tenant {
            name,
            id: Uuid::now_v7(),
            customer: None,
            residence: None,
            connection: None,
        };
        Self {
            stack: stack::spawn().await,
            methods,
            a: tenant("alphatenant"),
            b: tenant("betatenant"),
            templates: HashMap::new(),
            ids: Ids::default(),
            a_uuids: BTreeSet::new(),
        }
    }

    pub fn method(&self, path: &str) -> &MethodDescriptor {
        self.methods
            .get(path)
            .unwrap_or_else(|| panic!("no method {path}"))
    }

    /// Calls `path` with raw bytes.
    pub async fn raw(&self, path: &str, token: &str, body: Vec<u8>) -> Outcome {
        let m = self.method(path);
        let channel = &self.stack.channels[m.parent_service().full_name()];
        call(channel, m, token, body).await
    }

    /// A call tenant A's seeding needs to succeed: its request becomes the
    /// method's template, the UUIDs of its answer A's.
    async fn seed<Req: Message, Resp: Message + Default>(
        &mut self,
        path: &str,
        role: Role,
        req: Req,
    ) -> Result<Resp, tonic::Status> {
        let body = req.encode_to_vec();
        let out = self.raw(path, &self.a.token(role), body.clone()).await;
        if let Some(s) = out.status {
            return Err(s);
        }
        assert!(!out.timed_out, "{path} hung while seeding");
        let kept = self.templates.entry(path.to_owned()).or_default();
        // The first request and those setting another set of fields.
        let fields = |b: &[u8]| {
            DynamicMessage::decode(self.methods[path].input(), b)
                .map(|m| m.fields().map(|(f, _)| f.number()).collect::<Vec<_>>())
                .unwrap_or_default()
        };
        let new_fields = fields(&body);
        if !kept.iter().any(|(_, b)| fields(b) == new_fields) {
            kept.push((role, body));
        }
        let output = self.method(path).output();
        for b in &out.bodies {
            let mut found = Vec::new();
            if let Ok(m) = DynamicMessage::decode(output.clone(), b.as_slice()) {
                strings(&m, "", &mut found);
            }
            self.a_uuids.extend(
                found
                    .into_iter()
                    .filter(|(_, v)| Uuid::parse_str(v).is_ok())
                    .map(|(_, v)| v),
            );
        }
        let last = out.bodies.last().cloned().unwrap_or_default();
        Ok(Resp::decode(last.as_slice()).unwrap())
    }

    async fn must<Req: Message + Clone, Resp: Message + Default>(
        &mut self,
        path: &str,
        role: Role,
        req: Req,
    ) -> Resp {
        self.seed(path, role, req)
            .await
            .unwrap_or_else(|s| panic!("seeding {path}: {s:?}"))
    }

    /// Retries a seeding call that depends on an event still on its way
    /// (billing learns of a customer from the orders stream).
    async fn eventually<Req: Message + Clone, Resp: Message + Default>(
        &mut self,
        path: &str,
        role: Role,
        req: Req,
        ok: impl Fn(&Resp) -> bool,
    ) -> Resp {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let last = self.seed::<Req, Resp>(path, role, req.clone()).await;
            match last {
                Ok(r) if ok(&r) => return r,
                other if tokio::time::Instant::now() > deadline => {
                    panic!("seeding {path} never succeeded: {:?}", other.err())
                }
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    fn keep(&mut self, kind: &'static str, id: &str) {
        assert!(!id.is_empty(), "seeding gave no {kind} id");
        self.ids.by_kind.insert(kind, id.to_owned());
    }

    /// Tenant A's data: one record of each kind every service keeps.
    pub async fn seed_tenant_a(&mut self) {
        let admin = Role::Admin;
        let eur = |cents| {
            Some(Money {
                amount_cents: cents,
                currency: "EUR".into(),
            })
        };
        let key = || Uuid::now_v7().to_string();
        let address = || {
            Some(orders::Address {
                line1: "3 rue alphatenant".into(),
                postal_code: "69002".into(),
                city: "Lyon".into(),
                country: "FR".into(),
                ..Default::default()
            })
        };

        // Catalogue.
        let r: catalogue::CreateCategoryResponse = self
            .must(
                "CatalogueService/CreateCategory",
                admin,
                catalogue::CreateCategoryRequest {
                    idempotency_key: key(),
                    code: "ALPHATENANT-CAT".into(),
                    name: "alphatenant category".into(),
                    position: 1,
                    active: true,
                    ..Default::default()
                },
            )
            .await;
        self.keep("category", &r.category.unwrap_or_default().id);
        let category = self.ids.by_kind["category"].clone();
        let r: catalogue::CreateServiceResponse = self
            .must(
                "CatalogueService/CreateService",
                admin,
                catalogue::CreateServiceRequest {
                    idempotency_key: key(),
                    fields: Some(catalogue::ServiceFields {
                        code: "ALPHATENANT-SVC".into(),
                        name: "alphatenant cleaning".into(),
                        description: "alphatenant service".into(),
                        category_id: category.clone(),
                        hourly_price: eur(2500),
                        vat_rate_bp: 1000,
                        tax_credit_eligible: true,
                        active: true,
                    }),
                },
            )
            .await;
        self.keep("service", &r.service.unwrap_or_default().id);
        let service = self.ids.by_kind["service"].clone();
        let r: catalogue::CreateProductResponse = self
            .must(
                "CatalogueService/CreateProduct",
                admin,
                catalogue::CreateProductRequest {
                    idempotency_key: key(),
                    fields: Some(catalogue::ProductFields {
                        sku: "ALPHATENANT-SKU".into(),
                        designation: "alphatenant soap".into(),
                        description: "alphatenant product".into(),
                        category_id: category.clone(),
                        price: eur(1200),
                        vat_rate_bp: 2000,
                        sales_unit: "unit".into(),
                        weight_grams: 100,
                        image_urls: vec!["https://example.org/alphatenant.jpg".into()],
                        active: true,
                    }),
                },
            )
            .await;
        self.keep("product", &r.product.unwrap_or_default().id);
        let product = self.ids.by_kind["product"].clone();
        let _: catalogue::SetStockResponse = self
            .must(
                "CatalogueService/SetStock",
                admin,
                catalogue::SetStockRequest {
                    product_id: product.clone(),
                    real: 1000,
                    available: 1000,
                },
            )
            .await;
        let _: catalogue::SetPriceListEntryResponse = self
            .must(
                "CatalogueService/SetPriceListEntry",
                admin,
                catalogue::SetPriceListEntryRequest {
                    customer_family: "alphatenant-family".into(),
                    item_id: product.clone(),
                    price: eur(1000),
                },
            )
            .await;
        let r: catalogue::CreateHourPackResponse = self
            .must(
                "CatalogueService/CreateHourPack",
                admin,
                catalogue::CreateHourPackRequest {
                    idempotency_key: key(),
                    name: "alphatenant pack".into(),
                    duration_minutes: 600,
                    price: eur(20_000),
                    eligible_service_ids: vec![service.clone()],
                    vat_rate_bp: None,
                    active_on_creation: true,
                },
            )
            .await;
        self.keep("hour_pack", &r.hour_pack.unwrap_or_default().id);
        let hour_pack = self.ids.by_kind["hour_pack"].clone();

        // Residence, its staff, a resident.
        let r: orders::CreateResidenceResponse = self
            .must(
                "OrdersService/CreateResidence",
                admin,
                orders::CreateResidenceRequest {
                    idempotency_key: key(),
                    name: "alphatenant residence".into(),
                    address: address(),
                    email: "alphatenant-residence@example.org".into(),
                    phone: "+33478000000".into(),
                },
            )
            .await;
        self.keep("residence", &r.residence.unwrap_or_default().id);
        let residence = self.ids.by_kind["residence"].clone();
        self.a.residence = Some(residence.clone());
        let _: orders::AddResidenceStaffResponse = self
            .must(
                "OrdersService/AddResidenceStaff",
                admin,
                orders::AddResidenceStaffRequest {
                    residence_id: residence.clone(),
                    staff_subject: "alphatenant-staff".into(),
                    display_name: "alphatenant staff".into(),
                },
            )
            .await;
        let r: orders::CreateCustomerResponse = self
            .must(
                "OrdersService/CreateCustomer",
                admin,
                orders::CreateCustomerRequest {
                    idempotency_key: key(),
                    fields: Some(orders::CustomerFields {
                        first_name: "Alphatenant".into(),
                        last_name: "Alphatenant-Martin".into(),
                        email: "alphatenant@example.org".into(),
                        phone: "+33612345678".into(),
                        billing_address: address(),
                        customer_family: "alphatenant-family".into(),
                        residence_id: residence.clone(),
                        ..Default::default()
                    }),
                },
            )
            .await;
        self.keep("customer", &r.customer.unwrap_or_default().id);
        let customer = self.ids.by_kind["customer"].clone();
        self.a.customer = Some(customer.clone());

        // A worker, free every day but for an absence next month.
        let r: planning::CreateWorkerResponse = self
            .must(
                "PlanningService/CreateWorker",
                admin,
                planning::CreateWorkerRequest {
                    idempotency_key: key(),
                    fields: Some(planning::WorkerFields {
                        first_name: "Alphatenant".into(),
                        last_name: "Alphatenant-Diallo".into(),
                        email: "alphatenant-worker@example.org".into(),
                        skill_service_ids: vec![service.clone()],
                        availability: (1..=7)
                            .map(|d| planning::WeeklySlot {
                                weekday: d,
                                start_time: "07:00".into(),
                                end_time: "20:00".into(),
                            })
                            .collect(),
                        active: true,
                        ..Default::default()
                    }),
                },
            )
            .await;
        self.keep("worker", &r.worker.unwrap_or_default().id);
        let worker = self.ids.by_kind["worker"].clone();
        let day = 86_400;
        let at = |seconds| Some(prost_types::Timestamp { seconds, nanos: 0 });
        let now = Utc::now().timestamp();
        let r: planning::AddAbsenceResponse = self
            .must(
                "PlanningService/AddAbsence",
                admin,
                planning::AddAbsenceRequest {
                    worker_id: worker.clone(),
                    start: at(now + 30 * day),
                    end: at(now + 31 * day),
                    reason: "alphatenant leave".into(),
                },
            )
            .await;
        self.keep("absence", &r.absence.unwrap_or_default().id);

        // Orders: a product order, a booking and an hour pack, confirmed.
        let r: orders::PlaceProductOrderResponse = self
            .must(
                "OrdersService/PlaceProductOrder",
                admin,
                orders::PlaceProductOrderRequest {
                    idempotency_key: key(),
                    customer_id: customer.clone(),
                    lines: vec![orders::OrderLineRequest {
                        item_id: product.clone(),
                        quantity: 2,
                        discount_bp: 0,
                    }],
                    shipping_method: "delivery".into(),
                    payment_mode: orders::PaymentMode::Card as i32,
                    terms_accepted: true,
                    ..Default::default()
                },
            )
            .await;
        self.keep("order", &r.order.unwrap_or_default().id);
        let order = self.ids.by_kind["order"].clone();
        self.confirm(&order).await;
        let first = (Utc::now() + chrono::Duration::days(1)).date_naive();
        let r: orders::PlaceBookingResponse = self
            .must(
                "OrdersService/PlaceBooking",
                admin,
                orders::PlaceBookingRequest {
                    idempotency_key: key(),
                    customer_id: customer.clone(),
                    service_id: service.clone(),
                    schedule: Some(orders::Schedule {
                        first_date: first.format("%Y-%m-%d").to_string(),
                        start_time: "09:00".into(),
                        duration_minutes: 120,
                        recurrence: Some(orders::Recurrence {
                            interval_weeks: 1,
                            weekdays: vec![first.weekday().number_from_monday() as i32],
                            count: 2,
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    worker_id: worker.clone(),
                    payment_mode: orders::PaymentMode::Card as i32,
                    terms_accepted: true,
                    note: "alphatenant door code".into(),
                    ..Default::default()
                },
            )
            .await;
        self.keep("booking", &r.order.unwrap_or_default().id);
        let booking = self.ids.by_kind["booking"].clone();
        self.confirm(&booking).await;
        let r: orders::PlaceHourPackOrderResponse = self
            .must(
                "OrdersService/PlaceHourPackOrder",
                admin,
                orders::PlaceHourPackOrderRequest {
                    idempotency_key: key(),
                    customer_id: customer.clone(),
                    hour_pack_id: hour_pack.clone(),
                    terms_accepted: true,
                    ..Default::default()
                },
            )
            .await;
        self.keep("hour_pack_order", &r.order.unwrap_or_default().id);
        let pack_order = self.ids.by_kind["hour_pack_order"].clone();
        self.confirm(&pack_order).await;

        // The same orders for a first-time customer created with them, so
        // that the fields of `new_customer` are attacked too.
        let newcomer = |who: &str| {
            Some(orders::CustomerFields {
                first_name: "Alphatenant".into(),
                last_name: format!("Alphatenant-{who}"),
                email: format!("alphatenant-{}@example.org", who.to_lowercase()),
                billing_address: address(),
                ..Default::default()
            })
        };
        let _: orders::PlaceProductOrderResponse = self
            .must(
                "OrdersService/PlaceProductOrder",
                admin,
                orders::PlaceProductOrderRequest {
                    idempotency_key: key(),
                    new_customer: newcomer("Shopper"),
                    lines: vec![orders::OrderLineRequest {
                        item_id: product.clone(),
                        quantity: 1,
                        discount_bp: 0,
                    }],
                    shipping_method: "delivery".into(),
                    payment_mode: orders::PaymentMode::Card as i32,
                    terms_accepted: true,
                    ..Default::default()
                },
            )
            .await;
        let later = first + chrono::Duration::days(3);
        let _: orders::PlaceBookingResponse = self
            .must(
                "OrdersService/PlaceBooking",
                admin,
                orders::PlaceBookingRequest {
                    idempotency_key: key(),
                    new_customer: newcomer("Booker"),
                    service_id: service.clone(),
                    schedule: Some(orders::Schedule {
                        first_date: later.format("%Y-%m-%d").to_string(),
                        start_time: "14:00".into(),
                        duration_minutes: 60,
                        ..Default::default()
                    }),
                    payment_mode: orders::PaymentMode::Card as i32,
                    terms_accepted: true,
                    ..Default::default()
                },
            )
            .await;
        let _: orders::PlaceHourPackOrderResponse = self
            .must(
                "OrdersService/PlaceHourPackOrder",
                admin,
                orders::PlaceHourPackOrderRequest {
                    idempotency_key: key(),
                    new_customer: newcomer("Packer"),
                    hour_pack_id: hour_pack.clone(),
                    terms_accepted: true,
                    ..Default::default()
                },
            )
            .await;
        // ERP imports: a family under A's, and a product.
        let bulk = |item| catalogue::BulkUpsertRequest {
            correlation_id: "alphatenant-bulk".into(),
            item: Some(item),
        };
        for item in [
            catalogue::bulk_upsert_request::Item::Category(catalogue::BulkCategory {
                code: "ALPHATENANT-SUB".into(),
                parent_code: "ALPHATENANT-CAT".into(),
                name: "alphatenant sub-family".into(),
                position: 2,
                active: true,
            }),
            catalogue::bulk_upsert_request::Item::Product(catalogue::BulkProduct {
                fields: Some(catalogue::ProductFields {
                    sku: "ALPHATENANT-SKU2".into(),
                    designation: "alphatenant brush".into(),
                    price: eur(800),
                    vat_rate_bp: 2000,
                    active: true,
                    ..Default::default()
                }),
                category_code: "ALPHATENANT-SUB".into(),
            }),
        ] {
            let r: catalogue::BulkUpsertResponse = self
                .must("CatalogueService/BulkUpsert", admin, bulk(item))
                .await;
            assert!(r.error.is_empty(), "bulk upsert: {}", r.error);
        }

        // Planning's side of them.
        let r: planning::ListInterventionsResponse = self
            .eventually(
                "PlanningService/ListInterventions",
                admin,
                planning::ListInterventionsRequest {
                    order_id: booking.clone(),
                    ..Default::default()
                },
                |r: &planning::ListInterventionsResponse| !r.interventions.is_empty(),
            )
            .await;
        self.keep("intervention", &r.interventions[0].id);
        let _: planning::GetPackBalanceResponse = self
            .eventually(
                "PlanningService/GetPackBalance",
                admin,
                planning::GetPackBalanceRequest {
                    pack_order_id: pack_order.clone(),
                },
                |_| true,
            )
            .await;

        // Billing: the product order's invoice, validated, a credit note,
        // and an invoice and a certificate from the ERP.
        let r: billing::ListInvoicesResponse = self
            .eventually(
                "BillingService/ListInvoices",
                admin,
                billing::ListInvoicesRequest {
                    customer_id: customer.clone(),
                    ..Default::default()
                },
                |r: &billing::ListInvoicesResponse| r.invoices.iter().any(|i| i.order_id == order),
            )
            .await;
        let invoice = r
            .invoices
            .iter()
            .find(|i| i.order_id == order)
            .map(|i| i.id.clone())
            .unwrap_or_default();
        self.keep("invoice", &invoice);
        let _: billing::ValidateInvoiceResponse = self
            .must(
                "BillingService/ValidateInvoice",
                admin,
                billing::ValidateInvoiceRequest {
                    id: invoice.clone(),
                    expected_version: 0,
                },
            )
            .await;
        let r: billing::CreateCreditNoteResponse = self
            .must(
                "BillingService/CreateCreditNote",
                admin,
                billing::CreateCreditNoteRequest {
                    idempotency_key: key(),
                    invoice_id: invoice.clone(),
                    amount: eur(100),
                    reason: "alphatenant refund".into(),
                },
            )
            .await;
        self.keep("credit_note", &r.credit_note.unwrap_or_default().id);
        let r: billing::RecordErpInvoiceResponse = self
            .eventually(
                "BillingService/RecordErpInvoice",
                Role::Connector,
                billing::RecordErpInvoiceRequest {
                    external_number: "ALPHATENANT-F1".into(),
                    customer_id: customer.clone(),
                    lines: vec![billing::ErpInvoiceLine {
                        reference: "ALPHATENANT-SVC".into(),
                        description: "alphatenant cleaning".into(),
                        quantity: 1,
                        unit_price: eur(10_000),
                        vat_rate_bp: 2000,
                        discount_bp: 0,
                        total_excl_vat: eur(10_000),
                    }],
                    total_incl_vat: eur(12_000),
                    validated_at: at(now - day),
                    payment_mode: orders::PaymentMode::Invoice as i32,
                },
                |_| true,
            )
            .await;
        self.keep("erp_invoice", &r.invoice.unwrap_or_default().id);
        let r: billing::RecordErpTaxCertificateResponse = self
            .must(
                "BillingService/RecordErpTaxCertificate",
                Role::Connector,
                billing::RecordErpTaxCertificateRequest {
                    external_number: "ALPHATENANT-AF1".into(),
                    customer_id: customer.clone(),
                    year: Utc::now().year() - 1,
                    amount_paid: eur(5000),
                    minutes: 120,
                    workers: vec![billing::CertificateWorker {
                        worker_id: worker.clone(),
                        name: "Alphatenant Alphatenant-Diallo".into(),
                        minutes: 120,
                    }],
                },
            )
            .await;
        self.keep("certificate", &r.certificate.unwrap_or_default().id);

        // The connector: a connection to the reference ERP, a tariff
        // mapping, and a run that binds A's customer there.
        let family = |f: &str, d: connector::Direction| connector::FamilySettings {
            family: f.into(),
            direction: d as i32,
            schedule: String::new(),
        };
        let r: connector::CreateConnectionResponse = self
            .must(
                "ConnectorService/CreateConnection",
                admin,
                connector::CreateConnectionRequest {
                    idempotency_key: key(),
                    fields: Some(connector::ConnectionFields {
                        name: "alphatenant-erp".into(),
                        adapter: connector::AdapterKind::ReferenceErp as i32,
                        endpoint: self.stack.erp_base.clone(),
                        secret: stack::ERP_KEYS.into(),
                        secret_ref: String::new(),
                        families: vec![
                            family("customers", connector::Direction::Both),
                            family("workers", connector::Direction::Both),
                            family("bookings", connector::Direction::Push),
                        ],
                        order_statuses: vec![],
                        conflict_policy: connector::ConflictPolicy::Manual as i32,
                        enabled: true,
                    }),
                },
            )
            .await;
        self.keep("connection", &r.connection.unwrap_or_default().id);
        let connection = self.ids.by_kind["connection"].clone();
        self.a.connection = Some(connection.clone());
        let _: connector::SetTariffMappingResponse = self
            .must(
                "ConnectorService/SetTariffMapping",
                admin,
                connector::SetTariffMappingRequest {
                    connection_id: connection.clone(),
                    service_id: service.clone(),
                    tariff_id: "T-alphatenant".into(),
                },
            )
            .await;
        let r: connector::RunSyncResponse = self
            .must(
                "ConnectorService/RunSync",
                admin,
                connector::RunSyncRequest {
                    connection_id: connection.clone(),
                    family: "customers".into(),
                    full: true,
                },
            )
            .await;
        self.keep("run", &r.run.unwrap_or_default().id);
        // Templates of the reads that need a customer (the generic filler
        // would do too, but these are the calls a client makes).
        let _: billing::ListTaxCertificatesResponse = self
            .must(
                "BillingService/ListTaxCertificates",
                admin,
                billing::ListTaxCertificatesRequest {
                    customer_id: customer.clone(),
                },
            )
            .await;
        assert!(
            self.ids
                .by_kind
                .values()
                .all(|id| Uuid::parse_str(id).is_ok()),
            "every id of A is a UUID: {:?}",
            self.ids.by_kind
        );
    }

    async fn confirm(&mut self, order: &str) {
        let _: orders::ChangeOrderStatusResponse = self
            .must(
                "OrdersService/ChangeOrderStatus",
                Role::Admin,
                orders::ChangeOrderStatusRequest {
                    id: order.into(),
                    status: orders::OrderStatus::Confirmed as i32,
                    ..Default::default()
                },
            )
            .await;
    }
}
