//! ERP imports: a stream of items keyed by reference, each applied in its
//! own transaction and answered in order, so one bad item does not stop the
//! others and nothing of a refused item is kept.

use relais_platform::{error::Error, outbox::Outbox};
use relais_proto::catalogue::{BulkUpsertRequest, BulkUpsertResponse, bulk_upsert_request::Item};
use sqlx::{PgConnection, PgPool};
use tonic::Status;

use relais_platform::context::Ctx;

use crate::{categories, prestations, prices, products};

pub async fn apply(
    pool: &PgPool,
    outbox: &Outbox,
    ctx: &Ctx,
    req: BulkUpsertRequest,
) -> BulkUpsertResponse {
    let correlation_id = req.correlation_id.clone();
    let result: Result<(String, bool), Error> = async {
        let mut tx = pool.begin().await?;
        let done = apply_item(&mut tx, ctx, req.item).await?;
        outbox.commit(tx).await?;
        Ok(done)
    }
    .await;
    match result {
        Ok((id, created)) => BulkUpsertResponse {
            correlation_id,
            id,
            created,
            ..Default::default()
        },
        Err(e) => {
            let field = match &e {
                Error::InvalidArgument(v) => v.first().map(|f| f.field.clone()).unwrap_or_default(),
                _ => String::new(),
            };
            // The same message a unary call would give, internals hidden.
            let status = Status::from(e);
            BulkUpsertResponse {
                correlation_id,
                error: status.message().to_owned(),
                field,
                ..Default::default()
            }
        }
    }
}

async fn apply_item(
    conn: &mut PgConnection,
    ctx: &Ctx,
    item: Option<Item>,
) -> Result<(String, bool), Error> {
    match item.ok_or_else(|| Error::invalid("item", "is required"))? {
        Item::Category(c) => {
            let input = categories::Input::parse("", &c.code, &c.name, c.position, c.active)?;
            let (cat, created) =
                categories::upsert_by_code(conn, ctx, &c.parent_code, input).await?;
            Ok((cat.id, created))
        }
        Item::Service(s) => {
            let mut input = prestations::Input::parse(s.fields.as_ref())?;
            if let Some(id) = category_by_code(conn, ctx, &s.category_code).await? {
                input.category_id = Some(id);
            }
            let (svc, created) = prestations::upsert_by_code(conn, ctx, input).await?;
            Ok((svc.id, created))
        }
        Item::Product(p) => {
            let mut input = products::Input::parse(p.fields.as_ref())?;
            if let Some(id) = category_by_code(conn, ctx, &p.category_code).await? {
                input.category_id = Some(id);
            }
            let (product, created) = products::upsert_by_sku(conn, ctx, input).await?;
            Ok((product.id, created))
        }
        Item::Stock(s) => {
            let id = products::id_by_sku(conn, ctx.tenant, &s.sku)
                .await?
                .ok_or_else(|| Error::invalid("sku", format!("no product {:?}", s.sku)))?;
            let product = products::set_stock(conn, ctx, id, s.real, s.available).await?;
            Ok((product.id, false))
        }
        Item::Price(p) => {
            let item = prices::item_by_reference(conn, ctx.tenant, &p.item_reference).await?;
            prices::set(conn, ctx, &p.customer_family, item, p.price.as_ref()).await?;
            Ok((item.to_string(), false))
        }
    }
}

/// The category named by an ERP family code; empty means none given.
async fn category_by_code(
    conn: &mut PgConnection,
    ctx: &Ctx,
    code: &str,
) -> Result<Option<uuid::Uuid>, Error> {
    if code.trim().is_empty() {
        return Ok(None);
    }
    let id = categories::id_by_code(conn, ctx.tenant, code.trim()).await?;
    id.map(Some)
        .ok_or_else(|| Error::invalid("category_code", format!("no category {code:?}")))
}
