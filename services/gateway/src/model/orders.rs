//! Orders as the customer sees them, and the bodies that place them.

use chrono::{DateTime, Utc};
use relais_proto::orders as pb;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Money, page, pb_enum, some, time};

pb_enum!(
    /// Where an order is in its life.
    OrderStatus from pb::OrderStatus {
        Placed = Placed,
        Quote = Quote,
        Confirmed = Confirmed,
        Preparing = Preparing,
        Shipped = Shipped,
        Delivered = Delivered,
        InProgress = InProgress,
        Completed = Completed,
        Cancelled = Cancelled,
    }
);

pb_enum!(
    /// How an order is paid. `hour_pack` for bookings only.
    PaymentMode from pb::PaymentMode {
        Card = Card,
        Invoice = Invoice,
        ResidenceMonthly = ResidenceMonthly,
        HourPack = HourPack,
    }
);

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub line1: String,
    #[serde(default)]
    pub line2: String,
    pub postal_code: String,
    pub city: String,
    /// ISO 3166-1 alpha-2; empty means FR.
    #[serde(default)]
    pub country: String,
}

impl Address {
    pub fn from_pb(a: Option<pb::Address>) -> Option<Self> {
        a.map(|a| Self {
            line1: a.line1,
            line2: a.line2,
            postal_code: a.postal_code,
            city: a.city,
            country: a.country,
        })
    }

    pub fn into_pb(self) -> pb::Address {
        pb::Address {
            line1: self.line1,
            line2: self.line2,
            postal_code: self.postal_code,
            city: self.city,
            country: self.country,
        }
    }
}

/// When and how often a booked service takes place, in local time.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// IANA zone of the dates and times; empty: Europe/Paris.
    #[serde(default)]
    pub time_zone: String,
    /// The only date of a one-time booking, or the first of a recurring one.
    #[schema(example = "2026-12-14", format = Date)]
    pub first_date: String,
    /// Local start time, HH:MM.
    #[schema(example = "09:00")]
    pub start_time: String,
    /// 30 to 720.
    #[schema(example = 120, minimum = 30, maximum = 720)]
    pub duration_minutes: i32,
    /// Absent: one-time.
    #[serde(default)]
    pub recurrence: Option<Recurrence>,
}

/// Weekly (every N weeks on chosen weekdays) or monthly by date, until a
/// date or for a number of occurrences (exactly one of the two).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Recurrence {
    /// 1 = every week ... 52.
    #[serde(default)]
    pub interval_weeks: i32,
    /// ISO weekdays: 1 = Monday ... 7 = Sunday.
    #[serde(default)]
    pub weekdays: Vec<i32>,
    /// Last possible date, inclusive (YYYY-MM-DD).
    #[serde(default)]
    pub end_date: String,
    #[serde(default)]
    pub count: i32,
    /// Monthly on the first date's day: every N months (1..12).
    #[serde(default)]
    pub interval_months: i32,
}

impl Schedule {
    pub fn from_pb(s: Option<pb::Schedule>) -> Option<Self> {
        s.map(|s| Self {
            time_zone: s.time_zone,
            first_date: s.first_date,
            start_time: s.start_time,
            duration_minutes: s.duration_minutes,
            recurrence: s.recurrence.map(|r| Recurrence {
                interval_weeks: r.interval_weeks,
                weekdays: r.weekdays,
                end_date: r.end_date,
                count: r.count,
                interval_months: r.interval_months,
            }),
        })
    }

    pub fn into_pb(self) -> pb::Schedule {
        pb::Schedule {
            time_zone: self.time_zone,
            first_date: self.first_date,
            start_time: self.start_time,
            duration_minutes: self.duration_minutes,
            recurrence: self.recurrence.map(|r| pb::Recurrence {
                interval_weeks: r.interval_weeks,
                weekdays: r.weekdays,
                end_date: r.end_date,
                count: r.count,
                interval_months: r.interval_months,
            }),
        }
    }
}

/// A line as placed: the price and VAT rate of that moment.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderLine {
    pub line_no: i32,
    pub item_id: String,
    pub reference: String,
    pub name: String,
    pub quantity: i32,
    pub unit_price: Option<Money>,
    pub vat_rate_bp: i32,
    pub discount_bp: i32,
    pub total_excl_vat: Option<Money>,
    pub vat: Option<Money>,
    pub total_incl_vat: Option<Money>,
}

/// The VAT of one rate.
#[derive(Debug, Serialize, ToSchema)]
pub struct VatAmount {
    pub vat_rate_bp: i32,
    pub base: Option<Money>,
    pub vat: Option<Money>,
}

