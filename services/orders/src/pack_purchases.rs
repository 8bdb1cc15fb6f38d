//! Hour-pack purchases (seed 002), paid at order, whose hours later pay
//! for bookings of eligible services.

use relais_platform::{
    auth::Caller,
    context::Ctx,
    error::{Error, Result, Violations},
};
use relais_proto::{
    orders::{Order, OrderStatus, PaymentMode, PlaceHourPackOrderRequest},
    types::Money,
};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    access::Scope,
    catalogue::Catalogue,
    customers,
    orders::{self, Buyer, NewLine, NewOrder, Who, catalogue_error, duration_label, required_id},
    stored_orders::PackDetail,
};

pub struct PackPurchase {
    who: Who,
    hour_pack_id: Uuid,
    confirmation_email: String,
    expected_total: Option<Money>,
}

impl PackPurchase {
    pub fn parse(r: &PlaceHourPackOrderRequest) -> Result<Self> {
        let mut v = Violations::new();
        let who = Who::parse(&mut v, &r.customer_id, r.new_customer.as_ref());
        let hour_pack_id = required_id(&mut v, "hour_pack_id", &r.hour_pack_id);
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
            hour_pack_id: hour_pack_id.unwrap_or_default(),
            confirmation_email,
            expected_total,
        })
    }
}

pub async fn place_pack(
    conn: &mut PgConnection,
    ctx: &Ctx,
    caller: &Caller,
    scope: &Scope,
    catalogue: &Catalogue,
    req: PackPurchase,
) -> Result<Order> {
    // Packs are paid at order, online (seed 002).
    let payment_mode = PaymentMode::Card;
    let customer_id = req.who.id(conn, ctx, scope).await?;
    let buyer = Buyer::resolve(
        conn,
        ctx.tenant,
        scope,
        customer_id,
        &req.confirmation_email,
        payment_mode,
    )
    .await?;
    let pack = catalogue
        .hour_pack(ctx.tenant, req.hour_pack_id)
        .await
        .map_err(catalogue_error("hour_pack_id", "hour pack"))?;
    if !pack.active {
        return Err(Error::invalid(
            "hour_pack_id",
            format!("the pack \"{}\" is not on sale", pack.name),
        ));
    }
    let price = pack
        .price
        .as_ref()
        .map(|m| m.amount_cents)
        .unwrap_or_default();
    let detail = PackDetail {
        hour_pack_id: req.hour_pack_id,
        name: pack.name.clone(),
        duration_minutes: pack.duration_minutes,
        vat_rate_bp: pack.vat_rate_bp,
        eligible_service_ids: pack
            .eligible_service_ids
            .iter()
            .filter_map(|s| Uuid::parse_str(s).ok())
            .collect(),
    };
    let ship_to = buyer.address();
    orders::insert(
        conn,
        ctx,
        caller,
        NewOrder {
            kind: "hour_pack",
            status: OrderStatus::Placed,
            buyer,
            ship_to,
            shipping_method: String::new(),
            payment_mode,
            lines: vec![NewLine {
                item_id: req.hour_pack_id,
                reference: format!(
                    "PACK-{}",
                    duration_label(pack.duration_minutes).replace(' ', "")
                ),
                name: pack.name,
                quantity: 1,
                unit_cents: price,
                vat_rate_bp: pack.vat_rate_bp,
                discount_bp: 0,
                quantity_field: "hour_pack_id".into(),
            }],
            booking: None,
            hour_pack: Some(detail),
            expected_total: req.expected_total,
        },
    )
    .await
}
