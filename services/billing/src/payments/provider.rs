//! The payment provider behind one trait: Stripe's API over HTTP, or the
//! simulator (in process, or over HTTP with Stripe's shape).

use std::time::Duration;

use serde::Deserialize;

/// An off-session debit of a saved card.
#[derive(Clone, Debug)]
pub struct Charge {
    /// One per attempt: sending it again never charges twice.
    pub idempotency_key: String,
    pub amount_cents: i64,
    pub currency: String,
    pub payment_method_ref: String,
    pub description: String,
    /// The invoice, as metadata on the provider's side.
    pub invoice_id: String,
}

/// Money back on an earlier charge.
#[derive(Clone, Debug)]
pub struct Refund {
    pub idempotency_key: String,
    /// The provider's id of the charge (payment intent).
    pub charge_ref: String,
    pub amount_cents: i64,
}

/// What the provider answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Succeeded {
        provider_ref: String,
    },
    /// The card or the request was refused. `soft`: the same card may pass
    /// later (insufficient funds, issuer unavailable).
    Declined {
        code: String,
        message: String,
        soft: bool,
        provider_ref: String,
    },
    /// No answer (network, timeout, provider error): the outcome is
    /// unknown, so the same call is sent again with the same key.
    Unknown(String),
}

#[tonic::async_trait]
pub trait PaymentProvider: Send + Sync + 'static {
    async fn charge(&self, charge: &Charge) -> Outcome;
    async fn refund(&self, refund: &Refund) -> Outcome;
}

/// Decline codes a later attempt may pass (Stripe's list of soft declines).
pub fn soft_decline(code: &str) -> bool {
    matches!(
        code,
        "insufficient_funds"
            | "processing_error"
            | "try_again_later"
            | "issuer_not_available"
            | "approve_with_id"
            | "reenter_transaction"
            | "generic_decline_soft"
    )
}

/// Stripe's REST API: `POST /v1/payment_intents` (confirm, off-session,
/// saved payment method) and `POST /v1/refunds`, form-encoded, with the
/// attempt's `Idempotency-Key` header.
pub struct StripeProvider {
    base_url: String,
    secret_key: String,
    client: reqwest::Client,
}

#[derive(Deserialize)]
struct StripeObject {
    id: String,
    status: String,
    #[serde(default)]
    last_payment_error: Option<StripeError>,
}

#[derive(Deserialize)]
struct StripeErrorBody {
    error: StripeError,
}

#[derive(Deserialize, Clone)]
struct StripeError {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    decline_code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    payment_intent: Option<Box<StripeObjectRef>>,
}

#[derive(Deserialize, Clone)]
struct StripeObjectRef {
    id: String,
}

impl StripeProvider {
    pub fn new(base_url: &str, secret_key: &str) -> anyhow::Result<Self> {
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            secret_key: secret_key.to_owned(),
            client: relais_platform::http::client(Duration::from_secs(30))?,
        })
    }

    async fn post(&self, path: &str, key: &str, form: &[(&str, String)]) -> Outcome {
        let sent = self
            .client
            .post(format!("{}{path}", self.base_url))
            .bearer_auth(&self.secret_key)
            .header("Idempotency-Key", key)
            .form(form)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return Outcome::Unknown(format!("provider unreachable: {e}")),
        };
        let status = response.status();
        let body = match response.text().await {
            Ok(b) => b,
            Err(e) => return Outcome::Unknown(format!("answer lost: {e}")),
        };
        if status.is_success() {
            return match serde_json::from_str::<StripeObject>(&body) {
                Ok(o) if o.status == "succeeded" => Outcome::Succeeded { provider_ref: o.id },
                Ok(o) => {
                    let e = o.last_payment_error.clone();
                    declined(e.as_ref(), &o.status, o.id)
                }
                Err(e) => Outcome::Unknown(format!("unreadable answer ({status}): {e}")),
            };
        }
        // 429 and 5xx: Stripe's own advice is to retry with the same key.
        if status.as_u16() == 429 || status.is_server_error() {
            return Outcome::Unknown(format!("provider error {status}"));
        }
        match serde_json::from_str::<StripeErrorBody>(&body) {
            // Bad credentials are ours to fix, not the customer's: never a
            // decline (the attempt is retried, then left for staff).
            Ok(b) if status.as_u16() == 401 => Outcome::Unknown(format!(
                "provider refused our credentials: {}",
                b.error.message.unwrap_or_default()
            )),
            Ok(b) => {
                let intent = b
                    .error
                    .payment_intent
                    .as_ref()
                    .map(|p| p.id.clone())
                    .unwrap_or_default();
                declined(Some(&b.error), &b.error.kind.clone(), intent)
            }
            Err(_) => Outcome::Unknown(format!("provider error {status}")),
        }
    }
}

#[derive(Deserialize)]
struct StripePaymentMethod {
    #[serde(default)]
    customer: Option<String>,
}

impl StripeProvider {
    /// `GET /v1/payment_methods/{id}`: the customer it is attached to. A
    /// missing card is a hard decline; no answer, an unknown outcome.
    async fn payment_method_customer(&self, pm: &str) -> Result<Option<String>, Outcome> {
        let url = format!("{}/v1/payment_methods/{pm}", self.base_url);
        let response = self
            .client
            .get(url)
            .bearer_auth(&self.secret_key)
            .send()
            .await
            .map_err(|e| Outcome::Unknown(format!("provider unreachable: {e}")))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| Outcome::Unknown(format!("answer lost: {e}")))?;
        if status.is_success() {
            return serde_json::from_str::<StripePaymentMethod>(&body)
                .map(|p| p.customer)
                .map_err(|e| Outcome::Unknown(format!("unreadable payment method: {e}")));
        }
        if status.as_u16() == 404 {
            let e = serde_json::from_str::<StripeErrorBody>(&body).ok();
            return Err(declined(
                e.as_ref().map(|b| &b.error),
                "resource_missing",
                String::new(),
            ));
        }
        Err(Outcome::Unknown(format!("provider error {status}")))
    }
}

fn declined(e: Option<&StripeError>, fallback: &str, provider_ref: String) -> Outcome {
    let code = e
        .and_then(|e| e.decline_code.clone().or_else(|| e.code.clone()))
        .unwrap_or_else(|| fallback.to_owned());
    Outcome::Declined {
        soft: soft_decline(&code),
        message: e.and_then(|e| e.message.clone()).unwrap_or_default(),
        code,
        provider_ref,
    }
}

#[tonic::async_trait]
impl PaymentProvider for StripeProvider {
    async fn charge(&self, c: &Charge) -> Outcome {
        // A saved card belongs to a Stripe customer, whom the intent must
        // name: read it from the payment method.
        let customer = match self.payment_method_customer(&c.payment_method_ref).await {
            Ok(customer) => customer,
            Err(outcome) => return outcome,
        };
        let mut form = vec![
            ("amount", c.amount_cents.to_string()),
            ("currency", c.currency.to_lowercase()),
            ("payment_method", c.payment_method_ref.clone()),
            ("confirm", "true".into()),
            ("off_session", "true".into()),
            ("description", c.description.clone()),
            ("metadata[invoice_id]", c.invoice_id.clone()),
        ];
        if let Some(customer) = customer {
            form.push(("customer", customer));
        }
        self.post("/v1/payment_intents", &c.idempotency_key, &form)
            .await
    }

    async fn refund(&self, r: &Refund) -> Outcome {
        self.post(
            "/v1/refunds",
            &r.idempotency_key,
            &[
                ("payment_intent", r.charge_ref.clone()),
                ("amount", r.amount_cents.to_string()),
            ],
        )
        .await
    }
}
