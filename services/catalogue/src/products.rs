//! Products (articles) and their stock.

use chrono::{DateTime, Utc};
use relais_platform::error::{Error, Result, Violations, on_constraint};
use relais_platform::{
    context::{Ctx, timestamp},
    validate::{self, MAX_PRICE_CENTS},
};
use relais_proto::{
    catalogue::{Product, ProductFields},
    events::{ProductChanged, StockChanged},
};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{categories, prestations::Filter};

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    sku: String,
    designation: String,
    description: String,
    category_id: Option<Uuid>,
    price_cents: i64,
    vat_rate_bp: i32,
    sales_unit: String,
    weight_grams: i64,
    image_urls: Vec<String>,
    active: bool,
    stock_real: i64,
    stock_available: i64,
    version: i64,
    origin: String,
    updated_at: DateTime<Utc>,
}

impl From<Row> for Product {
    fn from(r: Row) -> Self {
        Product {
            id: r.id.to_string(),
            sku: r.sku,
            designation: r.designation,
            description: r.description,
            category_id: r.category_id.map(|c| c.to_string()).unwrap_or_default(),
            price: validate::money_out(r.price_cents),
            vat_rate_bp: r.vat_rate_bp,
            sales_unit: r.sales_unit,
            weight_grams: r.weight_grams,
            image_urls: r.image_urls,
            active: r.active,
            stock_real: r.stock_real,
            stock_available: r.stock_available,
            version: r.version,
            origin: r.origin,
            updated_at: Some(timestamp(r.updated_at)),
        }
    }
}

const COLS: &str = "id, sku, designation, description, category_id, price_cents, vat_rate_bp, \
                    sales_unit, weight_grams, image_urls, active, stock_real, stock_available, \
                    version, origin, updated_at";

/// At most this many images per product, each an http(s) URL.
const MAX_IMAGES: usize = 20;

pub struct Input {
    sku: String,
    designation: String,
    description: String,
    pub category_id: Option<Uuid>,
    price_cents: i64,
    vat_rate_bp: i32,
    sales_unit: String,
    weight_grams: i64,
    image_urls: Vec<String>,
    active: bool,
}

impl Input {
    pub fn parse(f: Option<&ProductFields>) -> Result<Self> {
        let f = f.ok_or_else(|| Error::invalid("fields", "is required"))?;
        let mut v = Violations::new();
        let sales_unit = if f.sales_unit.trim().is_empty() {
            "unit".to_owned()
        } else {
            validate::name(&mut v, "fields.sales_unit", &f.sales_unit)
        };
        v.check(
            f.weight_grams < 0,
            "fields.weight_grams",
            "must not be negative",
        );
        v.check(
            f.weight_grams > 10_000_000,
            "fields.weight_grams",
            "above 10 tonnes: is it in grams?",
        );
        v.check(
            f.image_urls.len() > MAX_IMAGES,
            "fields.image_urls",
            format!("at most {MAX_IMAGES} images"),
        );
        for (i, url) in f.image_urls.iter().enumerate() {
            let ok = (url.starts_with("https://") || url.starts_with("http://"))
                && url.len() <= 2000
                && !url.chars().any(char::is_whitespace);
            v.check(
                !ok,
                &format!("fields.image_urls[{i}]"),
                "must be an http(s) URL",
            );
        }
        let input = Self {
            sku: validate::reference(&mut v, "fields.sku", &f.sku),
            designation: validate::name(&mut v, "fields.designation", &f.designation),
            description: validate::description(&mut v, "fields.description", &f.description),
            category_id: validate::optional_id(&mut v, "fields.category_id", &f.category_id),
            price_cents: validate::money(&mut v, "fields.price", f.price.as_ref(), MAX_PRICE_CENTS),
            vat_rate_bp: validate::vat(&mut v, "fields.vat_rate_bp", f.vat_rate_bp),
            sales_unit,
            weight_grams: f.weight_grams,
            image_urls: f.image_urls.clone(),
            active: f.active,
        };
        v.into_result()?;
        Ok(input)
    }
}

fn duplicate(sku: &str) -> impl FnOnce() -> Error + '_ {
    move || Error::AlreadyExists(format!("SKU {sku:?} is already used by another product"))
}

pub async fn create(conn: &mut PgConnection, ctx: &Ctx, input: Input) -> Result<Product> {
    if let Some(c) = input.category_id {
        categories::ensure_exists(conn, ctx.tenant, "fields.category_id", c).await?;
    }
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into products (tenant_id, id, sku, designation, description, category_id, price_cents,
             currency, vat_rate_bp, sales_unit, weight_grams, image_urls, active, origin)
         values ($1, $2, $3, $4, $5, $6, $7, 'EUR', $8, $9, $10, $11, $12, $13) returning {COLS}"
    )))
    .bind(ctx.tenant)
    .bind(Uuid::now_v7())
    .bind(&input.sku)
    .bind(&input.designation)
    .bind(&input.description)
    .bind(input.category_id)
    .bind(input.price_cents)
    .bind(input.vat_rate_bp)
    .bind(&input.sales_unit)
    .bind(input.weight_grams)
    .bind(&input.image_urls)
    .bind(input.active)
    .bind(&ctx.origin)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| on_constraint(e, "products_sku_key", duplicate(&input.sku)))?;
    let product = Product::from(row);
    publish(conn, ctx, "created", &product).await?;
    Ok(product)
}

