//! How much of a paid hour pack a booking may still draw on.

use relais_platform::error::{Error, Result};
use sqlx::PgConnection;
use uuid::Uuid;

/// The customer's paid pack purchase `id`, as bought, its row locked until
/// the booking commits: bookings drawing on one pack are accepted one at a
/// time, each counting those before it (see [`room_on`]).
pub async fn paid_pack(
    conn: &mut PgConnection,
    tenant: Uuid,
    customer: Uuid,
    id: Uuid,
) -> Result<PackDetail> {
    let row: Option<(Uuid, String, Option<serde_json::Value>)> = sqlx::query_as(
        "select customer_id, status, hour_pack from orders
         where tenant_id = $1 and id = $2 and kind = 'hour_pack' for update",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let field = "hour_pack_order_id";
    match row {
        Some((owner, status, Some(pack))) if owner == customer => {
            if !matches!(status.as_str(), "confirmed") {
                return Err(Error::invalid(
                    field,
                    format!("the pack order is {status}: only a paid (confirmed) pack can be used"),
                ));
            }
            stored_orders::pack_detail(&pack)
                .ok_or_else(|| Error::Unexpected(anyhow::anyhow!("pack order {id}: bad detail")))
        }
        _ => Err(Error::invalid(
            field,
            "is not an hour-pack order of this customer",
        )),
    }
}

use crate::{
    planning::Planning,
    stored_orders::{self, PackDetail},
};

/// Minutes of a paid pack still free to book: the ledger's remaining less
/// the minutes of the pack's live bookings planning has not drawn on it yet
/// (placed, or confirmed with their planning still on its way). With the
/// pack's row locked ([`paid_pack`]), two bookings racing for its last
/// hours are counted one after the other, so they never both get them.
pub async fn room_on(
    conn: &mut PgConnection,
    planning: &Planning,
    tenant: Uuid,
    customer: Uuid,
    pack_order: Uuid,
    pack: &PackDetail,
) -> Result<i64> {
    let (remaining, drawn) = match planning.pack_balance(tenant, pack_order).await? {
        Some(b) => (
            i64::from(b.remaining),
            b.drawn_order_ids
                .iter()
                .filter_map(|s| Uuid::parse_str(s).ok())
                .collect::<Vec<_>>(),
        ),
        // Not opened in planning yet: nothing was drawn on it.
        None => (i64::from(pack.duration_minutes), Vec::new()),
    };
    let pending: i64 = sqlx::query_scalar(
        "select coalesce(sum((booking->'schedule'->>'duration_minutes')::bigint
                             * (booking->>'occurrences')::bigint), 0)::bigint
         from orders
         where tenant_id = $1 and customer_id = $2 and kind = 'booking' and status <> 'cancelled'
           and booking->>'hour_pack_order_id' = ($3::uuid)::text and id <> all($4)",
    )
    .bind(tenant)
    .bind(customer)
    .bind(pack_order)
    .bind(&drawn)
    .fetch_one(&mut *conn)
    .await?;
    Ok(remaining - pending)
}
