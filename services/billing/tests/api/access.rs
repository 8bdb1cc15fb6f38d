//! The role × operation table of `docs/access.md`, checked against the
//! real services: the table must name every RPC of every service, and each
//! billing and planning row is called with each of its seven callers, the
//! outcome compared with the cell. Then a staff member removed from a
//! residence loses access in billing and planning as soon as the event
//! arrives.

use std::{collections::BTreeSet, fmt, time::Duration};

use chrono::{Datelike, TimeZone, Utc};
use prost::Message;
use relais_platform::{
    auth::{Claims, Role},
    testing::{self, with_token},
};
use relais_proto::{
    billing::{
        CertificateWorker, CreateCreditNoteRequest, DraftMonthlyInvoicesRequest,
        DraftServiceInvoicesRequest, ErpInvoiceLine, GetInvoiceDocumentRequest, GetInvoiceRequest,
        GetTaxCertificateDocumentRequest, IssueTaxCertificateRequest, ListInvoicesRequest,
        ListPaymentsRequest, ListTaxCertificatesRequest, RecordErpInvoiceRequest,
        RecordErpTaxCertificateRequest, ValidateInvoiceRequest,
    },
    catalogue::{CreateHourPackRequest, CreateServiceRequest, ServiceFields},
    orders::{
        AddResidenceStaffRequest, Address, ChangeOrderStatusRequest, CreateCustomerRequest,
        CreateResidenceRequest, CustomerFields, OrderStatus, PaymentMode, PlaceBookingRequest,
        PlaceHourPackOrderRequest, RemoveResidenceStaffRequest, Schedule,
    },
    planning::{
        AddAbsenceRequest, Cancel, ChangeInterventionsRequest, ChangeScope, CheckSlotsRequest,
        CreateWorkerRequest, ExportInterventionsRequest, FindAvailableWorkersRequest,
        GetPackBalanceRequest, GetWorkerRequest, ListAbsencesRequest, ListInterventionsRequest,
        ListPackBalancesRequest, ListWorkersRequest, RemoveAbsenceRequest, TimeSlot,
        UpdateWorkerRequest, WeeklySlot, Worker, WorkerFields,
        change_interventions_request::Change,
    },
    types::Money,
};
use tonic::{Code, Response, Status};
use uuid::Uuid;

use crate::invoices::{Stack, spawn};

const TABLE: &str = include_str!("../../../../docs/access.md");

/// The callers, in the table's column order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Customer,
    OtherCustomer,
    StaffR1,
    StaffR2,
    Admin,
    Connector,
    Service,
}

const CALLERS: [Who; 7] = [
    Who::Customer,
    Who::OtherCustomer,
    Who::StaffR1,
    Who::StaffR2,
    Who::Admin,
    Who::Connector,
    Who::Service,
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Allowed,
    Filtered,
    NotFound,
    Denied,
    Public,
    Other(String),
}

impl Outcome {
    fn parse(cell: &str) -> Self {
        match cell {
            "allowed" => Self::Allowed,
            "filtered" => Self::Filtered,
            "not found" => Self::NotFound,
            "denied" => Self::Denied,
            "public" => Self::Public,
            other => panic!("docs/access.md: unknown cell {other:?}"),
        }
    }

    /// An error: the access errors, or the domain's refusal of a write
    /// probed on a record in a state it refuses (past access).
    fn of(status: &Status) -> Self {
        match status.code() {
            Code::NotFound => Self::NotFound,
            Code::PermissionDenied => Self::Denied,
            Code::FailedPrecondition => Self::Allowed,
            c => Self::Other(format!("{c:?}: {}", status.message())),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Allowed => f.write_str("allowed"),
            Self::Filtered => f.write_str("filtered"),
            Self::NotFound => f.write_str("not found"),
            Self::Denied => f.write_str("denied"),
            Self::Public => f.write_str("public"),
            Self::Other(s) => write!(f, "{s}"),
        }
    }
}

struct Row {
    service: String,
    rpc: String,
    cells: Vec<Outcome>,
}

