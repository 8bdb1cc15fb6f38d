//! The keys tokens are signed and verified with (docs/keys.md).
//!
//! Every issuer of tokens — the gateway for people, each service for its
//! calls to the others, the CLI for an operator — holds its own Ed25519
//! private key, which nothing else has. Every verifier holds only public
//! keys, each with the issuer that owns it and the roles that issuer may
//! grant: the gateway's key signs customer, staff and admin tokens, the
//! orders service's only `service` tokens whose subject is `orders`. A
//! compromised service can therefore sign as itself, never as an admin of
//! any tenant, and never as another service.
//!
//! The trusted keys are a JWKS document (`RELAIS_TRUSTED_KEYS`, a file the
//! platform mounts) with two fields of ours on each key: `relais_issuer`
//! and `relais_roles`. A key is rotated without downtime by publishing the
//! new public key beside the old one, switching the issuer's private key,
//! then removing the old public key once the tokens it signed have expired;
//! verifiers re-read the file when it changes.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
    time::{Duration, Instant, SystemTime},
};

use anyhow::Context;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde::{Deserialize, Serialize};

use crate::auth::Role;

/// The issuers a development stack knows, and the roles each may grant.
/// Outside development mode the trusted-keys file says this instead.
pub const DEV_ISSUERS: &[(&str, &[Role])] = &[
    // People's tokens after sign-in; `service` for what the gateway does
    // itself (creating the customer of a sign-up).
    (
        "gateway",
        &[Role::Customer, Role::Staff, Role::Admin, Role::Service],
    ),
    // The CLI acts as whoever a command names (docs/cli.md).
    (
        "relais-cli",
        &[Role::Customer, Role::Staff, Role::Admin, Role::Connector],
    ),
    ("catalogue", &[Role::Service]),
    ("orders", &[Role::Service]),
    ("planning", &[Role::Service]),
    ("billing", &[Role::Service]),
    ("connector", &[Role::Service, Role::Connector]),
];

/// The issuer the tests sign with: any role, trusted only by the test
/// configuration (`testing::config`), never by `relais dev` or production.
pub const TEST_ISSUER: &str = "testing";

/// An issuer's private key.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    pub issuer: String,
    encoding: EncodingKey,
    public: [u8; 32],
}

impl std::fmt::Debug for SigningKey {
    // Never the key itself, in logs or panics.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    pub fn from_seed(issuer: &str, kid: &str, seed: &[u8; 32]) -> anyhow::Result<Self> {
        let key = ed25519_dalek::SigningKey::from_bytes(seed);
        let der = key
            .to_pkcs8_der()
            .map_err(|e| anyhow::anyhow!("encoding the signing key: {e}"))?;
        Ok(Self {
            kid: kid.to_owned(),
            issuer: issuer.to_owned(),
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            public: key.verifying_key().to_bytes(),
        })
    }

    /// `<kid>:<base64url of the 32-byte seed>`, as `RELAIS_SIGNING_KEY`
    /// carries it (and `relais keys new` prints it).
    pub fn parse(issuer: &str, spec: &str) -> anyhow::Result<Self> {
        let (kid, seed) = spec.trim().split_once(':').context(
            "RELAIS_SIGNING_KEY must be <kid>:<base64url seed> (relais keys new prints one)",
        )?;
        anyhow::ensure!(!kid.is_empty(), "RELAIS_SIGNING_KEY: the kid is empty");
        let seed: [u8; 32] = URL_SAFE_NO_PAD
            .decode(seed.trim().trim_end_matches('='))
            .ok()
            .and_then(|b| b.try_into().ok())
            .context("RELAIS_SIGNING_KEY: the seed must be 32 bytes in base64url")?;
        Self::from_seed(issuer, kid, &seed)
    }

    /// A new random key for `issuer`, with its `RELAIS_SIGNING_KEY` value.
    pub fn generate(issuer: &str, kid: &str) -> anyhow::Result<(Self, String)> {
        let seed: [u8; 32] = rand::random();
        let spec = format!("{kid}:{}", URL_SAFE_NO_PAD.encode(seed));
        Ok((Self::from_seed(issuer, kid, &seed)?, spec))
    }

    /// `issuer`'s key in a development stack, derived from its seed: every
    /// process of the stack can compute it, which is why only development
    /// mode uses it.
    pub fn derived(dev_seed: &str, issuer: &str) -> anyhow::Result<Self> {
        use sha2::Digest;
        let seed: [u8; 32] =
            sha2::Sha256::digest(format!("{dev_seed}:token-key:{issuer}").as_bytes()).into();
        Self::from_seed(issuer, &format!("dev-{issuer}"), &seed)
    }

    pub(crate) fn encoding(&self) -> &EncodingKey {
        &self.encoding
    }

    /// The public half, trusted for `roles`.
    pub fn public(&self, roles: &[Role]) -> TrustedKey {
        TrustedKey {
            decoding: DecodingKey::from_ed_der(&self.public),
            jwk: Jwk {
                kty: "OKP".into(),
                crv: "Ed25519".into(),
                alg: "EdDSA".into(),
                use_: "sig".into(),
                kid: self.kid.clone(),
                x: URL_SAFE_NO_PAD.encode(self.public),
                relais_issuer: self.issuer.clone(),
                relais_roles: roles.to_vec(),
            },
        }
    }
}

