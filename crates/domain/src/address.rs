//! A postal address as services store it (JSON, trimmed, FR by default).

use relais_proto::orders::Address;

pub fn to_json(a: &Address) -> serde_json::Value {
    serde_json::json!({
        "line1": a.line1.trim(), "line2": a.line2.trim(), "postal_code": a.postal_code.trim(),
        "city": a.city.trim(), "country": if a.country.is_empty() { "FR" } else { a.country.as_str() },
    })
}

pub fn from_json(v: &serde_json::Value) -> Address {
    let f = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    Address {
        line1: f("line1"),
        line2: f("line2"),
        postal_code: f("postal_code"),
        city: f("city"),
        country: f("country"),
    }
}