/// The table's rows (every line starting with `|` after the header).
fn rows() -> Vec<Row> {
    let mut lines = TABLE.lines().filter(|l| l.starts_with('|')).map(|l| {
        l.trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_owned())
            .collect::<Vec<_>>()
    });
    let header = lines.next().expect("docs/access.md has a table");
    assert_eq!(
        header,
        [
            "service",
            "rpc",
            "customer",
            "other customer",
            "staff R1",
            "staff R2",
            "admin",
            "connector",
            "service"
        ],
        "docs/access.md: the table's columns"
    );
    lines
        .filter(|cells| !cells[0].starts_with("---"))
        .map(|cells| {
            assert_eq!(cells.len(), 9, "docs/access.md: row {cells:?}");
            Row {
                service: cells[0].clone(),
                rpc: cells[1].clone(),
                cells: cells[2..].iter().map(|c| Outcome::parse(c)).collect(),
            }
        })
        .collect()
}

/// (service, rpc) of every RPC the services serve.
fn served() -> BTreeSet<(String, String)> {
    let set = prost_types::FileDescriptorSet::decode(relais_proto::FILE_DESCRIPTOR_SET).unwrap();
    let mut out = BTreeSet::new();
    for file in set.file {
        let package = file.package().to_owned();
        for service in &file.service {
            let name = package
                .strip_prefix("relais.")
                .and_then(|p| p.strip_suffix(".v1"))
                .unwrap_or(&package)
                .to_owned();
            for m in &service.method {
                out.insert((name.clone(), m.name().to_owned()));
            }
        }
    }
    out
}

#[test]
fn the_table_names_every_rpc_once() {
    let rows = rows();
    let named: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r.service.clone(), r.rpc.clone()))
        .collect();
    let unique: BTreeSet<_> = named.iter().cloned().collect();
    assert_eq!(unique.len(), named.len(), "a row twice in docs/access.md");
    let served = served();
    let missing: Vec<_> = served.difference(&unique).collect();
    let unknown: Vec<_> = unique.difference(&served).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "docs/access.md: missing rows {missing:?}, rows of no RPC {unknown:?}"
    );
}

fn eur(cents: i64) -> Option<Money> {
    Some(Money {
        amount_cents: cents,
        currency: "EUR".into(),
    })
}

fn at(t: chrono::DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(relais_platform::context::timestamp(t))
}

/// A's records and the people around them.
struct Fixture {
    stack: Stack,
    r1: String,
    r2: String,
    a: Uuid,
    b: Uuid,
    invoice: String,
    certificate: String,
    certificate_year: i32,
    worker: String,
    service: String,
    intervention: String,
    pack: String,
}

fn worker_fields(service: &str, name: &str) -> WorkerFields {
    WorkerFields {
        first_name: "Awa".into(),
        last_name: name.into(),
        email: "awa.private@example.org".into(),
        phone: "+33 6 12 34 56 78".into(),
        photo_url: "https://example.org/awa.jpg".into(),
        skill_service_ids: vec![service.into()],
        availability: (1..=7)
            .map(|d| WeeklySlot {
                weekday: d,
                start_time: "07:00".into(),
                end_time: "20:00".into(),
            })
            .collect(),
        active: true,
        ..Default::default()
    }
}

impl Fixture {
    fn token(&self, who: Who) -> String {
        let (sub, role, customer_id, residences, connection) = match who {
            Who::Customer => ("customer-a", Role::Customer, Some(self.a), vec![], None),
            Who::OtherCustomer => ("customer-b", Role::Customer, Some(self.b), vec![], None),
            Who::StaffR1 => ("staff-r1", Role::Staff, None, vec![self.r1()], None),
            Who::StaffR2 => ("staff-r2", Role::Staff, None, vec![self.r2()], None),
            Who::Admin => ("admin", Role::Admin, None, vec![], None),
            Who::Connector => (
                "connector",
                Role::Connector,
                None,
                vec![],
                Some("demo-erp".to_owned()),
            ),
            Who::Service => ("orders", Role::Service, None, vec![], None),
        };
        testing::token_with(&Claims {
            sub: sub.into(),
            tenant: self.stack.tenant,
            role,
            customer_id,
            residences,
            connection,
            exp: Utc::now().timestamp() + 600,
        })
    }

    fn r1(&self) -> Uuid {
        Uuid::parse_str(&self.r1).unwrap()
    }

    fn r2(&self) -> Uuid {
        Uuid::parse_str(&self.r2).unwrap()
    }

