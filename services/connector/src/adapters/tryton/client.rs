//! The session with Tryton and its JSON-RPC calls: login, `model.*`
//! calls with the user's context (logging in again once when the session
//! expired), reads, and how Tryton's errors map to retry or refuse.

use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use tokio::sync::Mutex;

use super::values::{from_datetime, id_of, objects};
use crate::adapter::{ErpError, text};

pub(super) struct Session {
    header: String,
    context: Value,
    /// The parties of the user's companies: Tryton's own, not customers.
    pub(super) company_parties: Vec<i64>,
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
    pub(super) writes: Mutex<()>,
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
        let response = crate::adapters::traced_send(request, "tryton", method)
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
    pub(super) async fn session_value<T>(
        &self,
        read: impl Fn(&Session) -> T,
    ) -> Result<T, ErpError> {
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

    pub(super) async fn call_with(
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

    pub(super) async fn search_read(
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

    pub(super) async fn read(
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

    pub(super) async fn create(&self, model: &str, values: Value) -> Result<i64, ErpError> {
        let answer = self.call(model, "create", vec![json!([values])]).await?;
        answer[0]
            .as_i64()
            .ok_or_else(|| ErpError::Refused(format!("{model}.create answered no id")))
    }

    pub(super) async fn write(&self, model: &str, id: i64, values: Value) -> Result<(), ErpError> {
        self.call(model, "write", vec![json!([id]), values])
            .await
            .map(|_| ())
    }

    pub(super) async fn currency(&self) -> Result<String, ErpError> {
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

pub(super) enum Fault {
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

impl TrytonClient {
    /// The record an earlier create with `reference` made, archived
    /// (inactive) ones included: a retry never makes a second one.
    pub(super) async fn find_reference(
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
    pub(super) async fn high_water(
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

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
}
