//! The reference ERP's adapter (its API is Ogust's shape: a signed token
//! that expires, then `get/set/rem/search<Object>` calls). The token is
//! kept and renewed when the ERP says it expired; a search page that
//! delivers a record twice yields it once.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use tokio::sync::Mutex;

use crate::adapter::{Changes, ErpAdapter, ErpError, ErpRecord};

pub struct ReferenceErpClient {
    endpoint: String,
    public_key: String,
    private_key: String,
    http: reqwest::Client,
    token: Mutex<Option<String>>,
}

impl ReferenceErpClient {
    /// `base` e.g. `http://127.0.0.1:8800`; `timeout` per call. For tools
    /// and tests that talk to an ERP they chose; connections go through
    /// [`with_client`](Self::with_client) and the egress policy.
    pub fn new(
        base: &str,
        public_key: &str,
        private_key: &str,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        Self::with_client(
            base,
            public_key,
            private_key,
            relais_platform::http::client(timeout)?,
        )
    }

    /// The same over `http`.
    pub fn with_client(
        base: &str,
        public_key: &str,
        private_key: &str,
        http: reqwest::Client,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            endpoint: format!("{}/api/v2/apiogust.php", base.trim_end_matches('/')),
            public_key: public_key.to_owned(),
            private_key: private_key.to_owned(),
            http,
            token: Mutex::new(None),
        })
    }

    async fn post(&self, method: &str, body: &Value) -> Result<(u16, Value), ErpError> {
        let request = self
            .http
            // Method names are ASCII words: no escaping needed.
            .post(format!("{}?method={method}", self.endpoint))
            .json(body);
        let response = super::traced_send(request, "reference", method)
            .await
            .map_err(|e| ErpError::Unavailable(format!("{method}: {e}")))?;
        let status = response.status().as_u16();
        let answer: Value = response
            .json()
            .await
            .map_err(|e| ErpError::Unavailable(format!("{method}: unreadable answer: {e}")))?;
        Ok((status, answer))
    }

    async fn new_token(&self) -> Result<String, ErpError> {
        let time = format!("{}.{:06}", Utc::now().format("%Y%m%d%H%M%S"), rand_suffix());
        let (status, answer) = self
            .post(
                "getToken",
                &json!({
                    "key": self.public_key,
                    "request": "GET_TOKEN",
                    "time": time,
                    "api_signature": signature(&self.public_key, &self.private_key, &time),
                }),
            )
            .await?;
        match (status, answer["token"].as_str()) {
            (200, Some(token)) => Ok(token.to_owned()),
            _ => Err(classify("getToken", status, &answer)),
        }
    }

    /// A call with the connection's token, renewed once if the ERP says it
    /// is no longer valid.
    async fn call(&self, method: &str, mut body: Map<String, Value>) -> Result<Value, ErpError> {
        for renewed in [false, true] {
            let token = {
                let mut cached = self.token.lock().await;
                match cached.as_ref() {
                    Some(t) if !renewed => t.clone(),
                    _ => {
                        let t = self.new_token().await?;
                        *cached = Some(t.clone());
                        t
                    }
                }
            };
            body.insert("token".into(), token.into());
            let (status, answer) = self.post(method, &Value::Object(body.clone())).await?;
            let stale = status == 401
                && matches!(
                    answer["message"].as_str(),
                    Some("token expired" | "invalid token")
                );
            if stale && !renewed {
                continue;
            }
            if status == 200 && answer["status"] == "OK" {
                return Ok(answer);
            }
            return Err(classify(method, status, &answer));
        }
        Err(ErpError::Refused(format!("{method}: token refused twice")))
    }
}

fn rand_suffix() -> u32 {
    // Only makes each token request's time unique; not a secret.
    Utc::now().timestamp_subsec_micros()
}

fn classify(method: &str, status: u16, answer: &Value) -> ErpError {
    let message = format!(
        "{method}: {} ({status})",
        answer["message"].as_str().unwrap_or("no message")
    );
    match status {
        404 => ErpError::NotFound(message),
        408 | 429 | 500..=599 => ErpError::Unavailable(message),
        _ => ErpError::Refused(message),
    }
}