/// One public key as the trusted-keys document writes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    pub alg: String,
    #[serde(rename = "use", default = "sig")]
    pub use_: String,
    pub kid: String,
    pub x: String,
    /// Who holds the private half: the gateway, a service, the CLI.
    pub relais_issuer: String,
    /// What tokens it may sign.
    pub relais_roles: Vec<Role>,
}

fn sig() -> String {
    "sig".into()
}

/// A public key and what it may sign.
#[derive(Clone)]
pub struct TrustedKey {
    pub jwk: Jwk,
    pub(crate) decoding: DecodingKey,
}

impl TrustedKey {
    pub fn new(jwk: Jwk) -> anyhow::Result<Self> {
        let kid = &jwk.kid;
        anyhow::ensure!(
            jwk.kty == "OKP" && jwk.crv == "Ed25519" && jwk.alg == "EdDSA",
            "key {kid}: only Ed25519 (kty OKP, crv Ed25519, alg EdDSA) is accepted"
        );
        // Checked here: the verifier slices the first 32 bytes unchecked.
        let x = URL_SAFE_NO_PAD
            .decode(jwk.x.trim_end_matches('='))
            .with_context(|| format!("key {kid}: x is not base64url"))?;
        anyhow::ensure!(x.len() == 32, "key {kid}: x must be 32 bytes");
        ed25519_dalek::VerifyingKey::from_bytes(&x.clone().try_into().unwrap_or([0; 32]))
            .with_context(|| format!("key {kid}: not an Ed25519 public key"))?;
        anyhow::ensure!(
            !jwk.relais_issuer.is_empty(),
            "key {kid}: relais_issuer is empty"
        );
        anyhow::ensure!(
            !jwk.relais_roles.is_empty(),
            "key {kid}: relais_roles is empty"
        );
        Ok(Self {
            decoding: DecodingKey::from_ed_der(&x),
            jwk,
        })
    }
}

/// The trusted keys by `kid`.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: BTreeMap<String, TrustedKey>,
}

#[derive(Serialize, Deserialize)]
struct Document {
    keys: Vec<Jwk>,
}

impl KeySet {
    pub fn from_keys(keys: impl IntoIterator<Item = TrustedKey>) -> Self {
        Self {
            keys: keys.into_iter().map(|k| (k.jwk.kid.clone(), k)).collect(),
        }
    }

    /// Reads a JWKS document; a key that is malformed, or a `kid` given
    /// twice, fails the whole document (a half-read key set would refuse
    /// tokens that the operator believes accepted, or the reverse).
    pub fn parse(json: &str) -> anyhow::Result<Self> {
        let doc: Document =
            serde_json::from_str(json).context("trusted keys: not a JWKS document")?;
        let mut keys = BTreeMap::new();
        for jwk in doc.keys {
            let kid = jwk.kid.clone();
            anyhow::ensure!(
                keys.insert(kid.clone(), TrustedKey::new(jwk)?).is_none(),
                "trusted keys: kid {kid} appears twice"
            );
        }
        Ok(Self { keys })
    }

