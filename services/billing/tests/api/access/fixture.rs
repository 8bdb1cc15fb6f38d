//! The records the access table is tried on: two residences with their
//! staff, customers A and B, A's invoice, certificate, intervention and
//! hour pack, a worker; and each caller's token.

use std::time::Duration;

use chrono::{Datelike, Utc};
use relais_platform::{
    auth::{Claims, Role},
    testing::{self, with_token},
};
use relais_proto::{
    billing::GetInvoiceRequest,
    catalogue::{CreateHourPackRequest, CreateServiceRequest, ServiceFields},
    orders::{
        AddResidenceStaffRequest, Address, ChangeOrderStatusRequest, CreateCustomerRequest,
        CreateResidenceRequest, CustomerFields, OrderStatus, PaymentMode, PlaceBookingRequest,
        PlaceHourPackOrderRequest, Schedule,
    },
    planning::{CreateWorkerRequest, GetPackBalanceRequest, ListInterventionsRequest},
};
use uuid::Uuid;

use crate::stack::{Stack, spawn};

use super::Who;
use super::requests::{erp_certificate, erp_invoice, eur, worker_fields};

/// A's records and the people around them.
pub(super) struct Fixture {
    pub(super) stack: Stack,
    pub(super) r1: String,
    pub(super) r2: String,
    pub(super) a: Uuid,
    pub(super) b: Uuid,
    pub(super) invoice: String,
    pub(super) certificate: String,
    pub(super) certificate_year: i32,
    pub(super) worker: String,
    pub(super) service: String,
    pub(super) intervention: String,
    pub(super) pack: String,
}

impl Fixture {
    pub(super) fn token(&self, who: Who) -> String {
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

    pub(super) fn r1(&self) -> Uuid {
        Uuid::parse_str(&self.r1).unwrap()
    }

    pub(super) fn r2(&self) -> Uuid {
        Uuid::parse_str(&self.r2).unwrap()
    }

    pub(super) async fn build() -> Self {
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
}
