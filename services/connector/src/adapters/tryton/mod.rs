//! Tryton over its JSON-RPC API (`POST /<database>/rpc/`): a session from
//! `common.db.login`, then `model.<name>.<method>` calls with the user's
//! context. Parties are the shop's customers (both ways), product
//! categories and products its catalogue (ERP → shop), sales its product
//! orders (shop → ERP, quote or confirmed order; their progress back).
//!
//! Tryton keeps no idempotency key of its own: a create carries the
//! connector's reference where Tryton has a free field for it (a party
//! identifier, a sale's reference) and looks it up first, so a retry after
//! a lost answer finds the first record. Changes are listed by id after
//! the change time (`create_date` / `write_date`, which Tryton leaves empty
//! until a record is first written), so a page never shifts while a run
//! reads it.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Timelike, Utc};
use serde_json::{Map, Value, json};
use tokio::sync::Mutex;

use crate::adapter::{Changes, ErpAdapter, ErpError, ErpRecord, text};

struct Session {
    header: String,
    context: Value,
    /// The parties of the user's companies: Tryton's own, not customers.
    company_parties: Vec<i64>,
}

pub struct TrytonClient {
    rpc_url: String,
    login: String,
    password: String,
    http: reqwest::Client,
    session: Mutex<Option<Session>>,
    /// The company's currency code, read once.
    currency: Mutex<Option<String>>,
    /// Held through each write: Tryton numbers parties and sales from
    /// sequences that its SQLite backend hands out twice to concurrent
    /// transactions ("the code on party must be unique"), and concurrent
    /// writes to one record fail on its timestamp. One write at a time per
    /// connection; reads go on alongside.
    writes: Mutex<()>,
}

/// What the connector calls each object, and Tryton's model for it.
fn model_of(object: &str) -> Result<&'static str, ErpError> {
    match object {
        "customer" => Ok("party.party"),
        "family" => Ok("product.category"),
        "article" => Ok("product.product"),
        "order" | "quote" => Ok("sale.sale"),
        other => Err(ErpError::Refused(format!(
            "the Tryton adapter does not carry {other} records (it carries customers, families, articles, quotes and orders)"
        ))),
    }
}

impl TrytonClient {
    /// `endpoint` is the database's URL, e.g. `http://127.0.0.1:8000/relais`.
    pub fn new(
        endpoint: &str,
        login: &str,
        password: &str,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        Self::with_client(
            endpoint,
            login,
            password,
            relais_platform::http::client(timeout)?,
        )
    }

    /// The same over `http` (the connector's, bound by its egress policy).
    pub fn with_client(
        endpoint: &str,
        login: &str,
        password: &str,
        http: reqwest::Client,
    ) -> anyhow::Result<Self> {
        let base = endpoint.trim_end_matches('/');
        let path = base
            .split_once("://")
            .map(|(_, rest)| rest)
            .and_then(|rest| rest.split_once('/'))
            .map(|(_, path)| path)
            .unwrap_or_default();
        anyhow::ensure!(
            !path.is_empty(),
            "the endpoint must name the database: http://host:port/<database>"
        );
        Ok(Self {
            rpc_url: format!("{base}/rpc/"),
            login: login.to_owned(),
            password: password.to_owned(),
            http,
            session: Mutex::new(None),
            currency: Mutex::new(None),
            writes: Mutex::new(()),
        })
    }

