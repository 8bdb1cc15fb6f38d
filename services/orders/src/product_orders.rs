//! Product orders placed for a customer (seed 003): the customer's profile
//! fills the order, the catalogue prices it, every line keeps its price,
//! VAT rate and discount, and who placed it for whom is recorded.

use chrono::{DateTime, Utc};
use relais_platform::{
    auth::Caller,
    context::{Ctx, timestamp},
    error::{Error, Result, Violations},
    validate,
};
use relais_proto::{
    events::OrderPlaced,
    orders::{Order, OrderLine, OrderStatus, PaymentMode, PlaceProductOrderRequest, VatAmount},
};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    access::Scope,
    catalogue::Catalogue,
    customers::{self, address_from_json, address_to_json},
    money,
};

const MAX_LINES: usize = 200;
const MAX_QUANTITY: i32 = 10_000;

/// The request, checked on its own (before anything is read).
pub struct Request {
    customer_id: Uuid,
    lines: Vec<(Uuid, i32, i32)>,
    shipping_method: String,
    payment_mode: PaymentMode,
    confirmation_email: String,
}

impl Request {
    pub fn parse(r: &PlaceProductOrderRequest) -> Result<Self> {
        let mut v = Violations::new();
        let customer_id = validate::optional_id(&mut v, "customer_id", &r.customer_id);
        v.check(
            r.customer_id.trim().is_empty(),
            "customer_id",
            "is required",
        );
        v.check(
            r.lines.is_empty(),
            "lines",
            "an order needs at least one line",
        );
        v.check(
            r.lines.len() > MAX_LINES,
            "lines",
            format!("at most {MAX_LINES} lines"),
        );
        let mut lines = Vec::with_capacity(r.lines.len());
        for (i, l) in r.lines.iter().enumerate() {
            let id = validate::optional_id(&mut v, &format!("lines[{i}].item_id"), &l.item_id);
            v.check(
                l.item_id.trim().is_empty(),
                &format!("lines[{i}].item_id"),
                "is required",
            );
            v.check(
                !(1..=MAX_QUANTITY).contains(&l.quantity),
                &format!("lines[{i}].quantity"),
                format!("must be between 1 and {MAX_QUANTITY}"),
            );
            v.check(
                !(0..=10_000).contains(&l.discount_bp),
                &format!("lines[{i}].discount_bp"),
                "must be between 0 and 10000 (100 %)",
            );
            if let Some(id) = id {
                if lines.iter().any(|(other, _, _)| *other == id) {
                    v.add(
                        format!("lines[{i}].item_id"),
                        "already on another line: change its quantity",
                    );
                }
                lines.push((id, l.quantity, l.discount_bp));
            }
        }
        let shipping_method = validate::reference(&mut v, "shipping_method", &r.shipping_method);
        let payment_mode =
            PaymentMode::try_from(r.payment_mode).unwrap_or(PaymentMode::Unspecified);
        v.check(
            payment_mode == PaymentMode::Unspecified,
            "payment_mode",
            "choose card, invoice or monthly residence billing",
        );
        v.check(
            !r.terms_accepted,
            "terms_accepted",
            "the terms and conditions must be accepted",
        );
        let confirmation_email =
            customers::email(&mut v, "confirmation_email", &r.confirmation_email);
        v.into_result()?;
        Ok(Self {
            customer_id: customer_id.unwrap_or_default(),
            lines,
            shipping_method,
            payment_mode,
            confirmation_email,
        })
    }
}

