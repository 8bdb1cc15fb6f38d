//! What every kind of order shares when it is placed: who it is for (the
//! customer's profile fills it), lines that keep the price, VAT rate and
//! discount of the moment, totals the database checks, the `order.placed`
//! event. How an order is read back for whoever may see it is
//! [`crate::stored_orders`]'s.

use relais_domain::money;
use relais_platform::{
    auth::Caller,
    context::Ctx,
    error::{Error, Result, Violations},
    validate,
};
use relais_proto::{
    events::OrderPlaced,
    orders::{Address, CustomerFields, Order, OrderStatus, PaymentMode},
    types::Money,
};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::stored_orders::{BookingDetail, PackDetail, load, status_name};
use crate::{
    access::Scope,
    customers::{self, address_to_json},
};

/// The customer an order is for, as their profile stands now.
pub struct Buyer {
    pub id: Uuid,
    pub fields: CustomerFields,
    pub residence_id: Option<Uuid>,
    pub email: String,
}

impl Buyer {
    /// Reads the customer (NOT_FOUND outside the caller's scope) and checks
    /// what the profile must offer for this order.
    pub async fn resolve(
        conn: &mut PgConnection,
        tenant: Uuid,
        scope: &Scope,
        id: Uuid,
        confirmation_email: &str,
        payment_mode: PaymentMode,
    ) -> Result<Self> {
        let customer = customers::get(conn, tenant, scope, id).await?;
        let fields = customer.fields.unwrap_or_default();
        let residence_id = Uuid::parse_str(&fields.residence_id).ok();
        let email = if fields.email.is_empty() {
            confirmation_email.to_owned()
        } else {
            fields.email.clone()
        };
        let mut v = Violations::new();
        v.check(
            email.is_empty(),
            "confirmation_email",
            "the customer has no e-mail: give theirs or the residence's for the confirmation",
        );
        v.check(
            payment_mode == PaymentMode::ResidenceMonthly && residence_id.is_none(),
            "payment_mode",
            "monthly residence billing is for residents of a residence",
        );
        v.into_result()?;
        Ok(Self {
            id,
            fields,
            residence_id,
            email,
        })
    }

    pub fn name(&self) -> String {
        format!("{} {}", self.fields.first_name, self.fields.last_name)
    }

    /// Where products go or the service takes place by default.
    pub fn address(&self) -> Address {
        self.fields
            .delivery_address
            .clone()
            .or(self.fields.billing_address.clone())
            .unwrap_or_default()
    }
}

/// Who an order is for: a customer on file, or an online customer ordering
/// for the first time.
pub enum Who {
    Existing(Uuid),
    New(Box<customers::Input>),
}

impl Who {
    /// Exactly one of `customer_id` and `new_customer`.
    pub fn parse(
        v: &mut Violations,
        customer_id: &str,
        new_customer: Option<&CustomerFields>,
    ) -> Option<Self> {
        match (customer_id.trim().is_empty(), new_customer) {
            (true, None) => {
                v.add(
                    "customer_id",
                    "is required (or new_customer for a first order)",
                );
                None
            }
            (false, Some(_)) => {
                v.add("new_customer", "give customer_id or new_customer, not both");
                None
            }
            (false, None) => {
                validate::optional_id(v, "customer_id", customer_id).map(Who::Existing)
            }
            (true, Some(f)) => customers::Input::parse_at(v, "new_customer", Some(f))
                .map(|i| Who::New(Box::new(i))),
        }
    }

    /// The customer's id, creating the new customer first (with its event).
    pub async fn id(self, conn: &mut PgConnection, ctx: &Ctx, scope: &Scope) -> Result<Uuid> {
        match self {
            Who::Existing(id) => Ok(id),
            Who::New(input) => {
                if matches!(scope, Scope::Customer(_)) {
                    return Err(Error::PermissionDenied(
                        "a customer token orders for its own customer_id".into(),
                    ));
                }
                let customer = customers::create(conn, ctx, scope, *input).await?;
                Uuid::parse_str(&customer.id)
                    .map_err(|e| Error::Unexpected(anyhow::anyhow!("new customer id: {e}")))
            }
        }
    }
}

/// A line before its arithmetic.
pub struct NewLine {
    pub item_id: Uuid,
    pub reference: String,
    pub name: String,
    pub quantity: i32,
    pub unit_cents: i64,
    pub vat_rate_bp: i32,
    pub discount_bp: i32,
    /// The request field that sets the quantity (`lines[0].quantity`,
    /// `schedule`...): named when the line's amount is beyond the range.
    pub quantity_field: String,
}

pub struct NewOrder {
    pub kind: &'static str,
    pub status: OrderStatus,
    pub buyer: Buyer,
    pub ship_to: Address,
    pub shipping_method: String,
    pub payment_mode: PaymentMode,
    pub lines: Vec<NewLine>,
    pub booking: Option<BookingDetail>,
    pub hour_pack: Option<PackDetail>,
    /// What the shop showed; a different total refuses the order.
    pub expected_total: Option<Money>,
}

