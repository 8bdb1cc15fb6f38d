//! The steady load: one order started every [`Load::PERIOD`], product
//! orders and bookings in turn, each placed then confirmed (paid) through
//! the orders service's gRPC API as the office does, whatever is failing
//! meanwhile. A client retries what may succeed later with the same
//! idempotency key, within a budget; an order counts as acknowledged
//! when both calls answered OK.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use relais_proto::orders::{
    ChangeOrderStatusRequest, GetOrderRequest, OrderLineRequest, OrderStatus, PaymentMode,
    PlaceBookingRequest, PlaceProductOrderRequest, Schedule,
};
use relais_testkit::Stack;
use tokio::{sync::Mutex, task::JoinSet};
use tonic::Code;
use uuid::Uuid;

use crate::shop::Shop;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Product,
    Booking,
}

/// One order the load tried to place.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub kind: Kind,
    /// The order's id, once an answer named it.
    pub order_id: Option<String>,
    /// Placed and confirmed, each call answered OK.
    pub acknowledged: bool,
}

/// The non-OK answers the clients saw, by gRPC code (and "timeout" for a
/// call without an answer in time).
pub type Errors = BTreeMap<String, u64>;

pub struct Load {
    stop: Arc<AtomicBool>,
    errors: Arc<Mutex<Errors>>,
    ticker: tokio::task::JoinHandle<Vec<Attempt>>,
}

/// How long one order may take, retries included, before the client gives
/// up on it (it is then not acknowledged).
const BUDGET: Duration = Duration::from_secs(12);
/// A call without an answer by then is retried (same idempotency key).
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

impl Load {
    /// One new order every 250 ms: 4 a second.
    pub const PERIOD: Duration = Duration::from_millis(250);

    pub fn start(stack: Arc<Stack>, shop: Arc<Shop>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let errors = Arc::new(Mutex::new(Errors::new()));
        let ticker = {
            let (stop, errors) = (stop.clone(), errors.clone());
            tokio::spawn(async move {
                let mut tasks = JoinSet::new();
                let mut tick = tokio::time::interval(Self::PERIOD);
                let mut n = 0usize;
                loop {
                    tick.tick().await;
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let kind = if n.is_multiple_of(2) {
                        Kind::Product
                    } else {
                        Kind::Booking
                    };
                    let customer = shop.customers[n % shop.customers.len()].clone();
                    let client = Client {
                        stack: stack.clone(),
                        shop: shop.clone(),
                        errors: errors.clone(),
                    };
                    tasks.spawn(async move { client.order(kind, customer, n).await });
                    n += 1;
                }
                tasks.join_all().await
            })
        };
        Self {
            stop,
            errors,
            ticker,
        }
    }

    /// Stops starting orders and waits for those under way: every order
    /// tried, and the failed answers seen.
    pub async fn stop(self) -> (Vec<Attempt>, Errors) {
        self.stop.store(true, Ordering::Relaxed);
        let attempts = self
            .ticker
            .await
            .unwrap_or_else(|e| panic!("the load: {e}"));
        let errors = self.errors.lock().await.clone();
        (attempts, errors)
    }
}

struct Client {
    stack: Arc<Stack>,
    shop: Arc<Shop>,
    errors: Arc<Mutex<Errors>>,
}

/// Whether a call that failed with `code` may succeed when sent again.
fn retryable(code: Code) -> bool {
    !matches!(
        code,
        Code::InvalidArgument
            | Code::NotFound
            | Code::PermissionDenied
            | Code::Unauthenticated
            | Code::FailedPrecondition
            | Code::AlreadyExists
            | Code::OutOfRange
            | Code::Unimplemented
    )
}