pub async fn place(
    conn: &mut PgConnection,
    ctx: &Ctx,
    caller: &Caller,
    scope: &Scope,
    catalogue: &Catalogue,
    req: Request,
) -> Result<Order> {
    let customer = customers::get(conn, ctx.tenant, scope, req.customer_id).await?;
    let fields = customer.fields.clone().unwrap_or_default();
    let residence_id =
        validate::optional_id(&mut Violations::new(), "residence_id", &fields.residence_id);
    let mut v = Violations::new();
    let email = if fields.email.is_empty() {
        req.confirmation_email.clone()
    } else {
        fields.email.clone()
    };
    v.check(
        email.is_empty(),
        "confirmation_email",
        "the customer has no e-mail: give theirs or the residence's for the confirmation",
    );
    v.check(
        req.payment_mode == PaymentMode::ResidenceMonthly && residence_id.is_none(),
        "payment_mode",
        "monthly residence billing is for residents of a residence",
    );
    v.into_result()?;

    let ids: Vec<Uuid> = req.lines.iter().map(|l| l.0).collect();
    let prices = catalogue
        .prices(ctx.tenant, &fields.customer_family, &ids)
        .await
        .map_err(|e| match e {
            Error::NotFound(what) => {
                let i = ids
                    .iter()
                    .position(|id| what.contains(&id.to_string()))
                    .unwrap_or(0);
                Error::invalid(
                    format!("lines[{i}].item_id"),
                    "no such product in the catalogue",
                )
            }
            other => other,
        })?;

    let mut v = Violations::new();
    let mut lines = Vec::with_capacity(prices.len());
    for (i, ((_, quantity, discount), p)) in req.lines.iter().zip(&prices).enumerate() {
        let field = format!("lines[{i}]");
        v.check(
            p.kind != "product",
            &format!("{field}.item_id"),
            "is a service: book it, it cannot be shipped",
        );
        v.check(
            !p.active,
            &format!("{field}.item_id"),
            format!("{} is no longer sold", p.reference),
        );
        v.check(
            p.kind == "product" && i64::from(*quantity) > p.stock_available,
            &format!("{field}.quantity"),
            format!("only {} of {} in stock", p.stock_available, p.reference),
        );
        let unit = p.price.as_ref().map(|m| m.amount_cents).unwrap_or_default();
        let (net, vat) = money::line(unit, *quantity, *discount, p.vat_rate_bp);
        lines.push((p, *quantity, *discount, unit, net, vat));
    }
    v.into_result()?;

    let total_net: i64 = lines.iter().map(|l| l.4).sum();
    let total_vat: i64 = lines.iter().map(|l| l.5).sum();
    let ship_to = fields
        .delivery_address
        .clone()
        .or(fields.billing_address.clone())
        .unwrap_or_default();
    let order_id = Uuid::now_v7();
    sqlx::query(
        "insert into orders (tenant_id, id, kind, status, customer_id, residence_id, placed_by, placed_by_role,
             customer_name, customer_phone, ship_to, confirmation_email, shipping_method, payment_mode,
             terms_accepted_at, total_excl_vat_cents, total_vat_cents, total_incl_vat_cents, currency, origin)
         values ($1, $2, 'product', 'placed', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, now(), $13, $14, $15, 'EUR', $16)",
    )
    .bind(ctx.tenant)
    .bind(order_id)
    .bind(req.customer_id)
    .bind(residence_id)
    .bind(&caller.subject)
    .bind(caller.role.as_str())
    .bind(format!("{} {}", fields.first_name, fields.last_name))
    .bind(&fields.phone)
    .bind(address_to_json(&ship_to))
    .bind(&email)
    .bind(&req.shipping_method)
    .bind(req.payment_mode.as_str_name())
    .bind(total_net)
    .bind(total_vat)
    .bind(total_net + total_vat)
    .bind(&ctx.origin)
    .execute(&mut *conn)
    .await?;
    for (no, (p, quantity, discount, unit, net, vat)) in lines.iter().enumerate() {
        sqlx::query(
            "insert into order_lines (tenant_id, order_id, line_no, item_id, reference, name, quantity,
                 unit_price_cents, vat_rate_bp, discount_bp, total_excl_vat_cents, vat_cents)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(ctx.tenant)
        .bind(order_id)
        .bind(i32::try_from(no + 1).unwrap_or(i32::MAX))
        .bind(Uuid::parse_str(&p.item_id).unwrap_or_default())
        .bind(&p.reference)
        .bind(&p.name)
        .bind(quantity)
        .bind(unit)
        .bind(p.vat_rate_bp)
        .bind(discount)
        .bind(net)
        .bind(vat)
        .execute(&mut *conn)
        .await?;
    }
    let order = load(conn, ctx.tenant, order_id)
        .await?
        .ok_or_else(|| Error::not_found(format!("order {order_id}")))?;
    let meta = ctx.meta(order_id, order.version);
    let event = OrderPlaced {
        meta: Some(meta.clone()),
        order: Some(order.clone()),
    };
    ctx.emit(conn, "order", "placed", &meta, &event).await?;
    Ok(order)
}

#[derive(sqlx::FromRow)]
struct OrderRow {
    id: Uuid,
    kind: String,
    customer_id: Uuid,
    residence_id: Option<Uuid>,
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
}

#[derive(sqlx::FromRow)]
struct LineRow {
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

/// The order as stored, whoever asks (callers check visibility).
pub async fn load(conn: &mut PgConnection, tenant: Uuid, id: Uuid) -> Result<Option<Order>> {
    let row: Option<OrderRow> = sqlx::query_as(
        "select id, kind, customer_id, residence_id, placed_by, placed_by_role, customer_name, customer_phone,
                ship_to, confirmation_email, shipping_method, payment_mode, terms_accepted_at,
                total_excl_vat_cents, total_vat_cents, total_incl_vat_cents, origin, version, placed_at
         from orders where tenant_id = $1 and id = $2",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(o) = row else { return Ok(None) };
    let lines: Vec<LineRow> = sqlx::query_as(
        "select line_no, item_id, reference, name, quantity, unit_price_cents, vat_rate_bp, discount_bp,
                total_excl_vat_cents, vat_cents
         from order_lines where tenant_id = $1 and order_id = $2 order by line_no",
    )
    .bind(tenant)
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let breakdown = money::breakdown(
        &lines
            .iter()
            .map(|l| (l.vat_rate_bp, l.total_excl_vat_cents, l.vat_cents))
            .collect::<Vec<_>>(),
    );
    Ok(Some(Order {
        id: o.id.to_string(),
        kind: o.kind,
        status: OrderStatus::Placed as i32,
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
                total_incl_vat: validate::money_out(l.total_excl_vat_cents + l.vat_cents),
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
    }))
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
