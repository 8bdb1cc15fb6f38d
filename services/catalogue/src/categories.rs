//! The category tree: ERP families and sub-families. Tree changes of a
//! tenant are serialised (advisory lock), so two concurrent moves can never
//! close a cycle between them.

use chrono::{DateTime, Utc};
use relais_platform::error::{Error, Result, Violations, on_constraint};
use relais_platform::{
    context::{Ctx, timestamp},
    validate,
};
use relais_proto::{catalogue::Category, events::CategoryChanged};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    parent_id: Option<Uuid>,
    code: String,
    name: String,
    position: i32,
    active: bool,
    version: i64,
    origin: String,
    updated_at: DateTime<Utc>,
}

impl From<Row> for Category {
    fn from(r: Row) -> Self {
        Category {
            id: r.id.to_string(),
            parent_id: r.parent_id.map(|p| p.to_string()).unwrap_or_default(),
            code: r.code,
            name: r.name,
            position: r.position,
            active: r.active,
            version: r.version,
            origin: r.origin,
            updated_at: Some(timestamp(r.updated_at)),
        }
    }
}

const COLS: &str = "id, parent_id, code, name, position, active, version, origin, updated_at";

pub struct Input {
    pub parent_id: Option<Uuid>,
    pub code: String,
    pub name: String,
    pub position: i32,
    pub active: bool,
}

impl Input {
    pub fn parse(
        parent_id: &str,
        code: &str,
        name: &str,
        position: i32,
        active: bool,
    ) -> Result<Self> {
        let mut v = Violations::new();
        let input = Self {
            parent_id: validate::optional_id(&mut v, "parent_id", parent_id),
            code: validate::reference(&mut v, "code", code),
            name: validate::name(&mut v, "name", name),
            position,
            active,
        };
        v.into_result()?;
        Ok(input)
    }
}

async fn lock_tree(conn: &mut PgConnection, tenant: Uuid) -> Result<()> {
    sqlx::query(
        "select pg_advisory_xact_lock(hashtextextended('catalogue.categories:' || $1::text, 0))",
    )
    .bind(tenant)
    .execute(conn)
    .await?;
    Ok(())
}

async fn check_parent(
    conn: &mut PgConnection,
    tenant: Uuid,
    id: Option<Uuid>,
    parent: Uuid,
) -> Result<()> {
    if id == Some(parent) {
        return Err(Error::invalid(
            "parent_id",
            "a category cannot be its own parent",
        ));
    }
    // Walks up from the new parent: meeting `id` on the way means a cycle.
    let (exists, cycle): (bool, bool) = sqlx::query_as(
        "with recursive up as (
             select id, parent_id from categories where tenant_id = $1 and id = $2
             union all
             select c.id, c.parent_id from categories c join up on c.id = up.parent_id
             where c.tenant_id = $1
         )
         select exists(select 1 from up where id = $2), exists(select 1 from up where id = $3)",
    )
    .bind(tenant)
    .bind(parent)
    .bind(id)
    .fetch_one(conn)
    .await?;
    if !exists {
        return Err(Error::invalid("parent_id", "no such category"));
    }
    if cycle {
        return Err(Error::invalid(
            "parent_id",
            "this parent is a sub-category of the category: the tree would have a cycle",
        ));
    }
    Ok(())
}

fn duplicate(code: &str) -> impl FnOnce() -> Error + '_ {
    move || Error::AlreadyExists(format!("a category with code {code:?} already exists"))
}

pub async fn create(conn: &mut PgConnection, ctx: &Ctx, input: Input) -> Result<Category> {
    lock_tree(conn, ctx.tenant).await?;
    if let Some(parent) = input.parent_id {
        check_parent(conn, ctx.tenant, None, parent).await?;
    }
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into categories (tenant_id, id, parent_id, code, name, position, active, origin)
         values ($1, $2, $3, $4, $5, $6, $7, $8) returning {COLS}"
    )))
    .bind(ctx.tenant)
    .bind(Uuid::now_v7())
    .bind(input.parent_id)
    .bind(&input.code)
    .bind(&input.name)
    .bind(input.position)
    .bind(input.active)
    .bind(&ctx.origin)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| on_constraint(e, "categories_code_key", duplicate(&input.code)))?;
    let category = Category::from(row);
    publish(conn, ctx, "created", &category).await?;
    Ok(category)
}