    pub fn get(&self, kid: &str) -> Option<&TrustedKey> {
        self.keys.get(kid)
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The JWKS document (public keys only), as `/.well-known/jwks.json`
    /// serves it.
    pub fn document(&self) -> serde_json::Value {
        serde_json::json!({ "keys": self.keys.values().map(|k| &k.jwk).collect::<Vec<_>>() })
    }

    /// Every development issuer's key (and the tests' with `testing`).
    pub fn dev(dev_seed: &str, testing: bool) -> anyhow::Result<Self> {
        let mut keys = Vec::new();
        for (issuer, roles) in DEV_ISSUERS {
            keys.push(SigningKey::derived(dev_seed, issuer)?.public(roles));
        }
        if testing {
            let all = [
                Role::Customer,
                Role::Staff,
                Role::Admin,
                Role::Connector,
                Role::Service,
            ];
            keys.push(SigningKey::derived(dev_seed, TEST_ISSUER)?.public(&all));
        }
        Ok(Self::from_keys(keys))
    }
}

/// Where a verifier's keys come from.
#[derive(Clone, Debug)]
pub enum Trust {
    /// The development keys derived from a stack's seed.
    Dev { seed: String, testing: bool },
    /// A JWKS file, re-read when it changes.
    File(PathBuf),
    /// None given: a process that verifies tokens refuses to start.
    Unset,
}

/// How often a verifier looks whether its trusted-keys file changed: a
/// ConfigMap update reaches the pod's file within about a minute anyway.
const RECHECK: Duration = Duration::from_secs(5);

/// The current key set, reloaded from its file when that changes.
pub(crate) struct TrustedKeys {
    source: Trust,
    state: RwLock<Loaded>,
}

struct Loaded {
    set: Arc<KeySet>,
    modified: Option<SystemTime>,
    checked: Instant,
}

impl TrustedKeys {
    pub(crate) fn load(source: &Trust) -> anyhow::Result<Self> {
        let (set, modified) = match source {
            Trust::Dev { seed, testing } => (KeySet::dev(seed, *testing)?, None),
            Trust::File(path) => read(path)?,
            Trust::Unset => anyhow::bail!(
                "RELAIS_TRUSTED_KEYS is not set: a service needs the file of public keys whose \
                 tokens it accepts (docs/keys.md); for local development set RELAIS_ENV=dev \
                 and RELAIS_DEV_SEED (scripts/stack.sh writes both to .local/env)"
            ),
        };
        anyhow::ensure!(
            !set.is_empty(),
            "the trusted keys are empty: no token could be accepted"
        );
        Ok(Self {
            source: source.clone(),
            state: RwLock::new(Loaded {
                set: Arc::new(set),
                modified,
                checked: Instant::now(),
            }),
        })
    }

    /// The key set, after a look at the file if the last was a while ago.
    /// A file that became unreadable or invalid keeps the last good set and
    /// says so: refusing every token because of a bad edit would stop the
    /// whole platform.
    pub(crate) fn current(&self) -> Arc<KeySet> {
        let Trust::File(path) = &self.source else {
            return self.snapshot();
        };
        let due = self
            .state
            .read()
            .map(|s| s.checked.elapsed() >= RECHECK)
            .unwrap_or(true);
        if due && let Ok(mut state) = self.state.write() {
            state.checked = Instant::now();
            let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
            if modified != state.modified {
                match read(path) {
                    Ok((set, m)) if !set.is_empty() => {
                        tracing::info!(path = %path.display(), "trusted keys reloaded");
                        state.set = Arc::new(set);
                        state.modified = m;
                    }
                    Ok(_) => {
                        tracing::error!(path = %path.display(), "trusted keys file is empty; keeping the previous keys")
                    }
                    Err(e) => {
                        tracing::error!(path = %path.display(), error = %e, "trusted keys file unreadable; keeping the previous keys")
                    }
                }
            }
        }
        self.snapshot()
    }

