//! The demo customer's tax certificate, as the demo ERP validated it.

use relais_proto::types::Money;

use crate::{
    auth::{Actor, token},
    client::{authed, connect},
    demo::TENANT,
};

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
    let token = token(TENANT, &Actor::Connector("demo-erp".into()))?;
    let mut client = BillingServiceClient::new(connect(billing).await?);
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