impl Client {
    async fn order(&self, kind: Kind, customer: String, n: usize) -> Attempt {
        let deadline = tokio::time::Instant::now() + BUDGET;
        let key = Uuid::now_v7().to_string();
        let placed = match kind {
            Kind::Product => {
                let req = PlaceProductOrderRequest {
                    idempotency_key: key,
                    customer_id: customer,
                    lines: vec![OrderLineRequest {
                        item_id: self.shop.product.clone(),
                        quantity: 1,
                        discount_bp: 0,
                    }],
                    shipping_method: "delivery".into(),
                    payment_mode: PaymentMode::Card as i32,
                    terms_accepted: true,
                    ..Default::default()
                };
                self.call(deadline, || async {
                    let r = self
                        .stack
                        .orders()
                        .place_product_order(self.stack.admin(req.clone()))
                        .await?;
                    Ok(r.into_inner().order)
                })
                .await
            }
            Kind::Booking => {
                let req = self.booking(key, customer, n);
                self.call(deadline, || async {
                    let r = self
                        .stack
                        .orders()
                        .place_booking(self.stack.admin(req.clone()))
                        .await?;
                    Ok(r.into_inner().order)
                })
                .await
            }
        };
        let Some(Some(placed)) = placed else {
            return Attempt {
                kind,
                order_id: None,
                acknowledged: false,
            };
        };
        let acknowledged = self.confirm(deadline, &placed.id, placed.version).await;
        Attempt {
            kind,
            order_id: Some(placed.id),
            acknowledged,
        }
    }

    /// A one-time booking of two hours on one of the next 20 days, for
    /// any worker: staff may leave it unassigned (no worker is needed for
    /// what the test follows).
    fn booking(&self, key: String, customer: String, n: usize) -> PlaceBookingRequest {
        let day = (chrono::Utc::now() + chrono::Duration::days(1 + (n % 20) as i64))
            .with_timezone(&chrono_tz::Europe::Paris)
            .date_naive();
        PlaceBookingRequest {
            idempotency_key: key,
            customer_id: customer,
            service_id: self.shop.service.clone(),
            schedule: Some(Schedule {
                first_date: day.format("%Y-%m-%d").to_string(),
                start_time: "09:00".into(),
                duration_minutes: 120,
                ..Default::default()
            }),
            payment_mode: PaymentMode::Card as i32,
            terms_accepted: true,
            allow_unassigned: true,
            ..Default::default()
        }
    }

    /// Confirms (pays) the order at `version`. A retry after an answer
    /// that was lost finds it confirmed already: that is acknowledged too.
    async fn confirm(&self, deadline: tokio::time::Instant, id: &str, version: i64) -> bool {
        let req = ChangeOrderStatusRequest {
            id: id.into(),
            expected_version: version,
            status: OrderStatus::Confirmed as i32,
            ..Default::default()
        };
        let confirmed = self
            .call(deadline, || async {
                let r = self
                    .stack
                    .orders()
                    .change_order_status(self.stack.admin(req.clone()))
                    .await;
                match r {
                    Ok(_) => Ok(true),
                    Err(s) if s.code() == Code::FailedPrecondition => {
                        // Moved since: by our own earlier attempt?
                        let order = self
                            .stack
                            .orders()
                            .get_order(self.stack.admin(GetOrderRequest { id: id.into() }))
                            .await?
                            .into_inner()
                            .order;
                        Ok(order.is_some_and(|o| o.status() == OrderStatus::Confirmed))
                    }
                    Err(s) => Err(s),
                }
            })
            .await;
        confirmed == Some(true)
    }

    /// Runs `call` until it answers OK, fails for good, or the order's
    /// budget is spent; None unless it answered OK.
    async fn call<T, F, Fut>(&self, deadline: tokio::time::Instant, call: F) -> Option<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, tonic::Status>>,
    {
        let mut delay = Duration::from_millis(200);
        loop {
            let code = match tokio::time::timeout(CALL_TIMEOUT, call()).await {
                Ok(Ok(v)) => return Some(v),
                Ok(Err(s)) => Some(s.code()),
                Err(_) => None,
            };
            let name = code.map_or_else(|| "timeout".to_owned(), |c| format!("{c:?}"));
            *self.errors.lock().await.entry(name).or_default() += 1;
            if code.is_some_and(|c| !retryable(c))
                || tokio::time::Instant::now() + delay >= deadline
            {
                return None;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }
}