async fn lock_version(conn: &mut PgConnection, tenant: Uuid, id: Uuid) -> Result<i64> {
    let version: Option<i64> = sqlx::query_scalar(
        "select version from products where tenant_id = $1 and id = $2 for update",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(conn)
    .await?;
    version.ok_or_else(|| Error::not_found(format!("product {id}")))
}

pub async fn update(
    conn: &mut PgConnection,
    ctx: &Ctx,
    id: Uuid,
    expected_version: i64,
    input: Input,
) -> Result<Product> {
    validate::expected_version(expected_version, lock_version(conn, ctx.tenant, id).await?)?;
    if let Some(c) = input.category_id {
        categories::ensure_exists(conn, ctx.tenant, "fields.category_id", c).await?;
    }
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update products set sku = $3, designation = $4, description = $5, category_id = $6,
             price_cents = $7, vat_rate_bp = $8, sales_unit = $9, weight_grams = $10,
             image_urls = $11, active = $12, origin = $13, version = version + 1, updated_at = now()
         where tenant_id = $1 and id = $2 returning {COLS}"
    )))
    .bind(ctx.tenant)
    .bind(id)
    .bind(&input.sku)
    .bind(&input.designation)
    .bind(&input.description)
    .bind(input.category_id)
    .bind(input.price_cents)
    .bind(input.vat_rate_bp)
    .bind(&input.sales_unit)
    .bind(input.weight_grams)
    .bind(&input.image_urls)
    .bind(input.active)
    .bind(&ctx.origin)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| on_constraint(e, "products_sku_key", duplicate(&input.sku)))?;
    let product = Product::from(row);
    publish(conn, ctx, "updated", &product).await?;
    Ok(product)
}

pub async fn id_by_sku(conn: &mut PgConnection, tenant: Uuid, sku: &str) -> Result<Option<Uuid>> {
    Ok(
        sqlx::query_scalar("select id from products where tenant_id = $1 and sku = $2")
            .bind(tenant)
            .bind(sku.trim())
            .fetch_optional(conn)
            .await?,
    )
}

pub async fn upsert_by_sku(
    conn: &mut PgConnection,
    ctx: &Ctx,
    input: Input,
) -> Result<(Product, bool)> {
    match id_by_sku(conn, ctx.tenant, &input.sku).await? {
        Some(id) => Ok((update(conn, ctx, id, 0, input).await?, false)),
        None => Ok((create(conn, ctx, input).await?, true)),
    }
}

/// Sets real and available stock (available ≤ real, both ≥ 0).
pub async fn set_stock(
    conn: &mut PgConnection,
    ctx: &Ctx,
    id: Uuid,
    real: i64,
    available: i64,
) -> Result<Product> {
    let mut v = Violations::new();
    v.check(real < 0, "real", "must not be negative");
    v.check(available < 0, "available", "must not be negative");
    v.check(available > real, "available", "must not exceed real stock");
    v.into_result()?;
    lock_version(conn, ctx.tenant, id).await?;
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update products set stock_real = $3, stock_available = $4, version = version + 1,
             updated_at = now()
         where tenant_id = $1 and id = $2 returning {COLS}"
    )))
    .bind(ctx.tenant)
    .bind(id)
    .bind(real)
    .bind(available)
    .fetch_one(&mut *conn)
    .await?;
    let product = Product::from(row);
    let meta = ctx.meta(id, product.version);
    let payload = StockChanged {
        meta: Some(meta.clone()),
        product_id: product.id.clone(),
        sku: product.sku.clone(),
        real,
        available,
    };
    ctx.emit(conn, "product", "stock_changed", &meta, &payload)
        .await?;
    Ok(product)
}

pub async fn get(pool: &PgPool, tenant: Uuid, id: Uuid) -> Result<Product> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLS} from products where tenant_id = $1 and id = $2"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.map(Product::from)
        .ok_or_else(|| Error::not_found(format!("product {id}")))
}

pub async fn list(pool: &PgPool, tenant: Uuid, f: &Filter) -> Result<Vec<Product>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLS} from products
         where tenant_id = $1 and ($2::uuid is null or id > $2) and ($3 or active)
           and ($4::uuid is null or category_id = $4)
           and ($5 = '' or sku ilike $6 or designation ilike $6)
         order by id limit $7"
    )))
    .bind(tenant)
    .bind(f.after)
    .bind(f.include_inactive)
    .bind(f.category_id)
    .bind(f.query.trim())
    .bind(validate::like(&f.query))
    .bind(f.limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Product::from).collect())
}

async fn publish(conn: &mut PgConnection, ctx: &Ctx, event: &str, p: &Product) -> Result<()> {
    let meta = ctx.meta(Uuid::parse_str(&p.id).unwrap_or_default(), p.version);
    let payload = ProductChanged {
        meta: Some(meta.clone()),
        product: Some(p.clone()),
    };
    ctx.emit(conn, "product", event, &meta, &payload).await?;
    Ok(())
}
