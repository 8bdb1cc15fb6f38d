//! A payment provider that behaves like Stripe's test mode, for dev and
//! tests: in process, or served over HTTP with Stripe's API shape so the
//! HTTP adapter is exercised too. Like the real one it remembers each
//! idempotency key and answers a repeated call with the first answer, and
//! its test payment methods decline or fail the way real cards do:
//!
//! | payment method                          | what happens                          |
//! |-----------------------------------------|---------------------------------------|
//! | `pm_card_visa`, `pm_card_mastercard`    | charged                               |
//! | `pm_card_chargeDeclined`                | declined: `generic_decline` (hard)    |
//! | `pm_card_chargeDeclinedExpiredCard`     | declined: `expired_card` (hard)       |
//! | `pm_card_chargeDeclinedInsufficientFunds` | declined: `insufficient_funds` (soft), always |
//! | `pm_card_insufficientFundsOnce`         | soft decline, then charged next time  |
//! | `pm_card_networkError`                  | charged, but the first answer is lost |
//! | anything else                           | `resource_missing` (hard)             |

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::{
    Form, Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;

use super::provider::{Charge, Outcome, PaymentProvider, Refund};

/// One charge the simulated provider made.
#[derive(Clone, Debug)]
pub struct Charged {
    pub intent: String,
    pub invoice_id: String,
    pub amount_cents: i64,
    pub refunded_cents: i64,
}

#[derive(Default)]
struct Ledger {
    /// Idempotency key -> the answer given.
    answers: HashMap<String, Outcome>,
    /// Keys whose first answer was "lost" (network error) already.
    lost: HashMap<String, ()>,
    /// (payment method, invoice) that already had one soft decline.
    declined_once: HashMap<(String, String), ()>,
    charges: Vec<Charged>,
    calls: u64,
}

#[derive(Clone, Default)]
pub struct Simulator {
    ledger: Arc<Mutex<Ledger>>,
}

impl Simulator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every charge made, in order.
    pub fn charges(&self) -> Vec<Charged> {
        self.ledger
            .lock()
            .map(|l| l.charges.clone())
            .unwrap_or_default()
    }

    /// Calls received, repeats included.
    pub fn calls(&self) -> u64 {
        self.ledger.lock().map(|l| l.calls).unwrap_or_default()
    }

    fn with_ledger<T>(&self, f: impl FnOnce(&mut Ledger) -> T) -> Option<T> {
        self.ledger.lock().ok().map(|mut l| f(&mut l))
    }

    fn do_charge(l: &mut Ledger, c: &Charge) -> (Outcome, bool) {
        l.calls += 1;
        if let Some(answer) = l.answers.get(&c.idempotency_key) {
            return (answer.clone(), false);
        }
        let intent = format!("pi_sim_{:06}", l.answers.len() + 1);
        let decline = |code: &str, message: &str, soft: bool| Outcome::Declined {
            code: code.into(),
            message: message.into(),
            soft,
            provider_ref: intent.clone(),
        };
        let mut lose_answer = false;
        let outcome = match c.payment_method_ref.as_str() {
            "pm_card_visa" | "pm_card_mastercard" => Outcome::Succeeded {
                provider_ref: intent.clone(),
            },
            "pm_card_networkError" => {
                lose_answer = true;
                Outcome::Succeeded {
                    provider_ref: intent.clone(),
                }
            }
            "pm_card_chargeDeclined" => {
                decline("generic_decline", "Your card was declined.", false)
            }
            "pm_card_chargeDeclinedExpiredCard" => {
                decline("expired_card", "Your card has expired.", false)
            }
            "pm_card_chargeDeclinedInsufficientFunds" => decline(
                "insufficient_funds",
                "Your card has insufficient funds.",
                true,
            ),
            "pm_card_insufficientFundsOnce" => {
                let key = (c.payment_method_ref.clone(), c.invoice_id.clone());
                if l.declined_once.insert(key, ()).is_none() {
                    decline(
                        "insufficient_funds",
                        "Your card has insufficient funds.",
                        true,
                    )
                } else {
                    Outcome::Succeeded {
                        provider_ref: intent.clone(),
                    }
                }
            }
            other => decline(
                "resource_missing",
                &format!("No such PaymentMethod: '{other}'"),
                false,
            ),
        };
        if matches!(outcome, Outcome::Succeeded { .. }) {
            l.charges.push(Charged {
                intent,
                invoice_id: c.invoice_id.clone(),
                amount_cents: c.amount_cents,
                refunded_cents: 0,
            });
        }
        l.answers.insert(c.idempotency_key.clone(), outcome.clone());
        if lose_answer && l.lost.insert(c.idempotency_key.clone(), ()).is_none() {
            return (
                Outcome::Unknown("connection reset before the answer".into()),
                true,
            );
        }
        (outcome, false)
    }

    fn do_refund(l: &mut Ledger, r: &Refund) -> Outcome {
        l.calls += 1;
        if let Some(answer) = l.answers.get(&r.idempotency_key) {
            return answer.clone();
        }
        let id = format!("re_sim_{:06}", l.answers.len() + 1);
        let outcome = match l.charges.iter_mut().find(|c| c.intent == r.charge_ref) {
            None => Outcome::Declined {
                code: "resource_missing".into(),
                message: format!("No such payment_intent: '{}'", r.charge_ref),
                soft: false,
                provider_ref: id,
            },
            Some(c) if c.refunded_cents + r.amount_cents > c.amount_cents => Outcome::Declined {
                code: "amount_too_large".into(),
                message: "Refund amount is greater than unrefunded amount on charge".into(),
                soft: false,
                provider_ref: id,
            },
            Some(c) => {
                c.refunded_cents += r.amount_cents;
                Outcome::Succeeded { provider_ref: id }
            }
        };
        l.answers.insert(r.idempotency_key.clone(), outcome.clone());
        outcome
    }

    /// The test payment methods it knows.
    pub const METHODS: [&'static str; 7] = [
        "pm_card_visa",
        "pm_card_mastercard",
        "pm_card_networkError",
        "pm_card_chargeDeclined",
        "pm_card_chargeDeclinedExpiredCard",
        "pm_card_chargeDeclinedInsufficientFunds",
        "pm_card_insufficientFundsOnce",
    ];

    /// Stripe's shape over HTTP: `POST /v1/payment_intents`, `POST /v1/refunds`,
    /// `GET /v1/payment_methods/{id}`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/v1/payment_intents", post(http_charge))
            .route("/v1/refunds", post(http_refund))
            .route("/v1/payment_methods/{id}", get(http_payment_method))
            .with_state(self.clone())
    }
}

