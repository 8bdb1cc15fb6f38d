//! Tenant A's back-office records: ERP imports, planning's side of the
//! orders, billing (invoices, a credit note, the ERP's invoice and
//! certificate) and the connector (a connection, a mapping, a run).

use chrono::{Datelike, Utc};
use relais_platform::auth::Role;
use relais_proto::{billing, catalogue, connector, orders, planning};

use crate::stack::{self};

use super::{World, at, eur, key};

impl World {
    /// ERP imports (a family under A's, a product) and planning's side of A's orders.
    pub(super) async fn seed_imports(&mut self) {
        let admin = Role::Admin;
        let booking = self.ids.by_kind["booking"].clone();
        let pack_order = self.ids.by_kind["hour_pack_order"].clone();
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
    }

    /// Billing: the product order's invoice, validated, a credit note, and an
    /// invoice and a certificate from the ERP (validated the day before `now`).
    pub(super) async fn seed_billing(&mut self, now: i64) {
        let admin = Role::Admin;
        let order = self.ids.by_kind["order"].clone();
        let customer = self.ids.by_kind["customer"].clone();
        let worker = self.ids.by_kind["worker"].clone();
        let day = 86_400;
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
    }

    /// The connector: a connection to the reference ERP, a tariff mapping, a
    /// run binding A's customer there; and templates of the reads that need
    /// a customer.
    pub(super) async fn seed_connector(&mut self) {
        let admin = Role::Admin;
        let customer = self.ids.by_kind["customer"].clone();
        let service = self.ids.by_kind["service"].clone();
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
    }
}
