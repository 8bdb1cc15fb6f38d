//! A stack with the gateway, an HTTP client of it, and what the office
//! sets up first over gRPC (services, workers, customers, confirmations),
//! as the back office would before a customer arrives.

use std::time::Duration;

use chrono::{Datelike, Days, NaiveDate, Utc};
use relais_platform::auth::{Claims, Role};
use relais_proto::orders::{ChangeOrderStatusRequest, OrderStatus};
use relais_testkit::Stack;
use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::Value;
use uuid::Uuid;

pub async fn stack() -> Stack {
    Stack::builder().gateway().spawn().await.unwrap()
}

/// What the gateway answered.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.bytes)))
    }

    pub fn content_type(&self) -> String {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    /// The answer is a problem of `status` and `kind`: its JSON.
    pub fn problem(&self, status: u16, kind: &str) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "{}",
            String::from_utf8_lossy(&self.bytes)
        );
        assert_eq!(self.content_type(), "application/problem+json");
        let p = self.json();
        assert_eq!(p["type"], format!("urn:relais:problem:{kind}"), "{p}");
        assert_eq!(p["status"], status, "{p}");
        assert!(p["title"].as_str().is_some_and(|t| !t.is_empty()), "{p}");
        p
    }

    /// The answer is 201 Created: the id of what was created.
    pub fn created(&self) -> String {
        assert_eq!(
            self.status.as_u16(),
            201,
            "{}",
            String::from_utf8_lossy(&self.bytes)
        );
        self.json()["id"].as_str().unwrap().to_owned()
    }

    /// The fields a 400 problem names.
    pub fn bad_fields(&self) -> Vec<String> {
        self.problem(400, "invalid-request")["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// An API client: the gateway's URL and, unless None, a bearer token.
#[derive(Clone)]
pub struct Api {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Api {
    pub fn new(stack: &Stack, token: Option<String>) -> Self {
        Self {
            base: stack.gateway_url(),
            token,
            http: relais_platform::http::client(Duration::from_secs(30)).unwrap(),
        }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await.unwrap();
        Answer {
            status: res.status(),
            headers: res.headers().clone(),
            bytes: res.bytes().await.unwrap().to_vec(),
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None, &[]).await
    }

    /// GET that must succeed: its JSON.
    pub async fn ok(&self, path: &str) -> Value {
        let a = self.get(path).await;
        assert_eq!(
            a.status,
            StatusCode::OK,
            "{path}: {}",
            String::from_utf8_lossy(&a.bytes)
        );
        a.json()
    }

    /// POST with an idempotency key.
    pub async fn post(&self, path: &str, key: &str, body: &Value) -> Answer {
        self.send(Method::POST, path, Some(body), &[("Idempotency-Key", key)])
            .await
    }
}

/// A weekly booking of `count` Mondays from next Monday, 9:00 for 2 h,
/// with `worker`, paid by card: the order's id.
pub async fn weekly_booking(shop: &Api, service: &str, worker: &str, count: u32) -> String {
    shop.post(
        "/v1/shop/bookings",
        &key(),
        &serde_json::json!({"service_id": service, "worker_id": worker,
                "schedule": {"first_date": next_monday().to_string(), "start_time": "09:00",
                             "duration_minutes": 120,
                             "recurrence": {"interval_weeks": 1, "weekdays": [1], "count": count}},
                "payment_mode": "card", "terms_accepted": true}),
    )
    .await
    .created()
}

/// A token of `customer` in the stack's tenant.
pub fn customer_token(stack: &Stack, customer: &str) -> String {
    relais_testkit::sign(&Claims {
        sub: format!("customer-{customer}"),
        customer_id: Some(Uuid::parse_str(customer).unwrap()),
        ..stack.claims(Role::Customer)
    })
}

/// An online customer in Lyon with a saved card, as the office creates
/// them (sign-up comes with accounts).
pub async fn customer(stack: &Stack, first: &str, email: &str) -> String {
    stack.customer(first, "Durand", email, "pm_card_visa").await
}

/// Gloves (ENT-001, 11.90 € + 20 % VAT), 100 in stock.
pub async fn gloves(stack: &Stack) -> String {
    stack.gloves(100).await
}

/// The order confirmed, as payment (or the office) does.
pub async fn confirm(stack: &Stack, order: &str) {
    stack
        .orders()
        .change_order_status(stack.admin(ChangeOrderStatusRequest {
            id: order.into(),
            status: OrderStatus::Confirmed as i32,
            ..Default::default()
        }))
        .await
        .expect("confirmed");
}

/// The Monday at least a week from now.
pub fn next_monday() -> NaiveDate {
    let d = Utc::now().date_naive() + Days::new(7);
    d + Days::new(u64::from((7 - d.weekday().num_days_from_monday()) % 7))
}

pub fn key() -> String {
    Uuid::now_v7().to_string()
}

/// What `check` returns once it is Some, within 15 s.
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    relais_platform::testing::eventually(Duration::from_secs(15), check)
        .await
        .unwrap_or_else(|| panic!("never happened: {what}"))
}