#[tonic::async_trait]
impl PaymentProvider for Simulator {
    async fn charge(&self, c: &Charge) -> Outcome {
        self.with_ledger(|l| Self::do_charge(l, c).0)
            .unwrap_or_else(|| Outcome::Unknown("simulator poisoned".into()))
    }

    async fn refund(&self, r: &Refund) -> Outcome {
        self.with_ledger(|l| Self::do_refund(l, r))
            .unwrap_or_else(|| Outcome::Unknown("simulator poisoned".into()))
    }
}

#[derive(Deserialize)]
struct IntentForm {
    #[serde(default)]
    customer: Option<String>,
    amount: i64,
    currency: String,
    payment_method: String,
    #[serde(default)]
    description: String,
    #[serde(rename = "metadata[invoice_id]", default)]
    invoice_id: String,
}

#[derive(Deserialize)]
struct RefundForm {
    payment_intent: String,
    amount: i64,
}

fn key_and_auth(headers: &HeaderMap) -> Result<String, Box<Response>> {
    key_and_auth_get(headers)?;
    headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| {
            Box::new(error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("idempotency_key_required"),
                None,
                "This simulator requires an Idempotency-Key on every POST.",
                None,
            ))
        })
}

/// Stripe's error body: `code` (e.g. `card_declined`, `resource_missing`)
/// and, for a declined card, the issuer's `decline_code`.
fn error(
    status: StatusCode,
    kind: &str,
    code: Option<&str>,
    decline: Option<&str>,
    message: &str,
    intent: Option<&str>,
) -> Response {
    let mut e = serde_json::json!({ "type": kind, "message": message });
    if let Some(code) = code {
        e["code"] = code.into();
    }
    if let Some(decline) = decline {
        e["decline_code"] = decline.into();
    }
    if let Some(id) = intent {
        e["payment_intent"] = serde_json::json!({ "id": id, "status": "requires_payment_method" });
    }
    (status, Json(serde_json::json!({ "error": e }))).into_response()
}