    async fn post(
        &self,
        header: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, Fault> {
        let mut request = self
            .http
            .post(&self.rpc_url)
            .json(&json!({"id": 1, "method": method, "params": params}));
        if let Some(h) = header {
            request = request.header("Authorization", h);
        }
        let response = request
            .send()
            .await
            .map_err(|e| Fault::Erp(ErpError::Unavailable(format!("{method}: {e}"))))?;
        let status = response.status().as_u16();
        if status == 401 || status == 403 {
            return Err(Fault::Session);
        }
        if status != 200 {
            let message = format!("{method}: HTTP {status}");
            return Err(Fault::Erp(match status {
                404 => ErpError::Refused(format!("{message} (no such database?)")),
                408 | 429 | 500..=599 => ErpError::Unavailable(message),
                _ => ErpError::Refused(message),
            }));
        }
        let mut answer: Value = response.json().await.map_err(|e| {
            Fault::Erp(ErpError::Unavailable(format!(
                "{method}: unreadable answer: {e}"
            )))
        })?;
        if let Some(error) = answer.get("error").filter(|e| !e.is_null()) {
            return Err(Fault::Erp(classify(method, error)));
        }
        Ok(answer["result"].take())
    }

    async fn open_session(&self) -> Result<Session, ErpError> {
        let login = self
            .post(
                None,
                "common.db.login",
                json!([self.login, {"password": self.password}]),
            )
            .await
            .map_err(|f| match f {
                Fault::Session => ErpError::Refused("common.db.login: login refused".into()),
                Fault::Erp(e) => e,
            })?;
        let (Some(user), Some(key)) = (login[0].as_i64(), login[1].as_str()) else {
            return Err(ErpError::Refused(
                "common.db.login: wrong login or password".into(),
            ));
        };
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{user}:{key}", self.login));
        let header = format!("Session {token}");
        let preferences = self
            .post(
                Some(&header),
                "model.res.user.get_preferences",
                json!([true, {}]),
            )
            .await
            .map_err(|f| f.into_erp("model.res.user.get_preferences"))?;
        // Records are read and written as the user's company and language.
        let mut context = Map::new();
        for key in ["company", "companies", "language", "employee"] {
            if let Some(v) = preferences.get(key).filter(|v| !v.is_null()) {
                context.insert(key.into(), v.clone());
            }
        }
        let companies = self
            .post(
                Some(&header),
                "model.company.company.search_read",
                json!([[], 0, null, null, ["party"], Value::Object(context.clone())]),
            )
            .await
            .map_err(|f| f.into_erp("model.company.company.search_read"))?;
        let company_parties = objects(companies)
            .iter()
            .filter_map(|c| c.get("party").and_then(id_of))
            .collect();
        Ok(Session {
            header,
            context: Value::Object(context),
            company_parties,
        })
    }

    /// What the session knows (the user's company, its parties), logging
    /// in first when there is none yet.
    async fn session_value<T>(&self, read: impl Fn(&Session) -> T) -> Result<T, ErpError> {
        let mut session = self.session.lock().await;
        if session.is_none() {
            *session = Some(self.open_session().await?);
        }
        session
            .as_ref()
            .map(read)
            .ok_or_else(|| ErpError::Refused("no session".into()))
    }

    /// `model.<model>.<method>(args..., context)`, logging in again once
    /// when the session has expired.
    pub async fn call(
        &self,
        model: &str,
        method: &str,
        args: Vec<Value>,
    ) -> Result<Value, ErpError> {
        self.call_with(model, method, args, Map::new()).await
    }

    async fn call_with(
        &self,
        model: &str,
        method: &str,
        args: Vec<Value>,
        extra_context: Map<String, Value>,
    ) -> Result<Value, ErpError> {
        let full = format!("model.{model}.{method}");
        for renewed in [false, true] {
            let (header, mut context) = {
                let mut session = self.session.lock().await;
                if session.is_none() || renewed {
                    *session = Some(self.open_session().await?);
                }
                let s = session
                    .as_ref()
                    .ok_or_else(|| ErpError::Refused("no session".into()))?;
                (s.header.clone(), s.context.clone())
            };
            if let Value::Object(c) = &mut context {
                c.extend(extra_context.clone());
            }
            let mut params = args.clone();
            params.push(context);
            match self.post(Some(&header), &full, Value::Array(params)).await {
                Ok(v) => return Ok(v),
                Err(Fault::Session) if !renewed => continue,
                Err(f) => return Err(f.into_erp(&full)),
            }
        }
        Err(ErpError::Refused(format!("{full}: session refused twice")))
    }

    async fn search_read(
        &self,
        model: &str,
        domain: Value,
        limit: Option<i64>,
        order: Value,
        fields: &[&str],
    ) -> Result<Vec<Map<String, Value>>, ErpError> {
        let mut no_active_test = Map::new();
        // Deactivated records are changes too (an article taken off sale).
        no_active_test.insert("active_test".into(), false.into());
        let answer = self
            .call_with(
                model,
                "search_read",
                vec![
                    domain,
                    0.into(),
                    limit.map_or(Value::Null, Value::from),
                    order,
                    json!(fields),
                ],
                no_active_test,
            )
            .await?;
        Ok(objects(answer))
    }

    async fn read(
        &self,
        model: &str,
        ids: &[i64],
        fields: &[&str],
    ) -> Result<Vec<Map<String, Value>>, ErpError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let answer = self
            .call(model, "read", vec![json!(ids), json!(fields)])
            .await?;
        Ok(objects(answer))
    }

    async fn create(&self, model: &str, values: Value) -> Result<i64, ErpError> {
        let answer = self.call(model, "create", vec![json!([values])]).await?;
        answer[0]
            .as_i64()
            .ok_or_else(|| ErpError::Refused(format!("{model}.create answered no id")))
    }

    async fn write(&self, model: &str, id: i64, values: Value) -> Result<(), ErpError> {
        self.call(model, "write", vec![json!([id]), values])
            .await
            .map(|_| ())
    }

    async fn currency(&self) -> Result<String, ErpError> {
        let mut cached = self.currency.lock().await;
        if let Some(c) = cached.as_ref() {
            return Ok(c.clone());
        }
        let company = self
            .session_value(|s| s.context["company"].as_i64())
            .await?;
        let code = match company {
            Some(id) => self
                .read("company.company", &[id], &["currency.code"])
                .await?
                .first()
                .map(|c| text(&c["currency."], "code"))
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| "EUR".into()),
            None => "EUR".into(),
        };
        *cached = Some(code.clone());
        Ok(code)
    }
}

enum Fault {
    /// Not logged in, or the session expired.
    Session,
    Erp(ErpError),
}

impl Fault {
    fn into_erp(self, method: &str) -> ErpError {
        match self {
            Fault::Session => ErpError::Refused(format!("{method}: access refused")),
            Fault::Erp(e) => e,
        }
    }
}

/// Tryton's errors are `[name, args]`: its own exceptions (a user error,
/// a validation, an access error) refuse the request; a concurrent write
/// or a server fault may pass on a retry.
fn classify(method: &str, error: &Value) -> ErpError {
    let name = error[0].as_str().unwrap_or("error");
    let detail = match &error[1] {
        Value::Array(args) => args
            .iter()
            .filter_map(Value::as_str)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
        Value::String(s) => s.lines().last().unwrap_or_default().to_owned(),
        _ => String::new(),
    };
    let message = format!("{method}: {name}: {detail}");
    match name {
        "ConcurrencyException" | "RateLimitException" => ErpError::Unavailable(message),
        "LoginException" => ErpError::Refused(message),
        n if n.ends_with("Error") || n.ends_with("Warning") => ErpError::Refused(message),
        // A Python exception's text: a fault of the server.
        _ => ErpError::Unavailable(message),
    }
}