pub fn vat_breakdown(v: Vec<pb::VatAmount>) -> Vec<VatAmount> {
    v.into_iter()
        .map(|v| VatAmount {
            vat_rate_bp: v.vat_rate_bp,
            base: Money::from_pb(v.base),
            vat: Money::from_pb(v.vat),
        })
        .collect()
}

/// What a booking is for.
#[derive(Debug, Serialize, ToSchema)]
pub struct Booking {
    pub service_id: String,
    pub schedule: Option<Schedule>,
    /// The chosen worker; null: any qualified one.
    pub worker_id: Option<String>,
    pub occurrences: i32,
    pub first_start: Option<DateTime<Utc>>,
    pub last_start: Option<DateTime<Utc>>,
    pub hour_pack_order_id: Option<String>,
    pub note: String,
}

/// The hour pack as bought.
#[derive(Debug, Serialize, ToSchema)]
pub struct HourPackPurchase {
    pub hour_pack_id: String,
    pub name: String,
    pub duration_minutes: i32,
    pub eligible_service_ids: Vec<String>,
}

/// An order: products, a booking or an hour pack.
#[derive(Debug, Serialize, ToSchema)]
pub struct Order {
    pub id: String,
    /// "product", "booking" or "hour_pack".
    #[schema(example = "booking")]
    pub kind: String,
    pub status: OrderStatus,
    /// Why it was cancelled.
    pub status_reason: Option<String>,
    pub customer_id: String,
    pub customer_name: String,
    pub residence_id: Option<String>,
    /// Who placed it: their token's subject, and their role.
    pub placed_by: String,
    pub placed_by_role: String,
    pub ship_to: Option<Address>,
    pub payment_mode: PaymentMode,
    pub lines: Vec<OrderLine>,
    pub vat_breakdown: Vec<VatAmount>,
    pub total_excl_vat: Option<Money>,
    pub total_vat: Option<Money>,
    pub total_incl_vat: Option<Money>,
    pub placed_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    /// Kind "booking".
    pub booking: Option<Booking>,
    /// Kind "hour_pack".
    pub hour_pack: Option<HourPackPurchase>,
    /// Changes with every change of the order.
    pub version: i64,
}

impl From<pb::Order> for Order {
    fn from(o: pb::Order) -> Self {
        Self {
            id: o.id,
            kind: o.kind,
            status: OrderStatus::from_pb(o.status),
            status_reason: some(o.status_reason),
            customer_id: o.customer_id,
            placed_by: o.placed_by,
            placed_by_role: o.placed_by_role,
            customer_name: o.customer_name,
            residence_id: some(o.residence_id),
            ship_to: Address::from_pb(o.ship_to),
            payment_mode: PaymentMode::from_pb(o.payment_mode),
            lines: o
                .lines
                .into_iter()
                .map(|l| OrderLine {
                    line_no: l.line_no,
                    item_id: l.item_id,
                    reference: l.reference,
                    name: l.name,
                    quantity: l.quantity,
                    unit_price: Money::from_pb(l.unit_price),
                    vat_rate_bp: l.vat_rate_bp,
                    discount_bp: l.discount_bp,
                    total_excl_vat: Money::from_pb(l.total_excl_vat),
                    vat: Money::from_pb(l.vat),
                    total_incl_vat: Money::from_pb(l.total_incl_vat),
                })
                .collect(),
            vat_breakdown: vat_breakdown(o.vat_breakdown),
            total_excl_vat: Money::from_pb(o.total_excl_vat),
            total_vat: Money::from_pb(o.total_vat),
            total_incl_vat: Money::from_pb(o.total_incl_vat),
            placed_at: time(o.placed_at),
            updated_at: time(o.updated_at),
            booking: o.booking.map(|b| Booking {
                service_id: b.service_id,
                schedule: Schedule::from_pb(b.schedule),
                worker_id: some(b.worker_id),
                occurrences: b.occurrences,
                first_start: time(b.first_start),
                last_start: time(b.last_start),
                hour_pack_order_id: some(b.hour_pack_order_id),
                note: b.note,
            }),
            hour_pack: o.hour_pack.map(|h| HourPackPurchase {
                hour_pack_id: h.hour_pack_id,
                name: h.name,
                duration_minutes: h.duration_minutes,
                eligible_service_ids: h.eligible_service_ids,
            }),
            version: o.version,
        }
    }
}

page!(
    /// A page of orders, newest first.
    OrderPage of Order
);
