//! Connections' credentials belong to the tenant whose connection uses
//! them (docs/architecture.md §3). Two ways to give them, neither able to reach anything
//! else of the process:
//!
//! - **Stored with the connection** (`ConnectionFields.secret`, write-only):
//!   sealed with XChaCha20-Poly1305 under the deployment's key
//!   ([`SecretKeys`]) and bound to its tenant and connection, so a sealed
//!   value copied to another row does not open. Keys rotate: the first key
//!   of `RELAIS_CONNECTOR_SECRET_KEYS` seals, every listed key opens, and
//!   the connector re-seals old values under the first key when it starts.
//! - **From the tenant's own namespace** (`ConnectionFields.secret_ref`,
//!   for a secret manager feeding the deployment): `NAME` resolves only to
//!   `RELAIS_TENANT_<TENANT>_<NAME>` (tenant id in hex, upper case), never
//!   to a variable of another tenant or of the process (`DATABASE_URL`).

use std::collections::HashMap;

use anyhow::Context;
use base64::Engine;
use chacha20poly1305::{
    KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, AeadCore, OsRng, Payload},
};
use uuid::Uuid;

/// A credential as stored: the key that sealed it, and nonce + ciphertext.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub blob: Vec<u8>,
}

/// The deployment's keys for stored credentials.
#[derive(Clone)]
pub struct SecretKeys {
    current: String,
    keys: HashMap<String, XChaCha20Poly1305>,
}

const NONCE_LEN: usize = 24;

/// The development key: public, so accepted only in development mode.
const DEV_KEYS: &str = "dev:cmVsYWlzLWRldi1jb25uZWN0aW9uLXNlY3JldHMtMzI=";

impl SecretKeys {
    /// `RELAIS_CONNECTOR_SECRET_KEYS`: `id:base64-of-32-bytes`, comma
    /// separated, the sealing key first. Required outside development mode
    /// (`RELAIS_ENV=dev` uses a built-in key): without it stored
    /// credentials could not be opened, or would be sealed with a key
    /// anyone can read.
    pub fn from_env() -> anyhow::Result<Self> {
        let raw = std::env::var("RELAIS_CONNECTOR_SECRET_KEYS").unwrap_or_default();
        if raw.trim().is_empty() {
            anyhow::ensure!(
                relais_platform::config::dev_mode(),
                "RELAIS_CONNECTOR_SECRET_KEYS is not set: the connector seals connections' \
                 credentials with it (id:base64 of 32 random bytes, e.g. \
                 k1:$(head -c32 /dev/urandom | base64)); for local development set RELAIS_ENV=dev"
            );
            return Self::parse(DEV_KEYS);
        }
        let keys = Self::parse(&raw).context("RELAIS_CONNECTOR_SECRET_KEYS")?;
        anyhow::ensure!(
            relais_platform::config::dev_mode() || !keys.keys.contains_key("dev"),
            "RELAIS_CONNECTOR_SECRET_KEYS holds the public development key outside RELAIS_ENV=dev"
        );
        Ok(keys)
    }

    pub fn parse(list: &str) -> anyhow::Result<Self> {
        let mut current = None;
        let mut keys = HashMap::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (id, encoded) = item
                .split_once(':')
                .with_context(|| format!("{:?} is not id:base64-key", short(item)))?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .with_context(|| format!("key {id:?} is not base64"))?;
            anyhow::ensure!(
                bytes.len() == 32,
                "key {id:?} has {} bytes; it needs 32",
                bytes.len()
            );
            let cipher = XChaCha20Poly1305::new_from_slice(&bytes)
                .map_err(|_| anyhow::anyhow!("key {id:?} is not a key"))?;
            current.get_or_insert_with(|| id.to_owned());
            keys.insert(id.to_owned(), cipher);
        }
        let current = current.context("no key given")?;
        Ok(Self { current, keys })
    }

    /// The built-in development key, for tests and benchmarks.
    pub fn development() -> Self {
        match Self::parse(DEV_KEYS) {
            Ok(keys) => keys,
            // DEV_KEYS is a valid constant; its own test says so.
            Err(e) => unreachable!("{e}"),
        }
    }

    /// The id of the sealing key.
    pub fn current(&self) -> &str {
        &self.current
    }

    /// Seals `secret` for `connection` of `tenant`.
    pub fn seal(&self, tenant: Uuid, connection: Uuid, secret: &str) -> anyhow::Result<Sealed> {
        let cipher = self
            .keys
            .get(&self.current)
            .context("the sealing key is missing")?;
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = bound_to(tenant, connection);
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: secret.as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| anyhow::anyhow!("sealing failed"))?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&sealed);
        Ok(Sealed {
            key_id: self.current.clone(),
            blob,
        })
    }

    /// Opens what [`seal`](Self::seal) gave for this very connection; an
    /// unknown key or a value sealed for another connection does not open.
    pub fn open(&self, tenant: Uuid, connection: Uuid, sealed: &Sealed) -> anyhow::Result<String> {
        let cipher = self.keys.get(&sealed.key_id).with_context(|| {
            format!(
                "the credentials were sealed with key {:?}, which RELAIS_CONNECTOR_SECRET_KEYS \
                 no longer lists",
                sealed.key_id
            )
        })?;
        anyhow::ensure!(
            sealed.blob.len() > NONCE_LEN,
            "the stored credentials are cut"
        );
        let (nonce, body) = sealed.blob.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().context("the stored nonce is cut")?;
        let aad = bound_to(tenant, connection);
        let plain = cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: body,
                    aad: &aad,
                },
            )
            .map_err(|_| {
                anyhow::anyhow!("the stored credentials do not open for this connection")
            })?;
        String::from_utf8(plain).context("the stored credentials are not text")
    }
}