fn answer(outcome: Outcome, object: &str, amount: i64) -> Response {
    match outcome {
        Outcome::Succeeded { provider_ref } => Json(serde_json::json!({
            "id": provider_ref, "object": object, "status": "succeeded", "amount": amount,
        }))
        .into_response(),
        Outcome::Declined {
            code,
            message,
            provider_ref,
            ..
        } if code == "resource_missing" || code == "amount_too_large" => error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some(&code),
            None,
            &message,
            Some(&provider_ref),
        ),
        Outcome::Declined {
            code,
            message,
            provider_ref,
            ..
        } => error(
            StatusCode::PAYMENT_REQUIRED,
            "card_error",
            Some("card_declined"),
            Some(&code),
            &message,
            Some(&provider_ref),
        ),
        Outcome::Unknown(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            None,
            None,
            "An unknown error occurred.",
            None,
        ),
    }
}

async fn http_charge(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Form(f): Form<IntentForm>,
) -> Response {
    let key = match key_and_auth(&headers) {
        Ok(k) => k,
        Err(r) => return *r,
    };
    // As Stripe: a saved card is used with the customer it belongs to.
    let owner = format!("cus_sim_{}", f.payment_method);
    if Simulator::METHODS.contains(&f.payment_method.as_str())
        && f.customer.as_deref() != Some(owner.as_str())
    {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("parameter_missing"),
            None,
            &format!(
                "The PaymentMethod {} belongs to {owner}: pass that customer",
                f.payment_method
            ),
            None,
        );
    }
    let charge = Charge {
        idempotency_key: key,
        amount_cents: f.amount,
        currency: f.currency,
        payment_method_ref: f.payment_method,
        description: f.description,
        invoice_id: f.invoice_id,
    };
    match sim.with_ledger(|l| Simulator::do_charge(l, &charge)) {
        Some((outcome, _)) => answer(outcome, "payment_intent", charge.amount_cents),
        None => answer(Outcome::Unknown(String::new()), "payment_intent", 0),
    }
}

async fn http_refund(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Form(f): Form<RefundForm>,
) -> Response {
    let key = match key_and_auth(&headers) {
        Ok(k) => k,
        Err(r) => return *r,
    };
    let refund = Refund {
        idempotency_key: key,
        charge_ref: f.payment_intent,
        amount_cents: f.amount,
    };
    match sim.with_ledger(|l| Simulator::do_refund(l, &refund)) {
        Some(outcome) => answer(outcome, "refund", refund.amount_cents),
        None => answer(Outcome::Unknown(String::new()), "refund", 0),
    }
}

async fn http_payment_method(headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(r) = key_and_auth_get(&headers) {
        return *r;
    }
    if Simulator::METHODS.contains(&id.as_str()) {
        // Every test card is attached to one customer per card.
        Json(serde_json::json!({
            "id": id, "object": "payment_method", "customer": format!("cus_sim_{id}"),
        }))
        .into_response()
    } else {
        error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            Some("resource_missing"),
            None,
            &format!("No such PaymentMethod: '{id}'"),
            None,
        )
    }
}

/// A GET needs the key but no idempotency key.
fn key_and_auth_get(headers: &HeaderMap) -> Result<(), Box<Response>> {
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer sk_"));
    if authorized {
        Ok(())
    } else {
        Err(Box::new(error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            None,
            None,
            "Invalid API Key provided.",
            None,
        )))
    }
}