pub async fn update(
    conn: &mut PgConnection,
    ctx: &Ctx,
    id: Uuid,
    expected_version: i64,
    input: Input,
) -> Result<Category> {
    lock_tree(conn, ctx.tenant).await?;
    let version: Option<i64> = sqlx::query_scalar(
        "select version from categories where tenant_id = $1 and id = $2 for update",
    )
    .bind(ctx.tenant)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let version = version.ok_or_else(|| Error::not_found(format!("category {id}")))?;
    validate::expected_version(expected_version, version)?;
    if let Some(parent) = input.parent_id {
        check_parent(conn, ctx.tenant, Some(id), parent).await?;
    }
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update categories set parent_id = $3, code = $4, name = $5, position = $6, active = $7,
             origin = $8, version = version + 1, updated_at = now()
         where tenant_id = $1 and id = $2 returning {COLS}"
    )))
    .bind(ctx.tenant)
    .bind(id)
    .bind(input.parent_id)
    .bind(&input.code)
    .bind(&input.name)
    .bind(input.position)
    .bind(input.active)
    .bind(&ctx.origin)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| on_constraint(e, "categories_code_key", duplicate(&input.code)))?;
    let category = Category::from(row);
    publish(conn, ctx, "updated", &category).await?;
    Ok(category)
}

/// Creates or updates the category with `code` (ERP imports).
pub async fn upsert_by_code(
    conn: &mut PgConnection,
    ctx: &Ctx,
    parent_code: &str,
    input: Input,
) -> Result<(Category, bool)> {
    let mut input = input;
    if !parent_code.trim().is_empty() {
        let parent = id_by_code(conn, ctx.tenant, parent_code.trim()).await?;
        input.parent_id = Some(parent.ok_or_else(|| {
            Error::invalid(
                "parent_code",
                format!("no category with code {parent_code:?}"),
            )
        })?);
    }
    match id_by_code(conn, ctx.tenant, &input.code).await? {
        Some(id) => Ok((update(conn, ctx, id, 0, input).await?, false)),
        None => Ok((create(conn, ctx, input).await?, true)),
    }
}

pub async fn id_by_code(conn: &mut PgConnection, tenant: Uuid, code: &str) -> Result<Option<Uuid>> {
    Ok(
        sqlx::query_scalar("select id from categories where tenant_id = $1 and code = $2")
            .bind(tenant)
            .bind(code)
            .fetch_optional(conn)
            .await?,
    )
}

pub async fn get(pool: &PgPool, tenant: Uuid, id: Uuid) -> Result<Category> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLS} from categories where tenant_id = $1 and id = $2"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.map(Category::from)
        .ok_or_else(|| Error::not_found(format!("category {id}")))
}

/// The tree, parents before children, siblings by position then name.
pub async fn list(pool: &PgPool, tenant: Uuid, include_inactive: bool) -> Result<Vec<Category>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "with recursive tree as (
             select c.*, 0 as depth, array[c.position::bigint] as path_pos, array[c.name] as path_name
             from categories c where c.tenant_id = $1 and c.parent_id is null
             union all
             select c.*, t.depth + 1, t.path_pos || c.position::bigint, t.path_name || c.name
             from categories c join tree t on c.parent_id = t.id where c.tenant_id = $1
         )
         select {COLS} from tree where $2 or active order by depth, path_pos, path_name"
    )))
    .bind(tenant)
    .bind(include_inactive)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Category::from).collect())
}

/// Fails unless the category exists in the tenant (for references).
pub async fn ensure_exists(
    conn: &mut PgConnection,
    tenant: Uuid,
    field: &str,
    id: Uuid,
) -> Result<()> {
    let found: Option<i32> =
        sqlx::query_scalar("select 1 from categories where tenant_id = $1 and id = $2")
            .bind(tenant)
            .bind(id)
            .fetch_optional(conn)
            .await?;
    found
        .map(|_| ())
        .ok_or_else(|| Error::invalid(field, "no such category"))
}

async fn publish(conn: &mut PgConnection, ctx: &Ctx, event: &str, c: &Category) -> Result<()> {
    let id = Uuid::parse_str(&c.id).unwrap_or_default();
    let meta = ctx.meta(id, c.version);
    let payload = CategoryChanged {
        meta: Some(meta.clone()),
        category: Some(c.clone()),
    };
    ctx.emit(conn, "category", event, &meta, &payload).await?;
    Ok(())
}
