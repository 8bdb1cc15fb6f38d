//! What many tests first make in the shop, as the tenant's admin would.

use relais_proto::{
    catalogue::{CreateServiceRequest, ServiceFields},
    planning::{CreateWorkerRequest, WeeklySlot, WorkerFields},
    types::Money,
};

use crate::Stack;

impl Stack {
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
}