fn objects(v: Value) -> Vec<Map<String, Value>> {
    match v {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|i| match i {
                Value::Object(m) => Some(m),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn id_of(v: &Value) -> Option<i64> {
    v.as_i64()
}

fn ids(v: &Value) -> Vec<i64> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default()
}

fn parse_id(id: &str) -> Result<i64, ErpError> {
    id.parse()
        .map_err(|_| ErpError::Refused(format!("{id:?} is not a Tryton id")))
}

/// Tryton's JSON for a datetime (naive, UTC).
fn datetime(t: DateTime<Utc>) -> Value {
    json!({
        "__class__": "datetime",
        "year": t.year(), "month": t.month(), "day": t.day(),
        "hour": t.hour(), "minute": t.minute(), "second": t.second(),
        "microsecond": t.timestamp_subsec_micros(),
    })
}

fn from_datetime(v: &Value) -> Option<DateTime<Utc>> {
    if v.get("__class__")?.as_str()? != "datetime" {
        return None;
    }
    let n = |k: &str| v.get(k).and_then(Value::as_u64).map(|n| n as u32);
    let date = NaiveDate::from_ymd_opt(v.get("year")?.as_i64()? as i32, n("month")?, n("day")?)?;
    let time = date.and_hms_micro_opt(n("hour")?, n("minute")?, n("second")?, n("microsecond")?)?;
    Some(Utc.from_utc_datetime(&time))
}

fn decimal(cents: i64, scale: u32) -> Value {
    let sign = if cents < 0 { "-" } else { "" };
    let div = 10i64.pow(scale);
    let abs = cents.unsigned_abs();
    json!({
        "__class__": "Decimal",
        "decimal": format!("{sign}{}.{:0width$}", abs / div as u64, abs % div as u64, width = scale as usize),
    })
}

/// A Decimal (or number) times 10^scale, rounded half away from zero.
fn scaled(v: &Value, scale: u32) -> Option<i64> {
    let s = match v {
        Value::Object(o) => o.get("decimal")?.as_str()?.to_owned(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return None,
    };
    let f: f64 = s.trim().parse().ok()?;
    Some((f * 10f64.powi(scale as i32)).round() as i64)
}

/// The change time Tryton gives a record: its last write, else its creation.
fn changed_at(r: &Map<String, Value>, prefix: &str) -> Option<DateTime<Utc>> {
    let get = |k: &str| r.get(&format!("{prefix}{k}")).and_then(from_datetime);
    get("write_date")
        .into_iter()
        .chain(get("create_date"))
        .max()
}

/// Records changed after `since`: created or written.
fn changed_domain(since: Option<DateTime<Utc>>, prefixes: &[&str]) -> Value {
    let Some(since) = since else {
        return json!([]);
    };
    let mut or = vec![json!("OR")];
    for p in prefixes {
        or.push(json!([format!("{p}create_date"), ">", datetime(since)]));
        or.push(json!([format!("{p}write_date"), ">", datetime(since)]));
    }
    Value::Array(or)
}

fn record(id: i64, updated_at: DateTime<Utc>, fields: Map<String, Value>) -> ErpRecord {
    ErpRecord {
        id: id.to_string(),
        version: updated_at.timestamp_micros(),
        updated_at,
        fields,
    }
}

// ------------------------------------------------------------- parties --

/// A party as both sides see it. Tryton has one name: the shop's first and
/// last names are written as "First Last" and read back split at the
/// first space.
#[derive(Default)]
struct PartyView {
    name: String,
    email: String,
    phone: String,
    street: String,
    postal_code: String,
    city: String,
    shop_id: String,
}

impl PartyView {
    fn from_shop(f: &Map<String, Value>) -> Self {
        let v = Value::Object(f.clone());
        let name = [text(&v, "first_name"), text(&v, "last_name")]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let a = &v["address"];
        let street = [text(a, "line1"), text(a, "line2")]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        Self {
            name: if name.is_empty() {
                text(&v, "email")
            } else {
                name
            },
            email: text(&v, "email"),
            phone: text(&v, "phone"),
            street,
            postal_code: text(a, "postal_code"),
            city: text(a, "city"),
            shop_id: text(&v, "shop_id"),
        }
    }

    fn fields(&self) -> Map<String, Value> {
        let mut street = self.street.splitn(2, '\n');
        let line1 = street.next().unwrap_or_default().trim().to_owned();
        let line2 = street.next().unwrap_or_default().trim().to_owned();
        let address = if line1.is_empty() && self.postal_code.is_empty() && self.city.is_empty() {
            Value::Null
        } else {
            json!({"line1": line1, "line2": line2, "postal_code": self.postal_code,
                   "city": self.city, "country": ""})
        };
        // The first word is the first name ("Marie Dupont"); a one-word
        // name is both (the shop needs both).
        let (first, last) = self
            .name
            .split_once(' ')
            .map(|(f, l)| (f.trim(), l.trim()))
            .unwrap_or((self.name.as_str(), self.name.as_str()));
        let mut m = Map::new();
        m.insert("first_name".into(), first.into());
        m.insert("last_name".into(), last.into());
        m.insert("email".into(), self.email.clone().into());
        m.insert("phone".into(), self.phone.clone().into());
        m.insert("address".into(), address);
        if !self.shop_id.is_empty() {
            m.insert("shop_id".into(), self.shop_id.clone().into());
        }
        m
    }
}

/// The shop id in a connector reference `relais:<connection>:<entity>:<id>`.
fn shop_id_of(reference: &str) -> Option<&str> {
    reference
        .strip_prefix("relais:")
        .and_then(|r| r.rsplit(':').next())
}

impl TrytonClient {
    async fn parties(&self, rows: Vec<Map<String, Value>>) -> Result<Vec<ErpRecord>, ErpError> {
        let all = |k: &str| -> Vec<i64> { rows.iter().flat_map(|r| ids(&r[k])).collect() };
        let identifiers = self
            .read("party.identifier", &all("identifiers"), &["party", "code"])
            .await?;
        let mechanisms = self
            .read(
                "party.contact_mechanism",
                &all("contact_mechanisms"),
                &[
                    "party",
                    "type",
                    "value",
                    "active",
                    "create_date",
                    "write_date",
                ],
            )
            .await?;
        let addresses = self
            .read(
                "party.address",
                &all("addresses"),
                &[
                    "party",
                    "street",
                    "postal_code",
                    "city",
                    "sequence",
                    "create_date",
                    "write_date",
                ],
            )
            .await?;
        let mut out = Vec::new();
        for r in rows {
            let Some(id) = r.get("id").and_then(id_of) else {
                continue;
            };
            let of = |m: &Map<String, Value>| m.get("party").and_then(id_of) == Some(id);
            let mechanism = |kinds: &[&str]| {
                mechanisms
                    .iter()
                    .filter(|m| of(m) && m["active"] != false)
                    .find(|m| kinds.contains(&m["type"].as_str().unwrap_or_default()))
                    .map(|m| text(&Value::Object((*m).clone()), "value"))
                    .unwrap_or_default()
            };
            let address = addresses
                .iter()
                .find(|a| of(a))
                .map(|a| Value::Object(a.clone()));
            let shop_id = identifiers
                .iter()
                .filter(|i| of(i))
                .find_map(|i| i["code"].as_str().and_then(shop_id_of).map(str::to_owned))
                .unwrap_or_default();
            let view = PartyView {
                name: text(&Value::Object(r.clone()), "name"),
                email: mechanism(&["email"]),
                phone: mechanism(&["phone", "mobile"]),
                street: address
                    .as_ref()
                    .map(|a| text(a, "street"))
                    .unwrap_or_default(),
                postal_code: address
                    .as_ref()
                    .map(|a| text(a, "postal_code"))
                    .unwrap_or_default(),
                city: address
                    .as_ref()
                    .map(|a| text(a, "city"))
                    .unwrap_or_default(),
                shop_id,
            };
            // Its last change, its addresses' and contacts' included.
            let at = mechanisms
                .iter()
                .chain(addresses.iter())
                .filter(|m| of(m))
                .filter_map(|m| changed_at(m, ""))
                .chain(changed_at(&r, ""))
                .max()
                .unwrap_or_else(Utc::now);
            out.push(record(id, at, view.fields()));
        }
        Ok(out)
    }

    async fn write_party(
        &self,
        id: Option<i64>,
        reference: &str,
        fields: &Map<String, Value>,
    ) -> Result<i64, ErpError> {
        let want = PartyView::from_shop(fields);
        let address =
            json!({"street": want.street, "postal_code": want.postal_code, "city": want.city});
        let mut mechanisms = Vec::new();
        if !want.email.is_empty() {
            mechanisms.push(json!({"type": "email", "value": want.email}));
        }
        if !want.phone.is_empty() {
            mechanisms.push(json!({"type": "phone", "value": want.phone}));
        }
        let Some(id) = id else {
            return self
                .create(
                    "party.party",
                    json!({
                        "name": want.name,
                        "identifiers": [["create", [{"code": reference}]]],
                        "contact_mechanisms": [["create", mechanisms]],
                        "addresses": [["create", [address]]],
                    }),
                )
                .await;
        };
        let current = self
            .read("party.party", &[id], &["contact_mechanisms", "addresses"])
            .await?;
        let Some(current) = current.first() else {
            return Err(ErpError::NotFound(format!("party {id}")));
        };
        // The shop's email and phone replace Tryton's; other mechanisms
        // (fax, website) stay.
        let old: Vec<i64> = self
            .read(
                "party.contact_mechanism",
                &ids(&current["contact_mechanisms"]),
                &["type"],
            )
            .await?
            .iter()
            .filter(|m| matches!(m["type"].as_str(), Some("email" | "phone" | "mobile")))
            .filter_map(|m| m.get("id").and_then(id_of))
            .collect();
        let addresses = match ids(&current["addresses"]).first() {
            Some(first) => json!([["write", [first], address]]),
            None => json!([["create", [address]]]),
        };
        self.write(
            "party.party",
            id,
            json!({
                "name": want.name,
                "contact_mechanisms": [["delete", old], ["create", mechanisms]],
                "addresses": addresses,
            }),
        )
        .await?;
        Ok(id)
    }
}

// ----------------------------------------------------------- catalogue --

/// Tryton's categories have no code: the shop's is made of the id.
fn category_code(id: i64) -> String {
    format!("CAT-{id}")
}

/// A product's stock in the company's warehouses, and its last move.
struct Held {
    real: i64,
    available: i64,
    moved: Option<DateTime<Utc>>,
}

impl TrytonClient {
    /// The stock of the goods among `rows` (services have none): on hand in
    /// every warehouse, available what is left after planned moves out.
    /// `since`: moves after it date the stock's change (a move alone makes
    /// the product change); without it (a full pull, a read), none is read:
    /// a product's whole history of moves may be long.
    async fn stock(
        &self,
        rows: &[Map<String, Value>],
        since: Option<DateTime<Utc>>,
    ) -> Result<HashMap<i64, Held>, ErpError> {
        let goods: Vec<i64> = rows
            .iter()
            .filter(|r| r["template."]["type"] == "goods")
            .filter_map(|r| r.get("id").and_then(id_of))
            .collect();
        if goods.is_empty() {
            return Ok(HashMap::new());
        }
        let warehouses: Vec<i64> = self
            .search_read(
                "stock.location",
                json!([["type", "=", "warehouse"]]),
                None,
                json!([]),
                &["id"],
            )
            .await?
            .iter()
            .filter_map(|l| l.get("id").and_then(id_of))
            .collect();
        let mut in_warehouses = Map::new();
        in_warehouses.insert("locations".into(), json!(warehouses));
        let quantities = objects(
            self.call_with(
                "product.product",
                "read",
                vec![json!(goods), json!(["quantity", "forecast_quantity"])],
                in_warehouses,
            )
            .await?,
        );
        let mut moved: HashMap<i64, DateTime<Utc>> = HashMap::new();
        let recent = match since {
            Some(since) => {
                self.search_read(
                    "stock.move",
                    json!([["product", "in", goods], changed_domain(Some(since), &[""])]),
                    None,
                    json!([]),
                    &["product", "create_date", "write_date"],
                )
                .await?
            }
            None => Vec::new(),
        };
        for m in recent {
            if let (Some(p), Some(at)) = (m.get("product").and_then(id_of), changed_at(&m, "")) {
                let e = moved.entry(p).or_insert(at);
                *e = (*e).max(at);
            }
        }
        Ok(quantities
            .iter()
            .filter_map(|q| {
                let id = q.get("id").and_then(id_of)?;
                // Tryton may let stock go below zero; the shop sells none then.
                let real = (q["quantity"].as_f64().unwrap_or(0.0).round() as i64).max(0);
                let forecast = q["forecast_quantity"].as_f64().unwrap_or(0.0).round() as i64;
                Some((
                    id,
                    Held {
                        real,
                        available: real.min(forecast).max(0),
                        moved: moved.get(&id).copied(),
                    },
                ))
            })
            .collect())
    }

    fn families(rows: Vec<Map<String, Value>>) -> Vec<ErpRecord> {
        rows.into_iter()
            .filter_map(|r| {
                let id = r.get("id").and_then(id_of)?;
                let at = changed_at(&r, "").unwrap_or_else(Utc::now);
                let v = Value::Object(r);
                let mut f = Map::new();
                f.insert("code".into(), category_code(id).into());
                f.insert(
                    "parent_code".into(),
                    v["parent"]
                        .as_i64()
                        .map_or(String::new(), category_code)
                        .into(),
                );
                f.insert("name".into(), text(&v, "name").into());
                Some(record(id, at, f))
            })
            .collect()
    }

    async fn articles(
        &self,
        rows: Vec<Map<String, Value>>,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<ErpRecord>, ErpError> {
        let currency = self.currency().await?;
        let tax_ids: Vec<i64> = rows
            .iter()
            .flat_map(|r| ids(&r["account_category."]["customer_taxes_used"]))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let rates: HashMap<i64, i64> = self
            .read("account.tax", &tax_ids, &["type", "rate"])
            .await?
            .iter()
            .filter(|t| t["type"] == "percentage")
            .filter_map(|t| Some((t.get("id").and_then(id_of)?, scaled(&t["rate"], 4)?)))
            .collect();
        // The shop's category is the first that is not an accounting one.
        let category_ids: Vec<i64> = rows
            .iter()
            .flat_map(|r| ids(&r["template."]["categories"]))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let categories: HashMap<i64, bool> = self
            .read("product.category", &category_ids, &["accounting"])
            .await?
            .iter()
            .filter_map(|c| Some((c.get("id").and_then(id_of)?, c["accounting"] == true)))
            .collect();
        let stock = self.stock(&rows, since).await?;
        let mut out = Vec::new();
        for r in rows {
            let Some(id) = r.get("id").and_then(id_of) else {
                continue;
            };
            let held = stock.get(&id);
            // Its last change: the product's, its template's, its stock's.
            let at = [
                changed_at(&r, ""),
                changed_at(r["template."].as_object().unwrap_or(&Map::new()), ""),
                held.and_then(|h| h.moved),
            ]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or_else(Utc::now);
            let v = Value::Object(r);
            let t = &v["template."];
            let vat: i64 = ids(&v["account_category."]["customer_taxes_used"])
                .iter()
                .filter_map(|t| rates.get(t))
                .sum();
            let family = ids(&t["categories"])
                .into_iter()
                .find(|c| categories.get(c) == Some(&false))
                .map_or(String::new(), category_code);
            let mut f = Map::new();
            f.insert("sku".into(), text(&v, "code").into());
            f.insert("designation".into(), text(t, "name").into());
            f.insert("description".into(), text(&v, "description").into());
            f.insert(
                "price_cents".into(),
                scaled(&t["list_price"], 2).unwrap_or(0).into(),
            );
            f.insert("currency".into(), currency.clone().into());
            f.insert("vat_rate_bp".into(), vat.into());
            f.insert(
                "sales_unit".into(),
                text(&t["default_uom."], "symbol").into(),
            );
            f.insert(
                "active".into(),
                (v["active"] != false && t["salable"] != false).into(),
            );
            f.insert("family_code".into(), family.into());
            if let Some(h) = held {
                f.insert("stock_real".into(), h.real.into());
                f.insert("stock_available".into(), h.available.into());
            }
            out.push(record(id, at, f));
        }
        Ok(out)
    }
}

// --------------------------------------------------------------- sales --

/// Where a sale of the shop's should be in Tryton: sent as a quote, it
/// stays a quotation until the shop's order is paid; sent as an order, or
/// paid since, it is confirmed (Tryton then processes it). In Tryton a
/// quote and its order are one sale.
fn target_state(object: &str, status: &str) -> &'static str {
    match (object, status) {
        (_, "cancelled") => "cancelled",
        ("quote", "validated" | "pending") => "quotation",
        _ => "processing",
    }
}

/// Tryton's states in the order a sale goes through them.
fn rank(state: &str) -> i32 {
    match state {
        "draft" => 0,
        "quotation" => 1,
        "confirmed" => 2,
        "processing" => 3,
        "done" => 4,
        _ => -1,
    }
}

/// The shop's status for a sale's progress in Tryton (seed 004: picking
/// list, delivery note, delivered).
fn shop_status(state: &str, shipment_state: &str) -> &'static str {
    match (state, shipment_state) {
        ("cancelled", _) => "cancelled",
        ("done", _) => "delivered",
        ("processing", "sent") => "shipped",
        ("processing" | "confirmed", _) => "preparing",
        _ => "validated",
    }
}

fn sale_fields(v: &Value) -> Map<String, Value> {
    let mut f = Map::new();
    f.insert(
        "customer".into(),
        v["party"]
            .as_i64()
            .map_or(String::new(), |p| p.to_string())
            .into(),
    );
    f.insert("state".into(), text(v, "state").into());
    f.insert(
        "status".into(),
        shop_status(&text(v, "state"), &text(v, "shipment_state")).into(),
    );
    if let Some(shop) = v["reference"].as_str().and_then(shop_id_of) {
        f.insert("shop_id".into(), shop.into());
    }
    f
}

impl TrytonClient {
    async fn write_sale(
        &self,
        object: &str,
        id: Option<i64>,
        reference: &str,
        fields: &Map<String, Value>,
    ) -> Result<i64, ErpError> {
        let v = Value::Object(fields.clone());
        let target = target_state(object, &text(&v, "status"));
        let id = match id {
            Some(id) => id,
            None => {
                let party = parse_id(&text(&v, "customer"))?;
                let lines = self.sale_lines(&v["lines"]).await?;
                let address = self.invoice_address(party).await?;
                self.create(
                    "sale.sale",
                    json!({
                        "party": party,
                        "invoice_address": address,
                        "shipment_address": address,
                        "reference": reference,
                        "description": format!("Relais {}", text(&v, "shop_id")),
                        "lines": [["create", lines]],
                    }),
                )
                .await?
            }
        };
        let state = self
            .read("sale.sale", &[id], &["state"])
            .await?
            .first()
            .map(|s| text(&Value::Object(s.clone()), "state"))
            .ok_or_else(|| ErpError::NotFound(format!("sale {id}")))?;
        match target {
            "cancelled" if state == "cancelled" => {}
            "cancelled" if rank(&state) <= 1 => {
                self.call("sale.sale", "cancel", vec![json!([id])]).await?;
            }
            "cancelled" => {
                return Err(ErpError::Refused(format!(
                    "sale {id} is {state} in Tryton: cancel its shipments and invoices there, then the sale"
                )));
            }
            _ if state == "cancelled" => {
                return Err(ErpError::Refused(format!(
                    "sale {id} was cancelled in Tryton; the shop still has it live"
                )));
            }
            _ => {
                if rank(&state) < 1 {
                    self.call("sale.sale", "quote", vec![json!([id])]).await?;
                }
                if rank(target) >= 2 && rank(&state) < 2 {
                    self.call("sale.sale", "confirm", vec![json!([id])]).await?;
                }
            }
        }
        Ok(id)
    }

    /// The party's first address, or a new one (Tryton quotes need it).
    async fn invoice_address(&self, party: i64) -> Result<i64, ErpError> {
        let rows = self.read("party.party", &[party], &["addresses"]).await?;
        let Some(row) = rows.first() else {
            return Err(ErpError::NotFound(format!("party {party}")));
        };
        if let Some(first) = ids(&row["addresses"]).first() {
            return Ok(*first);
        }
        self.create("party.address", json!({"party": party})).await
    }

    /// Lines with their product when Tryton has its code, else a line of
    /// text; the shop's discount as Tryton's discount rate.
    async fn sale_lines(&self, lines: &Value) -> Result<Vec<Value>, ErpError> {
        let lines = lines.as_array().map(Vec::as_slice).unwrap_or(&[]);
        let codes: Vec<String> = lines.iter().map(|l| text(l, "reference")).collect();
        let products: HashMap<String, (i64, Option<i64>, Vec<i64>)> = self
            .search_read(
                "product.product",
                json!([["code", "in", codes]]),
                None,
                json!([]),
                &["code", "sale_uom", "account_category.customer_taxes_used"],
            )
            .await?
            .into_iter()
            .filter_map(|p| {
                let v = Value::Object(p);
                Some((
                    text(&v, "code"),
                    (
                        v["id"].as_i64()?,
                        v["sale_uom"].as_i64(),
                        ids(&v["account_category."]["customer_taxes_used"]),
                    ),
                ))
            })
            .collect();
        let mut out = Vec::new();
        for l in lines {
            let base = l["unit_price_cents"].as_i64().unwrap_or(0);
            let discount_bp = l["discount_bp"].as_i64().unwrap_or(0).clamp(0, 10_000);
            // Tryton rounds unit prices to 4 decimals: in 1/10,000 of a unit.
            let net = (base as i128 * 100 * (10_000 - discount_bp as i128) / 10_000) as i64;
            let mut line = json!({
                "type": "line",
                "description": text(l, "label"),
                "quantity": l["quantity"].as_f64().unwrap_or(0.0),
                "base_price": decimal(base, 2),
                "discount_rate": decimal(discount_bp, 4),
                "unit_price": decimal(net, 4),
            });
            if let Some((product, unit, taxes)) = products.get(&text(l, "reference")) {
                line["product"] = (*product).into();
                line["unit"] = unit.map_or(Value::Null, Value::from);
                line["taxes"] = json!([["add", taxes]]);
            }
            out.push(line);
        }
        Ok(out)
    }
}

// ------------------------------------------------------------- adapter --

const PARTY_FIELDS: &[&str] = &[
    "name",
    "create_date",
    "write_date",
    "identifiers",
    "contact_mechanisms",
    "addresses",
];
const CATEGORY_FIELDS: &[&str] = &["name", "parent", "accounting", "create_date", "write_date"];
const PRODUCT_FIELDS: &[&str] = &[
    "code",
    "description",
    "active",
    "account_category.customer_taxes_used",
    "create_date",
    "write_date",
    "template.name",
    "template.list_price",
    "template.salable",
    "template.categories",
    "template.create_date",
    "template.write_date",
    "template.default_uom.symbol",
    "template.type",
];
const SALE_FIELDS: &[&str] = &[
    "party",
    "number",
    "shipments",
    "state",
    "shipment_state",
    "reference",
    "create_date",
    "write_date",
];

impl TrytonClient {
    async fn records(
        &self,
        object: &str,
        rows: Vec<Map<String, Value>>,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<ErpRecord>, ErpError> {
        match object {
            "customer" => self.parties(rows).await,
            "family" => Ok(Self::families(rows)),
            "article" => self.articles(rows, since).await,
            _ => {
                // The shipment's number is the picking list's and, once it
                // is done, the delivery note's (Tryton prints both from it).
                let shipment_ids: Vec<i64> =
                    rows.iter().flat_map(|r| ids(&r["shipments"])).collect();
                let shipments: HashMap<i64, (String, String)> = self
                    .read("stock.shipment.out", &shipment_ids, &["number", "state"])
                    .await?
                    .into_iter()
                    .filter_map(|s| {
                        let v = Value::Object(s);
                        Some((v["id"].as_i64()?, (text(&v, "number"), text(&v, "state"))))
                    })
                    .collect();
                Ok(rows
                    .into_iter()
                    .filter_map(|r| {
                        let id = r.get("id").and_then(id_of)?;
                        let at = changed_at(&r, "").unwrap_or_else(Utc::now);
                        let v = Value::Object(r);
                        let mut f = sale_fields(&v);
                        let mine: Vec<&(String, String)> = ids(&v["shipments"])
                            .iter()
                            .filter_map(|s| shipments.get(s))
                            .collect();
                        if let Some((number, _)) = mine.first() {
                            f.insert("picking_list".into(), number.clone().into());
                        }
                        if let Some((number, _)) = mine.iter().find(|(_, state)| state == "done") {
                            f.insert("delivery_note".into(), number.clone().into());
                        }
                        f.insert("erp_number".into(), text(&v, "number").into());
                        Some(record(id, at, f))
                    })
                    .collect())
            }
        }
    }

    fn listing(object: &str) -> (&'static [&'static str], Value, &'static [&'static str]) {
        match object {
            // An edited address or email is a change of the customer.
            "customer" => (
                PARTY_FIELDS,
                json!([]),
                &["", "contact_mechanisms.", "addresses."],
            ),
            // Accounting categories are Tryton's, not the shop's families.
            "family" => (CATEGORY_FIELDS, json!([["accounting", "=", false]]), &[""]),
            "article" => (PRODUCT_FIELDS, json!([]), &["", "template."]),
            // Only the sales the shop sent.
            _ => (
                SALE_FIELDS,
                json!([["reference", "like", "relais:%"]]),
                &[""],
            ),
        }
    }
}

impl TrytonClient {
    /// The record an earlier create with `reference` made, archived
    /// (inactive) ones included: a retry never makes a second one.
    async fn find_reference(
        &self,
        model: &str,
        field: &str,
        reference: &str,
    ) -> Result<Option<i64>, ErpError> {
        let found = self
            .search_read(
                model,
                json!([[field, "=", reference]]),
                Some(1),
                json!([]),
                &["id"],
            )
            .await?;
        Ok(found.first().and_then(|r| r.get("id")).and_then(id_of))
    }

    /// The newest change time Tryton holds for `model` and the parts its
    /// records change with, by Tryton's clock.
    async fn high_water(
        &self,
        model: &str,
        prefixes: &[&str],
    ) -> Result<Option<DateTime<Utc>>, ErpError> {
        let mut newest = None;
        for prefix in prefixes {
            // A record changes with its parts too (a product's template, a
            // party's addresses): their own models.
            let model = match *prefix {
                "" => model,
                "template." => "product.template",
                "contact_mechanisms." => "party.contact_mechanism",
                _ => "party.address",
            };
            for field in ["create_date", "write_date"] {
                let rows = self
                    .search_read(
                        model,
                        json!([[field, "!=", null]]),
                        Some(1),
                        json!([[field, "DESC"]]),
                        &[field],
                    )
                    .await?;
                newest = newest.max(
                    rows.first()
                        .and_then(|r| r.get(field))
                        .and_then(from_datetime),
                );
            }
        }
        Ok(newest)
    }
}

impl ErpAdapter for TrytonClient {
    async fn upsert(
        &self,
        object: &str,
        id: Option<&str>,
        reference: &str,
        fields: &Map<String, Value>,
    ) -> Result<ErpRecord, ErpError> {
        let model = model_of(object)?;
        let id = id.map(parse_id).transpose()?;
        let _one_at_a_time = self.writes.lock().await;
        let id = match (object, id) {
            ("customer", id) => {
                let found = match id {
                    Some(id) => Some(id),
                    None => {
                        self.find_reference(model, "identifiers.code", reference)
                            .await?
                    }
                };
                self.write_party(found, reference, fields).await?
            }
            ("order" | "quote", id) => {
                let found = match id {
                    Some(id) => Some(id),
                    None => self.find_reference(model, "reference", reference).await?,
                };
                self.write_sale(object, found, reference, fields).await?
            }
            _ => {
                return Err(ErpError::Refused(format!(
                    "the shop does not write {object} records to Tryton"
                )));
            }
        };
        self.get(object, &id.to_string()).await
    }

    async fn get(&self, object: &str, id: &str) -> Result<ErpRecord, ErpError> {
        let model = model_of(object)?;
        let (fields, _, _) = Self::listing(object);
        let rows = self.read(model, &[parse_id(id)?], fields).await?;
        if rows.is_empty() {
            return Err(ErpError::NotFound(format!("{model} {id}")));
        }
        self.records(object, rows, None)
            .await?
            .pop()
            .ok_or_else(|| ErpError::NotFound(format!("{model} {id}")))
    }

    /// `page` is the smallest id to list (1 to start); `next` continues
    /// after the last one listed.
    async fn changed_since(
        &self,
        object: &str,
        since: Option<DateTime<Utc>>,
        page: i64,
        per_page: i64,
    ) -> Result<Changes, ErpError> {
        let model = model_of(object)?;
        let (fields, mut filter, prefixes) = Self::listing(object);
        if object == "customer" {
            let own = self.session_value(|s| s.company_parties.clone()).await?;
            filter = json!([["id", "not in", own]]);
        }
        let mut changed = changed_domain(since, prefixes);
        if let (Some(since), "article", Value::Array(or)) = (since, object, &mut changed) {
            // Stock moves change a product's stock, not the product.
            let moved: Vec<i64> = self
                .search_read(
                    "stock.move",
                    changed_domain(Some(since), &[""]),
                    None,
                    json!([]),
                    &["product"],
                )
                .await?
                .iter()
                .filter_map(|m| m.get("product").and_then(id_of))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            if !moved.is_empty() {
                or.push(json!(["id", "in", moved]));
            }
        }
        let mut domain = vec![filter, changed];
        domain.retain(|d| d.as_array().is_some_and(|a| !a.is_empty()));
        let counted = Value::Array(domain.clone());
        domain.push(json!(["id", ">=", page.max(1)]));
        let rows = self
            .search_read(
                model,
                Value::Array(domain),
                Some(per_page),
                json!([["id", "ASC"]]),
                fields,
            )
            .await?;
        let last = rows.last().and_then(|r| r.get("id")).and_then(id_of);
        let full = rows.len() as i64 >= per_page;
        // The total is counted once, on the first page.
        let total = if page <= 1 {
            self.call_with(model, "search_count", vec![counted], {
                let mut m = Map::new();
                m.insert("active_test".into(), false.into());
                m
            })
            .await?
            .as_i64()
            .unwrap_or(0)
        } else {
            0
        };
        let high_water = if page <= 1 {
            let moves = if object == "article" {
                self.high_water("stock.move", &[""]).await?
            } else {
                None
            };
            self.high_water(model, prefixes).await?.max(moves)
        } else {
            None
        };
        let records = self.records(object, rows, since).await?;
        Ok(Changes {
            records,
            total,
            next: last.filter(|_| full).map(|l| l + 1),
            high_water,
            ..Changes::default()
        })
    }

    async fn remove(&self, object: &str, id: &str) -> Result<(), ErpError> {
        let model = model_of(object)?;
        self.call(model, "delete", vec![json!([parse_id(id)?])])
            .await
            .map(|_| ())
    }

    /// Tryton keeps what the connector wrote in its own shape (one name,
    /// one address, no price group): a write is there when what Tryton
    /// shows of it is.
    fn holds(&self, object: &str, wanted: &Map<String, Value>, current: &ErpRecord) -> bool {
        let shown = match object {
            "customer" => PartyView::from_shop(wanted).fields(),
            "order" | "quote" => {
                let v = Value::Object(wanted.clone());
                let mut m = Map::new();
                m.insert("customer".into(), text(&v, "customer").into());
                let target = target_state(object, &text(&v, "status"));
                let state = text(&Value::Object(current.fields.clone()), "state");
                // Tryton moving a sale on (processing → done) keeps it ours.
                let there =
                    state == target || (target == "processing" && rank(&state) >= rank(target));
                if !there {
                    return false;
                }
                m
            }
            _ => wanted.clone(),
        };
        shown.iter().all(|(k, v)| current.fields.get(k) == Some(v))
    }

    fn pages_by_id(&self) -> bool {
        true
    }

    /// Parties and sales show their own shapes (a party's one name).
    fn merges_fields(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn decimals_round_trip() {
        assert_eq!(decimal(1250, 2)["decimal"], "12.50");
        assert_eq!(decimal(-5, 2)["decimal"], "-0.05");
        assert_eq!(decimal(1000, 4)["decimal"], "0.1000");
        assert_eq!(scaled(&decimal(1250, 2), 2), Some(1250));
        assert_eq!(
            scaled(&json!({"__class__": "Decimal", "decimal": "0.2000"}), 4),
            Some(2000)
        );
    }

    #[test]
    fn datetimes_round_trip() {
        let t = Utc.with_ymd_and_hms(2026, 12, 1, 13, 31, 15).unwrap()
            + chrono::Duration::microseconds(371_065);
        assert_eq!(from_datetime(&datetime(t)), Some(t));
        assert_eq!(from_datetime(&json!({"__class__": "date"})), None);
    }

    #[test]
    fn errors_are_classified() {
        let user = json!([
            "UserError",
            ["You must enter an invoice address.", "", null]
        ]);
        assert!(
            matches!(classify("m", &user), ErpError::Refused(m) if m.contains("invoice address"))
        );
        assert!(classify("m", &json!(["ConcurrencyException", ["x"]])).retryable());
        assert!(classify("m", &json!(["database is locked", "Traceback..."])).retryable());
    }

    #[test]
    fn a_party_reads_back_as_written() {
        let wanted = json!({
            "first_name": "Marie", "last_name": "Dupont", "email": "m@x.fr", "phone": "",
            "address": {"line1": "1 rue A", "line2": "Bât. B", "postal_code": "75001",
                        "city": "Paris", "country": "FR"},
            "shop_id": "c1", "price_group": "particuliers", "read_only": true,
        });
        let view = PartyView::from_shop(wanted.as_object().unwrap());
        assert_eq!(view.name, "Marie Dupont");
        assert_eq!(view.street, "1 rue A\nBât. B");
        let f = view.fields();
        assert_eq!(
            (&f["first_name"], &f["last_name"]),
            (&json!("Marie"), &json!("Dupont"))
        );
        assert_eq!(f["address"]["line2"], "Bât. B");
        assert_eq!(shop_id_of("relais:abc:customer:c1"), Some("c1"));
        assert_eq!(shop_id_of("C0001"), None);
    }

    #[test]
    fn sale_states_follow_the_shop() {
        assert_eq!(target_state("quote", "validated"), "quotation");
        assert_eq!(
            target_state("quote", "paid"),
            "processing",
            "a paid quote is confirmed"
        );
        assert_eq!(target_state("order", "paid"), "processing");
        assert_eq!(target_state("order", "cancelled"), "cancelled");
        assert_eq!(shop_status("processing", "sent"), "shipped");
        assert_eq!(shop_status("processing", "waiting"), "preparing");
        assert_eq!(shop_status("done", "sent"), "delivered");
        assert_eq!(shop_status("quotation", "none"), "validated");
    }
}