/// Checks an optional expected total on its own (currency, sign).
pub fn expected_total(v: &mut Violations, field: &str, m: Option<&Money>) -> Option<Money> {
    m.map(|m| {
        validate::money(v, field, Some(m), validate::MAX_TOTAL_CENTS);
        m.clone()
    })
}

/// Prices the lines, stores the order and emits `order.placed`.
pub async fn insert(
    conn: &mut PgConnection,
    ctx: &Ctx,
    caller: &Caller,
    new: NewOrder,
) -> Result<Order> {
    // Checked: quantities and prices are bounded, but an amount beyond the
    // range is refused on the field that sets the line's quantity, never
    // wrapped.
    let priced: Vec<(i64, i64)> = new
        .lines
        .iter()
        .map(|l| {
            money::checked_line(
                &l.quantity_field,
                l.unit_cents,
                l.quantity,
                l.discount_bp,
                l.vat_rate_bp,
            )
        })
        .collect::<Result<_, _>>()?;
    let total_net = money::total("lines", priced.iter().map(|p| p.0))?;
    let total_vat = money::total("lines", priced.iter().map(|p| p.1))?;
    let total_incl = money::total("lines", [total_net, total_vat])?;
    if let Some(expected) = &new.expected_total
        && expected.amount_cents != total_incl
    {
        return Err(Error::FailedPrecondition(format!(
            "amounts don't add up: the shop showed {} but today's prices give {} incl. VAT; show the new total and ask again",
            cents(expected.amount_cents),
            cents(total_incl)
        )));
    }
    let order_id = Uuid::now_v7();
    let to_json = |v: Option<serde_json::Result<serde_json::Value>>| {
        v.transpose()
            .map_err(|e| Error::Unexpected(anyhow::anyhow!("order detail: {e}")))
    };
    let booking = to_json(new.booking.as_ref().map(serde_json::to_value))?;
    let hour_pack = to_json(new.hour_pack.as_ref().map(serde_json::to_value))?;
    sqlx::query(
        "insert into orders (tenant_id, id, kind, status, customer_id, residence_id, placed_by, placed_by_role,
             customer_name, customer_phone, ship_to, confirmation_email, shipping_method, payment_mode,
             terms_accepted_at, total_excl_vat_cents, total_vat_cents, total_incl_vat_cents, currency, origin,
             booking, hour_pack)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, now(), $15, $16, $17, 'EUR', $18, $19, $20)",
    )
    .bind(ctx.tenant)
    .bind(order_id)
    .bind(new.kind)
    .bind(status_name(new.status))
    .bind(new.buyer.id)
    .bind(new.buyer.residence_id)
    .bind(&caller.subject)
    .bind(caller.role.as_str())
    .bind(new.buyer.name())
    .bind(&new.buyer.fields.phone)
    .bind(address_to_json(&new.ship_to))
    .bind(&new.buyer.email)
    .bind(&new.shipping_method)
    .bind(new.payment_mode.as_str_name())
    .bind(total_net)
    .bind(total_vat)
    .bind(total_incl)
    .bind(&ctx.origin)
    .bind(booking)
    .bind(hour_pack)
    .execute(&mut *conn)
    .await?;
    for (no, (l, (net, vat))) in new.lines.iter().zip(&priced).enumerate() {
        sqlx::query(
            "insert into order_lines (tenant_id, order_id, line_no, item_id, reference, name, quantity,
                 unit_price_cents, vat_rate_bp, discount_bp, total_excl_vat_cents, vat_cents)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(ctx.tenant)
        .bind(order_id)
        .bind(i32::try_from(no + 1).unwrap_or(i32::MAX))
        .bind(l.item_id)
        .bind(&l.reference)
        .bind(&l.name)
        .bind(l.quantity)
        .bind(l.unit_cents)
        .bind(l.vat_rate_bp)
        .bind(l.discount_bp)
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

fn cents(c: i64) -> String {
    format!("{}.{:02} €", c / 100, c % 100)
}

pub fn required_id(v: &mut Violations, field: &str, value: &str) -> Option<Uuid> {
    v.check(value.trim().is_empty(), field, "is required");
    validate::optional_id(v, field, value)
}

pub fn catalogue_error(field: &'static str, what: &'static str) -> impl Fn(Error) -> Error {
    move |e| match e {
        Error::NotFound(_) => Error::invalid(field, format!("no such {what} in the catalogue")),
        other => other,
    }
}

pub fn duration_label(minutes: i32) -> String {
    match (minutes / 60, minutes % 60) {
        (h, 0) => format!("{h} h"),
        (0, m) => format!("{m} min"),
        (h, m) => format!("{h} h {m:02}"),
    }
}

pub fn duration_label_long(minutes: i64) -> String {
    duration_label(i32::try_from(minutes).unwrap_or(i32::MAX))
}
