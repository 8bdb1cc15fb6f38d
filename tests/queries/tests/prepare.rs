//! Every SQL query the source writes as a literal (`sqlx::query("…")`,
//! `query_as`, `query_scalar`, or a `const` string they are given) is
//! prepared by Postgres against the schema it runs on, as the service's
//! migrations leave it: an unknown table or column, a type that does not
//! fit, a syntax error fail here, with the file and line, without a test
//! having to reach the query.
//!
//! Why this rather than sqlx's compile-time macros: the queries stay plain
//! strings (no committed offline data to regenerate after each migration,
//! no database at compile time, the Dockerfile builds without one), and the
//! check runs where the schema really is — migrated by the services
//! themselves, through the testkit. What it cannot see: queries assembled
//! with `format!` (a table or column list chosen at run time), which it
//! counts and lists; the tests that run those paths check them.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use sqlx::{Connection, Executor, PgConnection, postgres::PgConnectOptions};
use syn::visit::Visit;

/// A query found in the source.
struct Found {
    file: PathBuf,
    line: usize,
    sql: Option<String>,
}

/// Collects the first argument of sqlx's query functions.
struct Queries<'a> {
    file: &'a Path,
    consts: HashMap<String, String>,
    found: Vec<Found>,
}

const QUERY_FNS: [&str; 6] = [
    "query",
    "query_as",
    "query_scalar",
    "query_with",
    "query_as_with",
    "query_scalar_with",
];

fn literal(e: &syn::Expr) -> Option<String> {
    match e {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(s),
            ..
        }) => Some(s.value()),
        syn::Expr::Reference(r) => literal(&r.expr),
        syn::Expr::Paren(p) => literal(&p.expr),
        _ => None,
    }
}

impl<'ast> Visit<'ast> for Queries<'_> {
    fn visit_item_const(&mut self, c: &'ast syn::ItemConst) {
        if let Some(sql) = literal(&c.expr) {
            self.consts.insert(c.ident.to_string(), sql);
        }
        syn::visit::visit_item_const(self, c);
    }

    fn visit_expr_call(&mut self, call: &'ast syn::ExprCall) {
        if let syn::Expr::Path(p) = &*call.func
            && let Some(last) = p.path.segments.last()
            && QUERY_FNS.contains(&last.ident.to_string().as_str())
            && let Some(arg) = call.args.first()
        {
            let sql = literal(arg).or_else(|| match arg {
                syn::Expr::Path(p) => p
                    .path
                    .get_ident()
                    .and_then(|i| self.consts.get(&i.to_string()).cloned()),
                _ => None,
            });
            self.found.push(Found {
                file: self.file.to_owned(),
                line: syn::spanned::Spanned::span(call).start().line,
                sql,
            });
        }
        syn::visit::visit_expr_call(self, call);
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// The queries under `dir` (a crate's `src`), consts first so that a query
/// given a `const` above or below it is found either way.
fn queries_in(dir: &Path) -> Vec<Found> {
    let mut files = Vec::new();
    rust_files(dir, &mut files);
    files.sort();
    let mut all = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let Ok(ast) = syn::parse_file(&text) else {
            panic!("{} does not parse", file.display());
        };
        let mut consts = Queries {
            file: &file,
            consts: HashMap::new(),
            found: Vec::new(),
        };
        consts.visit_file(&ast);
        let mut q = Queries {
            file: &file,
            consts: consts.consts,
            found: Vec::new(),
        };
        q.visit_file(&ast);
        all.extend(q.found);
    }
    all
}

async fn connect(database_url: &str, schema: &str) -> PgConnection {
    let opts: PgConnectOptions = database_url.parse().expect("database URL");
    PgConnection::connect_with(&opts.options([("search_path", schema)]))
        .await
        .expect("connects")
}

#[tokio::test]
async fn every_literal_query_prepares_against_the_schema_it_runs_on() {
    let stack = relais_testkit::Stack::builder()
        .all()
        .spawn()
        .await
        .expect("stack");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // Each crate's source, and the database and schema its queries run in.
    // The platform's (outbox, inbox, idempotency keys, mail) run in every
    // service's schema; billing's has them all.
    let crates = [
        (
            "services/catalogue/src",
            stack.catalogue_part().database_url.clone(),
            "catalogue",
        ),
        (
            "services/orders/src",
            stack.orders_part().database_url.clone(),
            "orders",
        ),
        (
            "services/planning/src",
            stack.planning_part().database_url.clone(),
            "planning",
        ),
        (
            "services/billing/src",
            stack.billing_part().database_url.clone(),
            "billing",
        ),
        (
            "services/connector/src",
            stack.connector_part().database_url.clone(),
            "connector",
        ),
        (
            "crates/platform/src",
            stack.billing_part().database_url.clone(),
            "billing",
        ),
        (
            "fakes/reference-erp/src",
            stack.erp_database_url(),
            "reference_erp",
        ),
    ];
    let (mut checked, mut assembled, mut failed) = (0, Vec::new(), Vec::new());
    for (dir, url, schema) in crates {
        let mut conn = connect(&url, schema).await;
        for q in queries_in(&root.join(dir)) {
            let at = format!(
                "{}:{}",
                q.file.strip_prefix(&root).unwrap_or(&q.file).display(),
                q.line
            );
            let Some(sql) = q.sql else {
                assembled.push(at);
                continue;
            };
            checked += 1;
            if let Err(e) = conn
                .describe(sqlx::SqlSafeStr::into_sql_str(sqlx::AssertSqlSafe(
                    sql.clone(),
                )))
                .await
            {
                failed.push(format!("{at}: {e}\n    {}", sql.trim()));
            }
        }
    }
    println!(
        "{checked} literal queries prepared; {} assembled at run time, left to the tests that run them:\n  {}",
        assembled.len(),
        assembled.join("\n  ")
    );
    assert!(
        checked > 150,
        "only {checked} queries found: is the search broken?"
    );
    assert!(
        failed.is_empty(),
        "{} queries do not prepare:\n{}",
        failed.len(),
        failed.join("\n")
    );
}
