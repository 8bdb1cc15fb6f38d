//! What many tests first make in the shop, as the tenant's admin would.

use relais_proto::{
    billing::{ErpInvoiceLine, RecordErpInvoiceRequest},
    catalogue::{
        CreateHourPackRequest, CreateProductRequest, CreateServiceRequest, ProductFields,
        ServiceFields, SetStockRequest,
    },
    orders::{
        AddResidenceStaffRequest, Address, CreateCustomerRequest, CreateResidenceRequest,
        CustomerFields,
    },
    planning::{CreateWorkerRequest, WeeklySlot, WorkerFields},
    types::Money,
};

/// An address in Lyon, for residences and residents.
pub fn lyon() -> Address {
    Address {
        line1: "4 allée des Tilleuls".into(),
        postal_code: "69003".into(),
        city: "Lyon".into(),
        country: "FR".into(),
        ..Default::default()
    }
}

use crate::Stack;

/// The ERP's invoice `number` to `customer` as the connector records it
/// (RecordErpInvoice): Ménage à domicile, 4 h at 25 € + 20 % VAT, 120.00 €.
pub fn erp_invoice(number: &str, customer: &str) -> RecordErpInvoiceRequest {
    let eur = |amount_cents| {
        Some(Money {
            amount_cents,
            currency: "EUR".into(),
        })
    };
    RecordErpInvoiceRequest {
        external_number: number.into(),
        customer_id: customer.into(),
        lines: vec![ErpInvoiceLine {
            reference: "MEN-H".into(),
            description: "Ménage à domicile, novembre".into(),
            quantity: 4,
            unit_price: eur(2500),
            vat_rate_bp: 2000,
            discount_bp: 0,
            total_excl_vat: eur(10_000),
        }],
        total_incl_vat: eur(12_000),
        ..Default::default()
    }
}

impl Stack {
    /// An online customer in Lyon with `email` and, unless `card` is
    /// empty, a saved card (the payment provider's reference).
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
            .unwrap_or_else(|e| panic!("customer {email}: {e}"))
            .into_inner()
            .customer
            .map(|c| c.id)
            .unwrap_or_default()
    }

    /// Gloves (ENT-001, 11.90 € + 20 % VAT), `stock` of them in stock.
    pub async fn gloves(&self, stock: i64) -> String {
        let id = self
            .catalogue()
            .create_product(self.admin(CreateProductRequest {
                idempotency_key: String::new(),
                fields: Some(ProductFields {
                    sku: "ENT-001".into(),
                    designation: "Gants".into(),
                    price: Some(Money {
                        amount_cents: 1190,
                        currency: "EUR".into(),
                    }),
                    vat_rate_bp: 2000,
                    active: true,
                    ..Default::default()
                }),
            }))
            .await
            .unwrap_or_else(|e| panic!("the gloves: {e}"))
            .into_inner()
            .product
            .map(|p| p.id)
            .unwrap_or_default();
        self.catalogue()
            .set_stock(self.admin(SetStockRequest {
                product_id: id.clone(),
                real: stock,
                available: stock,
            }))
            .await
            .unwrap_or_else(|e| panic!("the gloves' stock: {e}"));
        id
    }

    /// A service at 25 €/h, 10 % VAT, eligible to the tax credit.
    pub async fn service(&self, code: &str, name: &str) -> String {
        self.catalogue()
            .create_service(self.admin(CreateServiceRequest {
                idempotency_key: String::new(),
                fields: Some(ServiceFields {
                    code: code.into(),
                    name: name.into(),
                    hourly_price: Some(Money {
                        amount_cents: 2500,
                        currency: "EUR".into(),
                    }),
                    vat_rate_bp: 1000,
                    active: true,
                    tax_credit_eligible: true,
                    ..Default::default()
                }),
            }))
            .await
            .unwrap_or_else(|e| panic!("service {code}: {e}"))
            .into_inner()
            .service
            .map(|s| s.id)
            .unwrap_or_default()
    }

    /// A worker created in the shop with `skill`, available every day
    /// from 7:00 to 20:00.
    pub async fn shop_worker(&self, first_name: &str, last_name: &str, skill: &str) -> String {
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
            .unwrap_or_else(|e| panic!("worker {first_name}: {e}"))
            .into_inner()
            .worker
            .map(|w| w.id)
            .unwrap_or_default()
    }

    /// A care residence in Lyon.
    pub async fn residence(&self, name: &str) -> String {
        self.orders()
            .create_residence(self.admin(CreateResidenceRequest {
                idempotency_key: String::new(),
                name: name.into(),
                address: Some(lyon()),
                email: "accueil@residence.example".into(),
                phone: String::new(),
            }))
            .await
            .unwrap_or_else(|e| panic!("residence {name}: {e}"))
            .into_inner()
            .residence
            .map(|r| r.id)
            .unwrap_or_default()
    }

    /// A resident of `residence` named `first` Martin, with an e-mail.
    pub async fn resident(&self, residence: &str, first: &str) -> String {
        self.orders()
            .create_customer(self.admin(CreateCustomerRequest {
                idempotency_key: String::new(),
                fields: Some(CustomerFields {
                    first_name: first.into(),
                    last_name: "Martin".into(),
                    email: format!("{}@example.org", first.to_lowercase()),
                    residence_id: residence.into(),
                    billing_address: Some(lyon()),
                    ..Default::default()
                }),
            }))
            .await
            .unwrap_or_else(|e| panic!("resident {first}: {e}"))
            .into_inner()
            .customer
            .map(|c| c.id)
            .unwrap_or_default()
    }

    /// `subject` (a staff token's `sub`) made a member of `residence`.
    pub async fn member(&self, residence: &str, subject: &str) {
        self.orders()
            .add_residence_staff(self.admin(AddResidenceStaffRequest {
                residence_id: residence.into(),
                staff_subject: subject.into(),
                display_name: subject.into(),
            }))
            .await
            .unwrap_or_else(|e| panic!("staff {subject}: {e}"));
    }

    /// A pack of 10 h for 220 €, for `service`.
    pub async fn hour_pack(&self, name: &str, service: &str) -> String {
        self.catalogue()
            .create_hour_pack(self.admin(CreateHourPackRequest {
                idempotency_key: String::new(),
                name: name.into(),
                duration_minutes: 600,
                price: Some(Money {
                    amount_cents: 22_000,
                    currency: "EUR".into(),
                }),
                eligible_service_ids: vec![service.into()],
                vat_rate_bp: None,
                active_on_creation: true,
            }))
            .await
            .unwrap_or_else(|e| panic!("hour pack {name}: {e}"))
            .into_inner()
            .hour_pack
            .map(|p| p.id)
            .unwrap_or_default()
    }
}