    fn snapshot(&self) -> Arc<KeySet> {
        self.state
            .read()
            .map(|s| s.set.clone())
            .unwrap_or_else(|p| p.into_inner().set.clone())
    }
}

fn read(path: &Path) -> anyhow::Result<(KeySet, Option<SystemTime>)> {
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("RELAIS_TRUSTED_KEYS: reading {}", path.display()))?;
    let set =
        KeySet::parse(&text).with_context(|| format!("RELAIS_TRUSTED_KEYS: {}", path.display()))?;
    Ok((set, modified))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_round_trips_and_rejects_bad_keys() {
        let key = SigningKey::derived("s", "gateway").unwrap_or_else(|e| panic!("{e}"));
        let set = KeySet::from_keys([key.public(&[Role::Admin])]);
        let doc = set.document().to_string();
        let back = KeySet::parse(&doc).unwrap_or_else(|e| panic!("{e}"));
        assert!(back.get("dev-gateway").is_some());

        for bad in [
            doc.replace("Ed25519", "P-256"),
            doc.replace(&key.public(&[]).jwk.x, "AAAA"),
            doc.replace("[\"admin\"]", "[]"),
            "{\"keys\":[".to_owned(),
        ] {
            assert!(KeySet::parse(&bad).is_err(), "{bad}");
        }
        let twice = format!(
            "{{\"keys\":[{0},{0}]}}",
            serde_json::to_string(&key.public(&[Role::Admin]).jwk).unwrap_or_default()
        );
        assert!(KeySet::parse(&twice).is_err());
    }

    #[test]
    fn a_signing_key_spec_parses_and_says_what_is_wrong() {
        let (_, spec) =
            SigningKey::generate("orders", "orders-1").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            SigningKey::parse("orders", &spec)
                .map(|k| k.kid)
                .ok()
                .as_deref(),
            Some("orders-1")
        );
        for bad in ["", "no-colon", ":abc", "k:short"] {
            assert!(SigningKey::parse("orders", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_key_rotates_through_the_trusted_keys_file_without_a_restart() {
        use crate::auth::{Authenticator, Claims, TokenSettings};
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("trusted-keys.json");
        let (old, old_spec) =
            SigningKey::generate("gateway", "gw-1").unwrap_or_else(|e| panic!("{e}"));
        let (new, new_spec) =
            SigningKey::generate("gateway", "gw-2").unwrap_or_else(|e| panic!("{e}"));
        let write = |keys: &[&SigningKey]| {
            let set = KeySet::from_keys(keys.iter().map(|k| k.public(&[Role::Admin])));
            std::fs::write(&path, set.document().to_string()).unwrap_or_else(|e| panic!("{e}"));
        };
        let settings = |spec: &str| TokenSettings {
            signing_key: spec.to_owned(),
            dev_seed: String::new(),
            trust: Trust::File(path.clone()),
            ..TokenSettings::dev("", false)
        };
        let token = |spec: &str| {
            Authenticator::new(&settings(spec), "gateway")
                .and_then(|a| {
                    a.mint(&Claims {
                        sub: "a".into(),
                        tenant: uuid::Uuid::nil(),
                        role: Role::Admin,
                        customer_id: None,
                        residences: vec![],
                        connection: None,
                        exp: chrono::Utc::now().timestamp() + 600,
                    })
                })
                .unwrap_or_else(|e| panic!("{e}"))
        };
        write(&[&old]);
        let verifier =
            Authenticator::new(&settings(""), "orders").unwrap_or_else(|e| panic!("{e}"));
        let (before, after) = (token(&old_spec), token(&new_spec));
        assert!(verifier.verify(&before).is_ok());
        assert!(verifier.verify(&after).is_err(), "not published yet");

        // Publish the new key beside the old: both verify, no restart.
        std::thread::sleep(Duration::from_millis(20));
        write(&[&old, &new]);
        std::thread::sleep(RECHECK + Duration::from_millis(100));
        assert!(verifier.verify(&before).is_ok());
        assert!(verifier.verify(&after).is_ok());

        // A broken edit keeps the last good keys.
        std::fs::write(&path, "{not json").unwrap_or_else(|e| panic!("{e}"));
        std::thread::sleep(RECHECK + Duration::from_millis(100));
        assert!(verifier.verify(&after).is_ok());

        // The old key withdrawn: its tokens stop working.
        write(&[&new]);
        std::thread::sleep(RECHECK + Duration::from_millis(100));
        assert!(verifier.verify(&before).is_err());
        assert!(verifier.verify(&after).is_ok());
    }
}
