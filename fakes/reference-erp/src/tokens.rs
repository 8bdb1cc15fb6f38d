//! `getToken` and the token every later call carries.

use axum::{http::StatusCode, response::Response};
use chrono::{NaiveDateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};

use crate::{
    reply::{ko, ok, text},
    state::{Erp, Token},
};

type HmacSha1 = Hmac<sha1::Sha1>;

/// The signature a client sends: upper-case hex HMAC-SHA1 of
/// `key + GET_TOKEN + time` under the private key.
pub fn signature(public: &str, private: &str, time: &str) -> String {
    let Ok(mut mac) = HmacSha1::new_from_slice(private.as_bytes()) else {
        return String::new();
    };
    mac.update(format!("{public}GET_TOKEN{time}").as_bytes());
    hex::encode_upper(mac.finalize().into_bytes())
}

pub(crate) fn get_token(erp: &Erp, body: &Map<String, Value>) -> Response {
    let (key, time, sig) = (
        text(body, "key"),
        text(body, "time"),
        text(body, "api_signature"),
    );
    if text(body, "request") != "GET_TOKEN" {
        return ko(StatusCode::BAD_REQUEST, "request must be GET_TOKEN");
    }
    let Some(private) = erp.keys.get(key) else {
        return ko(StatusCode::UNAUTHORIZED, "unknown key");
    };
    let stamp = time.split('.').next().unwrap_or_default();
    let Ok(at) = NaiveDateTime::parse_from_str(stamp, "%Y%m%d%H%M%S") else {
        return ko(
            StatusCode::BAD_REQUEST,
            "time must be YYYYMMDDHHmmss.<random>",
        );
    };
    if (Utc::now() - at.and_utc()).num_seconds().abs() > 300 {
        return ko(StatusCode::UNAUTHORIZED, "time is more than 5 minutes off");
    }
    if !sig.eq_ignore_ascii_case(&signature(key, private, time)) {
        return ko(StatusCode::UNAUTHORIZED, "bad api_signature");
    }
    let token = uuid::Uuid::new_v4().simple().to_string();
    let expires = Utc::now() + chrono::Duration::from_std(erp.token_ttl).unwrap_or_default();
    if let Ok(mut tokens) = erp.tokens.lock() {
        tokens.retain(|_, t| t.expires > Utc::now());
        tokens.insert(
            token.clone(),
            Token {
                key: key.to_owned(),
                expires,
            },
        );
    }
    let mut out = Map::new();
    out.insert("token".into(), token.into());
    out.insert("expires_at".into(), expires.to_rfc3339().into());
    ok(out)
}

pub(crate) fn check_token(erp: &Erp, body: &Map<String, Value>) -> Result<(), Box<Response>> {
    let token = text(body, "token");
    let valid = erp.tokens.lock().ok().and_then(|t| {
        t.get(token)
            .map(|t| (t.expires > Utc::now(), t.key.clone()))
    });
    match valid {
        Some((true, _)) => Ok(()),
        Some((false, _)) => Err(Box::new(ko(StatusCode::UNAUTHORIZED, "token expired"))),
        None => Err(Box::new(ko(StatusCode::UNAUTHORIZED, "invalid token"))),
    }
}
