//! Parties: the shop's customers, both ways.

use chrono::Utc;
use serde_json::{Map, Value, json};

use super::{
    client::TrytonClient,
    values::{changed_at, id_of, ids, record},
};
use crate::adapter::{ErpError, ErpRecord, text};

/// A party as both sides see it. Tryton has one name: the shop's first and
/// last names are written as "First Last" and read back split at the
/// first space.
#[derive(Default)]
pub(super) struct PartyView {
    name: String,
    email: String,
    phone: String,
    street: String,
    postal_code: String,
    city: String,
    shop_id: String,
}

impl PartyView {
    pub(super) fn from_shop(f: &Map<String, Value>) -> Self {
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

    pub(super) fn fields(&self) -> Map<String, Value> {
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
pub(super) fn shop_id_of(reference: &str) -> Option<&str> {
    reference
        .strip_prefix("relais:")
        .and_then(|r| r.rsplit(':').next())
}

impl TrytonClient {
    pub(super) async fn parties(
        &self,
        rows: Vec<Map<String, Value>>,
    ) -> Result<Vec<ErpRecord>, ErpError> {
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

    pub(super) async fn write_party(
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

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
}