/// `customer` -> `Customer`, as the ERP's method names have it.
fn title(object: &str) -> String {
    let mut chars = object.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}

fn record(v: &Value) -> Result<ErpRecord, ErpError> {
    let Value::Object(map) = v else {
        return Err(ErpError::Refused("a record is not an object".into()));
    };
    let mut fields = map.clone();
    let id = fields
        .remove("id")
        .and_then(|v| v.as_str().map(str::to_owned))
        .ok_or_else(|| ErpError::Refused("a record without id".into()))?;
    let version = fields
        .remove("version")
        .and_then(|v| v.as_i64())
        .unwrap_or(0);
    let updated_at = fields
        .remove("updated_at")
        .and_then(|v| v.as_str().map(str::to_owned))
        .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(Utc::now);
    Ok(ErpRecord {
        id,
        version,
        updated_at,
        fields,
    })
}

impl ErpAdapter for ReferenceErpClient {
    async fn upsert(
        &self,
        object: &str,
        id: Option<&str>,
        reference: &str,
        fields: &Map<String, Value>,
    ) -> Result<ErpRecord, ErpError> {
        let mut body = fields.clone();
        if let Some(id) = id {
            body.insert("id".into(), id.into());
        } else {
            body.insert("reference".into(), reference.into());
        }
        let written = self.call(&format!("set{}", title(object)), body).await?;
        let id = written["id"]
            .as_str()
            .ok_or_else(|| ErpError::Refused("set answered no id".into()))?;
        // The answer names the id and version: the record is what was sent
        // (an update merges it into the ERP's), with no second call.
        Ok(ErpRecord {
            id: id.to_owned(),
            version: written["version"].as_i64().unwrap_or(0),
            updated_at: Utc::now(),
            fields: fields.clone(),
        })
    }

    async fn get(&self, object: &str, id: &str) -> Result<ErpRecord, ErpError> {
        let mut body = Map::new();
        body.insert("id".into(), id.into());
        let answer = self.call(&format!("get{}", title(object)), body).await?;
        record(&answer[object])
    }

    async fn changed_since(
        &self,
        object: &str,
        since: Option<DateTime<Utc>>,
        page: i64,
        per_page: i64,
    ) -> Result<Changes, ErpError> {
        let mut body = Map::new();
        body.insert("nbperpage".into(), per_page.into());
        body.insert("pagenum".into(), page.into());
        if let Some(since) = since {
            body.insert("updated_since".into(), since.to_rfc3339().into());
        }
        let answer = self.call(&format!("search{}", title(object)), body).await?;
        let list = &answer[format!("array_{object}")];
        let mut records: Vec<ErpRecord> = Vec::new();
        for v in list["result"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            let r = record(v)?;
            // Delivered twice: keep one, the latest version.
            match records.iter_mut().find(|x| x.id == r.id) {
                Some(x) if x.version < r.version => *x = r,
                Some(_) => {}
                None => records.push(r),
            }
        }
        let total = list["nbresults"].as_i64().unwrap_or(0);
        let next = (page * per_page < total).then_some(page + 1);
        Ok(Changes {
            records,
            total,
            next,
            ..Changes::default()
        })
    }

    /// Its `set` calls look the reference up under a unique index.
    fn keeps_references(&self) -> bool {
        true
    }

    async fn remove(&self, object: &str, id: &str) -> Result<(), ErpError> {
        let mut body = Map::new();
        body.insert("id".into(), id.into());
        self.call(&format!("rem{}", title(object)), body)
            .await
            .map(|_| ())
    }
}

/// The signature the reference ERP asks of a client: upper-case hex
/// HMAC-SHA1 of `key + GET_TOKEN + time` under the private key. The client
/// signs with its own code, not the ERP's, so that a signing bug on either
/// side shows as a refused token in the tests.
fn signature(public: &str, private: &str, time: &str) -> String {
    use hmac::Mac;
    let Ok(mut mac) = hmac::Hmac::<sha1::Sha1>::new_from_slice(private.as_bytes()) else {
        return String::new();
    };
    mac.update(format!("{public}GET_TOKEN{time}").as_bytes());
    hex::encode_upper(mac.finalize().into_bytes())
}
