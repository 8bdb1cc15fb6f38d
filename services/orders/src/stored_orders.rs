//! An order as stored and read back: the status names and kinds in its
//! rows, the booking and pack details kept beside its lines, and the
//! order built from its rows for whoever may see it.

use chrono::{DateTime, Utc};
use relais_domain::{money, schedule::Schedule};
use relais_platform::{
    context::timestamp,
    error::{Error, Result},
    validate,
};
use relais_proto::orders::{
    Booking as BookingPb, HourPackPurchase, Order, OrderLine, OrderStatus, PaymentMode, VatAmount,
};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{access::Scope, customers::address_from_json};

pub const KINDS: &[&str] = &["product", "booking", "hour_pack"];

/// The status as stored.
pub fn status_name(s: OrderStatus) -> &'static str {
    match s {
        OrderStatus::Unspecified => "unspecified",
        OrderStatus::Placed => "placed",
        OrderStatus::Quote => "quote",
        OrderStatus::Confirmed => "confirmed",
        OrderStatus::Preparing => "preparing",
        OrderStatus::Shipped => "shipped",
        OrderStatus::Delivered => "delivered",
        OrderStatus::InProgress => "in_progress",
        OrderStatus::Completed => "completed",
        OrderStatus::Cancelled => "cancelled",
    }
}

pub fn status_from_name(s: &str) -> OrderStatus {
    match s {
        "placed" => OrderStatus::Placed,
        "quote" => OrderStatus::Quote,
        "confirmed" => OrderStatus::Confirmed,
        "preparing" => OrderStatus::Preparing,
        "shipped" => OrderStatus::Shipped,
        "delivered" => OrderStatus::Delivered,
        "in_progress" => OrderStatus::InProgress,
        "completed" => OrderStatus::Completed,
        "cancelled" => OrderStatus::Cancelled,
        _ => OrderStatus::Unspecified,
    }
}

/// What a booking keeps beyond its line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BookingDetail {
    pub service_id: Uuid,
    pub service_code: String,
    pub schedule: Schedule,
    pub worker_id: Option<Uuid>,
    pub occurrences: i32,
    pub first_start: DateTime<Utc>,
    pub last_start: DateTime<Utc>,
    pub hour_pack_order_id: Option<Uuid>,
    pub note: String,
    pub tax_credit_eligible: bool,
}

/// The pack as bought.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PackDetail {
    pub hour_pack_id: Uuid,
    pub name: String,
    pub duration_minutes: i32,
    pub vat_rate_bp: i32,
    /// Empty: every service at `vat_rate_bp`.
    pub eligible_service_ids: Vec<Uuid>,
}

pub const ORDER_COLS: &str = "id, kind, status, customer_id, residence_id, placed_by, placed_by_role, customer_name,
    customer_phone, ship_to, confirmation_email, shipping_method, payment_mode, terms_accepted_at,
    total_excl_vat_cents, total_vat_cents, total_incl_vat_cents, origin, version, placed_at, booking,
    hour_pack, picking_list_ref, delivery_note_ref, status_reason, external_ref, updated_at";