    async fn build() -> Self {
        let stack = spawn().await;
        let mut orders = stack.orders.clone();
        let residence = |name: &str| CreateResidenceRequest {
            name: name.into(),
            address: Some(Address {
                line1: "1 place Bellecour".into(),
                postal_code: "69002".into(),
                city: "Lyon".into(),
                ..Default::default()
            }),
            email: "accueil@example.org".into(),
            ..Default::default()
        };
        let mut ids = vec![];
        for (name, staff) in [("Les Tilleuls", "staff-r1"), ("Les Glycines", "staff-r2")] {
            let r = orders
                .create_residence(stack.admin(residence(name)))
                .await
                .unwrap()
                .into_inner()
                .residence
                .unwrap()
                .id;
            orders
                .add_residence_staff(stack.admin(AddResidenceStaffRequest {
                    residence_id: r.clone(),
                    staff_subject: staff.into(),
                    display_name: staff.into(),
                }))
                .await
                .unwrap();
            ids.push(r);
        }
        let (r1, r2) = (ids[0].clone(), ids[1].clone());
        let resident = |last: &str, residence: &str| CreateCustomerRequest {
            idempotency_key: String::new(),
            fields: Some(CustomerFields {
                first_name: "Jeanne".into(),
                last_name: last.into(),
                email: format!("{}@example.org", last.to_lowercase()),
                billing_address: Some(Address {
                    line1: "1 place Bellecour".into(),
                    postal_code: "69002".into(),
                    city: "Lyon".into(),
                    ..Default::default()
                }),
                residence_id: residence.into(),
                payment_method_ref: "pm_card_visa".into(),
                ..Default::default()
            }),
        };
        let mut customer = async |last: &str, residence: &str| {
            orders
                .create_customer(stack.admin(resident(last, residence)))
                .await
                .unwrap()
                .into_inner()
                .customer
                .unwrap()
                .id
        };
        let a = customer("Aubert", &r1).await;
        let b = customer("Berthier", &r2).await;

        // A service, a worker, a booking tomorrow 9:00 to 11:00, a pack.
        let service = stack
            .catalogue
            .clone()
            .create_service(stack.admin(CreateServiceRequest {
                idempotency_key: String::new(),
                fields: Some(ServiceFields {
                    code: "MENAGE".into(),
                    name: "Ménage à domicile".into(),
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
            .id;
        let worker = stack
            .planning
            .clone()
            .create_worker(stack.admin(CreateWorkerRequest {
                idempotency_key: String::new(),
                fields: Some(worker_fields(&service, "Diallo")),
            }))
            .await
            .unwrap()
            .into_inner()
            .worker
            .unwrap()
            .id;
        let day = (Utc::now() + chrono::Duration::days(1))
            .with_timezone(&chrono_tz::Europe::Paris)
            .date_naive();
        let booking = orders
            .place_booking(stack.admin(PlaceBookingRequest {
                idempotency_key: "access-booking".into(),
                customer_id: a.clone(),
                service_id: service.clone(),
                schedule: Some(Schedule {
                    first_date: day.format("%Y-%m-%d").to_string(),
                    start_time: "09:00".into(),
                    duration_minutes: 120,
                    ..Default::default()
                }),
                worker_id: worker.clone(),
                payment_mode: PaymentMode::Card as i32,
                terms_accepted: true,
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner()
            .order
            .unwrap()
            .id;
        let hour_pack = stack
            .catalogue
            .clone()
            .create_hour_pack(stack.admin(CreateHourPackRequest {
                idempotency_key: String::new(),
                name: "5 h de ménage".into(),
                duration_minutes: 300,
                price: eur(11_000),
                eligible_service_ids: vec![service.clone()],
                vat_rate_bp: None,
                active_on_creation: true,
            }))
            .await
            .unwrap()
            .into_inner()
            .hour_pack
            .unwrap()
            .id;
        let pack = orders
            .place_hour_pack_order(stack.admin(PlaceHourPackOrderRequest {
                idempotency_key: String::new(),
                customer_id: a.clone(),
                hour_pack_id: hour_pack,
                terms_accepted: true,
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner()
            .order
            .unwrap()
            .id;
        for order in [&booking, &pack] {
            orders
                .change_order_status(stack.admin(ChangeOrderStatusRequest {
                    id: order.clone(),
                    status: OrderStatus::Confirmed as i32,
                    ..Default::default()
                }))
                .await
                .unwrap();
        }

        // A's invoice (validated in the ERP: numbered, PDF, card debit) and
        // a certificate, once billing knows A.
        let invoice = testing::eventually(Duration::from_secs(20), || {
            let mut billing = stack.billing.clone();
            let req = stack.connector(erp_invoice("ERP-A-1", &a));
            async move {
                billing
                    .record_erp_invoice(req)
                    .await
                    .ok()?
                    .into_inner()
                    .invoice
            }
        })
        .await
        .expect("billing records A's invoice")
        .id;
        let certificate_year = Utc::now().year() - 2;
        let certificate = stack
            .billing
            .clone()
            .record_erp_tax_certificate(stack.connector(erp_certificate(
                "AT-A-1",
                &a,
                certificate_year,
            )))
            .await
            .unwrap()
            .into_inner()
            .certificate
            .unwrap()
            .id;
        let mut f = Fixture {
            r1,
            r2,
            a: Uuid::parse_str(&a).unwrap(),
            b: Uuid::parse_str(&b).unwrap(),
            invoice,
            certificate,
            certificate_year,
            worker,
            service,
            intervention: String::new(),
            pack,
            stack,
        };
        // Planning has A's intervention and pack, and both services know
        // that staff-r1 is a member of A's residence.
        let staff = f.token(Who::StaffR1);
        f.intervention = testing::eventually(Duration::from_secs(20), || {
            let mut planning = f.stack.planning.clone();
            let req = with_token(
                &staff,
                ListInterventionsRequest {
                    customer_id: f.a.to_string(),
                    ..Default::default()
                },
            );
            async move {
                let list = planning.list_interventions(req).await.ok()?.into_inner();
                list.interventions.first().map(|i| i.id.clone())
            }
        })
        .await
        .expect("planning shows A's intervention to staff of R1");
        testing::eventually(Duration::from_secs(20), || {
            let mut planning = f.stack.planning.clone();
            let req = f.stack.admin(GetPackBalanceRequest {
                pack_order_id: f.pack.clone(),
            });
            async move { planning.get_pack_balance(req).await.ok() }
        })
        .await
        .expect("planning opens A's pack");
        testing::eventually(Duration::from_secs(20), || {
            let mut billing = f.stack.billing.clone();
            let req = with_token(
                &staff,
                GetInvoiceRequest {
                    id: f.invoice.clone(),
                },
            );
            async move { billing.get_invoice(req).await.ok() }
        })
        .await
        .expect("billing shows A's invoice to staff of R1");
        f
    }

    /// Calls `rpc` as `who`; `n` makes keys and numbers unique.
    async fn probe(&self, service: &str, rpc: &str, who: Who, n: usize) -> Outcome {
        let token = self.token(who);
        let mut billing = self.stack.billing.clone();
        let mut planning = self.stack.planning.clone();
        let a = self.a.to_string();
        let month = Utc::now().format("%Y-%m").to_string();
        match (service, rpc) {
            ("billing", "GetInvoice") => one(billing
                .get_invoice(with_token(
                    &token,
                    GetInvoiceRequest {
                        id: self.invoice.clone(),
                    },
                ))
                .await),
            ("billing", "ListInvoices") => listing(
                billing
                    .list_invoices(with_token(
                        &token,
                        ListInvoicesRequest {
                            customer_id: a,
                            ..Default::default()
                        },
                    ))
                    .await,
                |r| !r.invoices.is_empty(),
            ),
            ("billing", "ValidateInvoice") => one(
                // Validated already: past access, FAILED_PRECONDITION.
                billing
                    .validate_invoice(with_token(
                        &token,
                        ValidateInvoiceRequest {
                            id: self.invoice.clone(),
                            expected_version: 0,
                        },
                    ))
                    .await,
            ),
            ("billing", "CreateCreditNote") => one(billing
                .create_credit_note(with_token(
                    &token,
                    CreateCreditNoteRequest {
                        idempotency_key: format!("access-credit-{n}"),
                        invoice_id: self.invoice.clone(),
                        amount: eur(1),
                        reason: "geste commercial".into(),
                    },
                ))
                .await),
            ("billing", "DraftMonthlyInvoices") => one(billing
                .draft_monthly_invoices(with_token(
                    &token,
                    DraftMonthlyInvoicesRequest {
                        month,
                        residence_id: self.r1.clone(),
                    },
                ))
                .await),
            ("billing", "GetInvoiceDocument") => one(billing
                .get_invoice_document(with_token(
                    &token,
                    GetInvoiceDocumentRequest {
                        id: self.invoice.clone(),
                    },
                ))
                .await),
            ("billing", "ListPayments") => listing(
                billing
                    .list_payments(with_token(
                        &token,
                        ListPaymentsRequest {
                            customer_id: a,
                            ..Default::default()
                        },
                    ))
                    .await,
                |r| !r.payments.is_empty(),
            ),
            ("billing", "RecordErpInvoice") => one(billing
                .record_erp_invoice(with_token(&token, erp_invoice(&format!("ERP-A-P{n}"), &a)))
                .await),
            ("billing", "DraftServiceInvoices") => one(billing
                .draft_service_invoices(with_token(
                    &token,
                    DraftServiceInvoicesRequest {
                        month,
                        customer_id: a,
                    },
                ))
                .await),
            ("billing", "IssueTaxCertificate") => one(
                // Certified already: asking again returns it.
                billing
                    .issue_tax_certificate(with_token(
                        &token,
                        IssueTaxCertificateRequest {
                            customer_id: a,
                            year: self.certificate_year,
                        },
                    ))
                    .await,
            ),
            ("billing", "RecordErpTaxCertificate") => one(billing
                .record_erp_tax_certificate(with_token(
                    &token,
                    erp_certificate(&format!("AT-A-P{n}"), &a, self.certificate_year - 1),
                ))
                .await),
            ("billing", "ListTaxCertificates") => listing(
                billing
                    .list_tax_certificates(with_token(
                        &token,
                        ListTaxCertificatesRequest { customer_id: a },
                    ))
                    .await,
                |r| !r.certificates.is_empty(),
            ),
            ("billing", "GetTaxCertificateDocument") => one(billing
                .get_tax_certificate_document(with_token(
                    &token,
                    GetTaxCertificateDocumentRequest {
                        id: self.certificate.clone(),
                    },
                ))
                .await),
            ("planning", "CreateWorker") => one(planning
                .create_worker(with_token(
                    &token,
                    CreateWorkerRequest {
                        idempotency_key: format!("access-worker-{n}"),
                        fields: Some(worker_fields(&self.service, &format!("Probe {n}"))),
                    },
                ))
                .await),
            ("planning", "UpdateWorker") => one(
                // A stale version: past access, FAILED_PRECONDITION.
                planning
                    .update_worker(with_token(
                        &token,
                        UpdateWorkerRequest {
                            id: self.worker.clone(),
                            expected_version: 999,
                            fields: Some(worker_fields(&self.service, "Diallo")),
                        },
                    ))
                    .await,
            ),
            ("planning", "GetWorker") => match planning
                .get_worker(with_token(
                    &token,
                    GetWorkerRequest {
                        id: self.worker.clone(),
                    },
                ))
                .await
            {
                Ok(r) => shown(r.into_inner().worker.iter(), &self.worker),
                Err(s) => Outcome::of(&s),
            },
            ("planning", "ListWorkers") => match planning
                .list_workers(with_token(
                    &token,
                    ListWorkersRequest {
                        page: Some(relais_proto::types::PageRequest {
                            page_size: 100,
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                ))
                .await
            {
                Ok(r) => shown(r.into_inner().workers.iter(), &self.worker),
                Err(s) => Outcome::of(&s),
            },
            ("planning", "AddAbsence") => one(planning
                .add_absence(with_token(&token, absence(&self.worker, n)))
                .await),
            ("planning", "RemoveAbsence") => {
                let absence = self
                    .stack
                    .planning
                    .clone()
                    .add_absence(self.stack.admin(absence(&self.worker, 1000 + n)))
                    .await
                    .unwrap()
                    .into_inner()
                    .absence
                    .unwrap();
                one(planning
                    .remove_absence(with_token(
                        &token,
                        RemoveAbsenceRequest {
                            worker_id: self.worker.clone(),
                            absence_id: absence.id,
                        },
                    ))
                    .await)
            }
            ("planning", "ListAbsences") => one(planning
                .list_absences(with_token(
                    &token,
                    ListAbsencesRequest {
                        worker_id: self.worker.clone(),
                    },
                ))
                .await),
            ("planning", "ListInterventions") => listing(
                planning
                    .list_interventions(with_token(
                        &token,
                        ListInterventionsRequest {
                            customer_id: a,
                            ..Default::default()
                        },
                    ))
                    .await,
                |r| !r.interventions.is_empty(),
            ),
            ("planning", "FindAvailableWorkers") => {
                // The day after tomorrow, 14:00 to 15:00 in Paris.
                let day = (Utc::now() + chrono::Duration::days(2))
                    .with_timezone(&chrono_tz::Europe::Paris)
                    .date_naive();
                let start = chrono_tz::Europe::Paris
                    .from_local_datetime(&day.and_hms_opt(14, 0, 0).unwrap())
                    .unwrap()
                    .with_timezone(&Utc);
                match planning
                    .find_available_workers(with_token(
                        &token,
                        FindAvailableWorkersRequest {
                            service_id: self.service.clone(),
                            start: at(start),
                            end: at(start + chrono::Duration::hours(1)),
                        },
                    ))
                    .await
                {
                    Ok(r) => shown(r.into_inner().workers.iter(), &self.worker),
                    Err(s) => Outcome::of(&s),
                }
            }
            ("planning", "CheckSlots") => {
                // Worker ids only (no contact), for anyone booking: the
                // day after tomorrow, 14:00 to 15:00 in Paris.
                let day = (Utc::now() + chrono::Duration::days(2))
                    .with_timezone(&chrono_tz::Europe::Paris)
                    .date_naive();
                let start = chrono_tz::Europe::Paris
                    .from_local_datetime(&day.and_hms_opt(14, 0, 0).unwrap())
                    .unwrap()
                    .with_timezone(&Utc);
                match planning
                    .check_slots(with_token(
                        &token,
                        CheckSlotsRequest {
                            service_id: self.service.clone(),
                            worker_id: String::new(),
                            slots: vec![TimeSlot {
                                start: at(start),
                                end: at(start + chrono::Duration::hours(1)),
                            }],
                        },
                    ))
                    .await
                {
                    Ok(r) if r.get_ref().slots[0].free_worker_ids.contains(&self.worker) => {
                        Outcome::Allowed
                    }
                    Ok(_) => Outcome::Filtered,
                    Err(s) => Outcome::of(&s),
                }
            }
            ("planning", "ChangeInterventions") => one(
                // A stale version: past access, FAILED_PRECONDITION.
                planning
                    .change_interventions(with_token(
                        &token,
                        ChangeInterventionsRequest {
                            intervention_id: self.intervention.clone(),
                            scope: ChangeScope::One as i32,
                            expected_version: 999,
                            change: Some(Change::Cancel(Cancel {
                                reason: "probe".into(),
                            })),
                        },
                    ))
                    .await,
            ),
            ("planning", "GetPackBalance") => one(planning
                .get_pack_balance(with_token(
                    &token,
                    GetPackBalanceRequest {
                        pack_order_id: self.pack.clone(),
                    },
                ))
                .await),
            ("planning", "ExportInterventions") => {
                let asked = planning
                    .export_interventions(with_token(
                        &token,
                        ExportInterventionsRequest {
                            from: at(Utc::now()),
                            to: at(Utc::now() + chrono::Duration::days(3)),
                            ..Default::default()
                        },
                    ))
                    .await;
                match asked {
                    Err(s) => Outcome::of(&s),
                    Ok(r) => {
                        let mut stream = r.into_inner();
                        let mut csv = Vec::new();
                        loop {
                            match stream.message().await {
                                Ok(Some(chunk)) => csv.extend(chunk.data),
                                Ok(None) => break,
                                Err(s) => return Outcome::of(&s),
                            }
                        }
                        if String::from_utf8_lossy(&csv).contains(&self.intervention) {
                            Outcome::Allowed
                        } else {
                            Outcome::Filtered
                        }
                    }
                }
            }
            ("planning", "ListPackBalances") => listing(
                planning
                    .list_pack_balances(with_token(
                        &token,
                        ListPackBalancesRequest { customer_id: a },
                    ))
                    .await,
                |r| !r.balances.is_empty(),
            ),
            (s, r) => panic!("docs/access.md names {s} {r}, which this test cannot call"),
        }
    }
}

fn erp_invoice(number: &str, customer: &str) -> RecordErpInvoiceRequest {
    RecordErpInvoiceRequest {
        external_number: number.into(),
        customer_id: customer.into(),
        lines: vec![ErpInvoiceLine {
            reference: "MEN-H".into(),
            description: "Ménage à domicile".into(),
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

fn erp_certificate(number: &str, customer: &str, year: i32) -> RecordErpTaxCertificateRequest {
    RecordErpTaxCertificateRequest {
        external_number: number.into(),
        customer_id: customer.into(),
        year,
        amount_paid: eur(120_000),
        minutes: 3000,
        workers: vec![CertificateWorker {
            worker_id: String::new(),
            name: "Awa Diallo".into(),
            minutes: 3000,
        }],
    }
}

fn absence(worker: &str, n: usize) -> AddAbsenceRequest {
    let start = Utc.with_ymd_and_hms(2090, 1, 1, 8, 0, 0).unwrap()
        + chrono::Duration::days(i64::try_from(n).unwrap());
    AddAbsenceRequest {
        worker_id: worker.into(),
        start: at(start),
        end: at(start + chrono::Duration::hours(1)),
        reason: "congé".into(),
    }
}

fn one<T>(r: Result<Response<T>, Status>) -> Outcome {
    match r {
        Ok(_) => Outcome::Allowed,
        Err(s) => Outcome::of(&s),
    }
}

fn listing<T>(r: Result<Response<T>, Status>, has_a: impl Fn(&T) -> bool) -> Outcome {
    match r {
        Ok(r) if has_a(r.get_ref()) => Outcome::Allowed,
        Ok(_) => Outcome::Filtered,
        Err(s) => Outcome::of(&s),
    }
}

/// The worker `id` among `workers`: with their contact (allowed), without
/// (public), or absent (filtered).
fn shown<'a>(mut workers: impl Iterator<Item = &'a Worker>, id: &str) -> Outcome {
    match workers.find(|w| w.id == id).and_then(|w| w.fields.as_ref()) {
        Some(f) if f.email.is_empty() && f.phone.is_empty() => Outcome::Public,
        Some(f) if !f.email.is_empty() && !f.phone.is_empty() => Outcome::Allowed,
        Some(f) => Outcome::Other(format!("email {:?}, phone {:?}", f.email, f.phone)),
        None => Outcome::Filtered,
    }
}

#[tokio::test]
async fn access_table() {
    let f = Fixture::build().await;
    let started = std::time::Instant::now();
    let mut wrong = vec![];
    let mut calls = 0;
    for row in rows()
        .into_iter()
        .filter(|r| r.service == "billing" || r.service == "planning")
    {
        for (who, expected) in CALLERS.iter().zip(&row.cells) {
            calls += 1;
            let got = f.probe(&row.service, &row.rpc, *who, calls).await;
            if &got != expected {
                wrong.push(format!(
                    "{} {} as {who:?}: expected {expected}, got {got}",
                    row.service, row.rpc
                ));
            }
        }
    }
    eprintln!("{calls} calls in {:?}", started.elapsed());
    assert!(
        wrong.is_empty(),
        "{} of {calls} calls differ from docs/access.md:\n{}",
        wrong.len(),
        wrong.join("\n")
    );

    // Removed from R1, staff-r1 loses A's records in billing and planning
    // as soon as the event arrives, with the same token.
    let removed = std::time::Instant::now();
    f.stack
        .orders
        .clone()
        .remove_residence_staff(f.stack.admin(RemoveResidenceStaffRequest {
            residence_id: f.r1.clone(),
            staff_subject: "staff-r1".into(),
        }))
        .await
        .unwrap();
    let gone = testing::eventually(Duration::from_secs(10), || async {
        let invoice = f.probe("billing", "GetInvoice", Who::StaffR1, 0).await;
        let interventions = f
            .probe("planning", "ListInterventions", Who::StaffR1, 0)
            .await;
        (invoice == Outcome::NotFound && interventions == Outcome::Filtered).then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "a removed member still sees the residence's records"
    );
    eprintln!(
        "revoked in billing and planning after {:?}",
        removed.elapsed()
    );
}
