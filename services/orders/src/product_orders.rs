//! Product orders placed for a customer (seed 003): the customer's profile
//! fills the order, the catalogue prices it, every line keeps its price,
//! VAT rate and discount, and who placed it for whom is recorded.

use relais_platform::{
    auth::Caller,
    context::Ctx,
    error::{Error, Result, Violations},
    validate,
};
use relais_proto::{
    orders::{Order, OrderStatus, PaymentMode, PlaceProductOrderRequest},
    types::Money,
};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    access::Scope,
    catalogue::Catalogue,
    customers,
    orders::{self, Buyer, NewLine, NewOrder, Who},
};

const MAX_LINES: usize = 200;
const MAX_QUANTITY: i32 = 10_000;

/// The request, checked on its own (before anything is read).
pub struct Request {
    who: Who,
    lines: Vec<(Uuid, i32, i32)>,
    shipping_method: String,
    payment_mode: PaymentMode,
    confirmation_email: String,
    as_quote: bool,
    expected_total: Option<Money>,
}

impl Request {
    pub fn parse(r: &PlaceProductOrderRequest) -> Result<Self> {
        let mut v = Violations::new();
        let who = Who::parse(&mut v, &r.customer_id, r.new_customer.as_ref());
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
            matches!(
                payment_mode,
                PaymentMode::Unspecified | PaymentMode::HourPack
            ),
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
        let expected_total = orders::expected_total(
            &mut v,
            "expected_total_incl_vat",
            r.expected_total_incl_vat.as_ref(),
        );
        v.into_result()?;
        let who = who.ok_or_else(|| Error::invalid("customer_id", "is required"))?;
        Ok(Self {
            who,
            lines,
            shipping_method,
            payment_mode,
            confirmation_email,
            as_quote: r.as_quote,
            expected_total,
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
    let customer_id = req.who.id(conn, ctx, scope).await?;
    let buyer = Buyer::resolve(
        conn,
        ctx.tenant,
        scope,
        customer_id,
        &req.confirmation_email,
        req.payment_mode,
    )
    .await?;

    let ids: Vec<Uuid> = req.lines.iter().map(|l| l.0).collect();
    let prices = catalogue
        .prices(ctx.tenant, &buyer.fields.customer_family, &ids)
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
    for (i, ((id, quantity, discount), p)) in req.lines.iter().zip(&prices).enumerate() {
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
        lines.push(NewLine {
            item_id: *id,
            reference: p.reference.clone(),
            name: p.name.clone(),
            quantity: *quantity,
            unit_cents: p.price.as_ref().map(|m| m.amount_cents).unwrap_or_default(),
            vat_rate_bp: p.vat_rate_bp,
            discount_bp: *discount,
            quantity_field: format!("{field}.quantity"),
        });
    }
    v.into_result()?;

    let ship_to = buyer.address();
    orders::insert(
        conn,
        ctx,
        caller,
        NewOrder {
            kind: "product",
            status: if req.as_quote {
                OrderStatus::Quote
            } else {
                OrderStatus::Placed
            },
            buyer,
            ship_to,
            shipping_method: req.shipping_method,
            payment_mode: req.payment_mode,
            lines,
            booking: None,
            hour_pack: None,
            expected_total: req.expected_total,
        },
    )
    .await
}