/// What a sealed value is bound to: moved to another tenant's or
/// connection's row, it fails to open.
fn bound_to(tenant: Uuid, connection: Uuid) -> Vec<u8> {
    let mut aad = b"relais-connection-secret:".to_vec();
    aad.extend_from_slice(tenant.as_bytes());
    aad.extend_from_slice(connection.as_bytes());
    aad
}

fn short(s: &str) -> String {
    s.chars().take(12).collect()
}

/// Credentials named by `secret_ref`, each in its tenant's namespace: the
/// environment's `RELAIS_TENANT_<TENANT>_<NAME>`, or values given in
/// process (tests, `relais dev`).
#[derive(Clone, Default)]
pub struct Secrets {
    given: HashMap<(Uuid, String), String>,
}

impl Secrets {
    pub fn from_env() -> Self {
        Self::default()
    }

    /// `name` for `tenant` only.
    pub fn with(mut self, tenant: Uuid, name: &str, value: &str) -> Self {
        self.given
            .insert((tenant, name.to_owned()), value.to_owned());
        self
    }

    /// The environment variable `name` means for `tenant`.
    pub fn variable(tenant: Uuid, name: &str) -> String {
        format!(
            "RELAIS_TENANT_{}_{name}",
            tenant.simple().to_string().to_uppercase()
        )
    }

    pub fn get(&self, tenant: Uuid, name: &str) -> Option<String> {
        self.given
            .get(&(tenant, name.to_owned()))
            .cloned()
            .or_else(|| std::env::var(Self::variable(tenant, name)).ok())
            .filter(|v| !v.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(list: &str) -> SecretKeys {
        match SecretKeys::parse(list) {
            Ok(k) => k,
            Err(e) => panic!("{e:#}"),
        }
    }

    const K1: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const K2: &str = "k2:HxwdHhsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA=";

    #[test]
    fn a_sealed_secret_opens_only_for_its_own_connection() {
        let keys = keys(K1);
        let (tenant, connection) = (Uuid::now_v7(), Uuid::now_v7());
        let sealed = keys.seal(tenant, connection, "pub:priv").expect("seals");
        assert!(!sealed.blob.windows(4).any(|w| w == b"priv"));
        assert_eq!(
            keys.open(tenant, connection, &sealed).ok().as_deref(),
            Some("pub:priv")
        );
        assert!(keys.open(Uuid::now_v7(), connection, &sealed).is_err());
        assert!(keys.open(tenant, Uuid::now_v7(), &sealed).is_err());
        let mut tampered = sealed.clone();
        if let Some(b) = tampered.blob.last_mut() {
            *b ^= 1;
        }
        assert!(keys.open(tenant, connection, &tampered).is_err());
    }

    #[test]
    fn keys_rotate_new_first_old_still_opening() {
        let (tenant, connection) = (Uuid::now_v7(), Uuid::now_v7());
        let old = keys(K1)
            .seal(tenant, connection, "login:pw")
            .expect("seals");
        let rotated = keys(&format!("{K2},{K1}"));
        assert_eq!(rotated.current(), "k2");
        assert_eq!(
            rotated.open(tenant, connection, &old).ok().as_deref(),
            Some("login:pw")
        );
        let resealed = rotated.seal(tenant, connection, "login:pw").expect("seals");
        assert_eq!(resealed.key_id, "k2");
        assert!(keys(K1).open(tenant, connection, &resealed).is_err());
    }

    #[test]
    fn the_development_key_parses() {
        assert!(SecretKeys::parse(DEV_KEYS).is_ok());
    }

    #[test]
    fn bad_key_lists_are_refused() {
        for bad in ["", "k1", "k1:not-base64!", "k1:AAAA"] {
            assert!(SecretKeys::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_reference_resolves_only_in_its_tenants_namespace() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let secrets = Secrets::default().with(a, "ERP", "a-keys");
        assert_eq!(secrets.get(a, "ERP").as_deref(), Some("a-keys"));
        assert_eq!(secrets.get(b, "ERP"), None);
        assert_eq!(secrets.get(b, "PATH"), None);
        assert!(Secrets::variable(a, "ERP").starts_with("RELAIS_TENANT_"));
    }
}
