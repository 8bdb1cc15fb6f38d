//! Calling one RPC of the table as one caller, and reading the answer as
//! a cell of the table (allowed, filtered, public, refused...).

use chrono::{TimeZone, Utc};
use relais_platform::testing::with_token;
use relais_proto::{
    billing::{
        CreateCreditNoteRequest, DraftMonthlyInvoicesRequest, DraftServiceInvoicesRequest,
        GetInvoiceDocumentRequest, GetInvoiceRequest, GetTaxCertificateDocumentRequest,
        IssueTaxCertificateRequest, ListInvoicesRequest, ListPaymentsRequest,
        ListTaxCertificatesRequest, ValidateInvoiceRequest,
    },
    orders::{
        GetCustomerPaymentMethodRequest, RemoveCustomerPaymentMethodRequest,
        SetCustomerPaymentMethodRequest,
    },
    planning::{
        Cancel, ChangeInterventionsRequest, ChangeScope, CheckSlotsRequest, CreateWorkerRequest,
        ExportInterventionsRequest, FindAvailableWorkersRequest, GetPackBalanceRequest,
        GetWorkerRequest, ListAbsencesRequest, ListInterventionsRequest, ListPackBalancesRequest,
        ListWorkersRequest, RemoveAbsenceRequest, TimeSlot, UpdateWorkerRequest, Worker,
        change_interventions_request::Change,
    },
};
use tonic::{Response, Status};

use super::fixture::Fixture;
use super::requests::{absence, at, erp_certificate, erp_invoice, eur, worker_fields};
use super::{Outcome, Who};

impl Fixture {
    /// Calls `rpc` as `who`; `n` makes keys and numbers unique.
    pub(super) async fn probe(&self, service: &str, rpc: &str, who: Who, n: usize) -> Outcome {
        let token = self.token(who);
        let mut billing = self.stack.billing.clone();
        let mut planning = self.stack.planning.clone();
        let mut orders = self.stack.orders.clone();
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
            // A's saved card (orders): the same callers on the customer
            // the rows are about. Set saves the card A has (no change);
            // Remove, probed after every billing row, forgets it.
            ("orders", "GetCustomerPaymentMethod") => one(orders
                .get_customer_payment_method(with_token(
                    &token,
                    GetCustomerPaymentMethodRequest { customer_id: a },
                ))
                .await),
            ("orders", "SetCustomerPaymentMethod") => one(orders
                .set_customer_payment_method(with_token(
                    &token,
                    SetCustomerPaymentMethodRequest {
                        customer_id: a,
                        payment_method_ref: "pm_card_visa".into(),
                    },
                ))
                .await),
            ("orders", "RemoveCustomerPaymentMethod") => one(orders
                .remove_customer_payment_method(with_token(
                    &token,
                    RemoveCustomerPaymentMethodRequest { customer_id: a },
                ))
                .await),
            (s, r) => panic!("docs/access.md names {s} {r}, which this test cannot call"),
        }
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