#[derive(sqlx::FromRow)]
pub struct OrderRow {
    pub id: Uuid,
    kind: String,
    status: String,
    pub customer_id: Uuid,
    pub residence_id: Option<Uuid>,
    placed_by: String,
    placed_by_role: String,
    customer_name: String,
    customer_phone: String,
    ship_to: serde_json::Value,
    confirmation_email: String,
    shipping_method: String,
    payment_mode: String,
    terms_accepted_at: DateTime<Utc>,
    total_excl_vat_cents: i64,
    total_vat_cents: i64,
    total_incl_vat_cents: i64,
    origin: String,
    version: i64,
    placed_at: DateTime<Utc>,
    booking: Option<serde_json::Value>,
    hour_pack: Option<serde_json::Value>,
    picking_list_ref: String,
    delivery_note_ref: String,
    status_reason: String,
    external_ref: String,
    updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
pub struct LineRow {
    pub order_id: Uuid,
    line_no: i32,
    item_id: Uuid,
    reference: String,
    name: String,
    quantity: i32,
    unit_price_cents: i64,
    vat_rate_bp: i32,
    discount_bp: i32,
    total_excl_vat_cents: i64,
    vat_cents: i64,
}

pub const LINE_COLS: &str =
    "order_id, line_no, item_id, reference, name, quantity, unit_price_cents,
    vat_rate_bp, discount_bp, total_excl_vat_cents, vat_cents";

pub fn booking_detail(v: &serde_json::Value) -> Option<BookingDetail> {
    serde_json::from_value(v.clone()).ok()
}

pub fn pack_detail(v: &serde_json::Value) -> Option<PackDetail> {
    serde_json::from_value(v.clone()).ok()
}

impl BookingDetail {
    fn to_proto(&self) -> BookingPb {
        BookingPb {
            service_id: self.service_id.to_string(),
            service_code: self.service_code.clone(),
            schedule: Some(self.schedule.to_proto()),
            worker_id: self.worker_id.map(|w| w.to_string()).unwrap_or_default(),
            occurrences: self.occurrences,
            first_start: Some(timestamp(self.first_start)),
            last_start: Some(timestamp(self.last_start)),
            hour_pack_order_id: self
                .hour_pack_order_id
                .map(|p| p.to_string())
                .unwrap_or_default(),
            note: self.note.clone(),
            tax_credit_eligible: self.tax_credit_eligible,
        }
    }
}

/// The order with its lines (`lines` holds this order's, in line order).
pub fn to_proto(o: OrderRow, lines: Vec<LineRow>) -> Order {
    let breakdown = money::breakdown(
        &lines
            .iter()
            .map(|l| (l.vat_rate_bp, l.total_excl_vat_cents, l.vat_cents))
            .collect::<Vec<_>>(),
    )
    // Stored lines were bounded when placed, so their sums fit.
    .unwrap_or_default();
    Order {
        id: o.id.to_string(),
        kind: o.kind,
        status: status_from_name(&o.status) as i32,
        customer_id: o.customer_id.to_string(),
        residence_id: o.residence_id.map(|r| r.to_string()).unwrap_or_default(),
        placed_by: o.placed_by,
        placed_by_role: o.placed_by_role,
        customer_name: o.customer_name,
        customer_phone: o.customer_phone,
        ship_to: Some(address_from_json(&o.ship_to)),
        confirmation_email: o.confirmation_email,
        shipping_method: o.shipping_method,
        payment_mode: PaymentMode::from_str_name(&o.payment_mode).unwrap_or_default() as i32,
        terms_accepted_at: Some(timestamp(o.terms_accepted_at)),
        lines: lines
            .into_iter()
            .map(|l| OrderLine {
                line_no: l.line_no,
                item_id: l.item_id.to_string(),
                reference: l.reference,
                name: l.name,
                quantity: l.quantity,
                unit_price: validate::money_out(l.unit_price_cents),
                vat_rate_bp: l.vat_rate_bp,
                discount_bp: l.discount_bp,
                total_excl_vat: validate::money_out(l.total_excl_vat_cents),
                vat: validate::money_out(l.vat_cents),
                total_incl_vat: validate::money_out(
                    l.total_excl_vat_cents.saturating_add(l.vat_cents),
                ),
            })
            .collect(),
        vat_breakdown: breakdown
            .into_iter()
            .map(|(rate, (base, vat))| VatAmount {
                vat_rate_bp: rate,
                base: validate::money_out(base),
                vat: validate::money_out(vat),
            })
            .collect(),
        total_excl_vat: validate::money_out(o.total_excl_vat_cents),
        total_vat: validate::money_out(o.total_vat_cents),
        total_incl_vat: validate::money_out(o.total_incl_vat_cents),
        origin: o.origin,
        version: o.version,
        placed_at: Some(timestamp(o.placed_at)),
        booking: o
            .booking
            .as_ref()
            .and_then(booking_detail)
            .map(|b| b.to_proto()),
        hour_pack: o
            .hour_pack
            .as_ref()
            .and_then(pack_detail)
            .map(|p| HourPackPurchase {
                hour_pack_id: p.hour_pack_id.to_string(),
                name: p.name,
                duration_minutes: p.duration_minutes,
                eligible_service_ids: p.eligible_service_ids.iter().map(Uuid::to_string).collect(),
            }),
        picking_list_ref: o.picking_list_ref,
        delivery_note_ref: o.delivery_note_ref,
        status_reason: o.status_reason,
        external_ref: o.external_ref,
        updated_at: Some(timestamp(o.updated_at)),
    }
}

/// Orders with their lines, in the order of `rows`.
pub async fn with_lines(
    conn: &mut PgConnection,
    tenant: Uuid,
    rows: Vec<OrderRow>,
) -> Result<Vec<Order>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let lines: Vec<LineRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {LINE_COLS} from order_lines where tenant_id = $1 and order_id = any($2)
         order by order_id, line_no"
    )))
    .bind(tenant)
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut by_order: std::collections::HashMap<Uuid, Vec<LineRow>> =
        std::collections::HashMap::new();
    for l in lines {
        by_order.entry(l.order_id).or_default().push(l);
    }
    Ok(rows
        .into_iter()
        .map(|r| {
            let lines = by_order.remove(&r.id).unwrap_or_default();
            to_proto(r, lines)
        })
        .collect())
}

/// The order as stored, whoever asks (callers check visibility).
pub async fn load(conn: &mut PgConnection, tenant: Uuid, id: Uuid) -> Result<Option<Order>> {
    let row: Option<OrderRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {ORDER_COLS} from orders where tenant_id = $1 and id = $2"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(with_lines(conn, tenant, vec![row]).await?.pop())
}

/// The order, if the caller may see it (else NOT_FOUND, never its data).
pub async fn get(conn: &mut PgConnection, tenant: Uuid, scope: &Scope, id: Uuid) -> Result<Order> {
    let order = load(conn, tenant, id).await?;
    order
        .filter(|o| {
            let customer = Uuid::parse_str(&o.customer_id).unwrap_or_default();
            let residence = Uuid::parse_str(&o.residence_id).ok();
            scope.sees_customer(customer, residence)
        })
        .ok_or_else(|| Error::not_found(format!("order {id}")))
}
