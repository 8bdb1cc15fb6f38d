//! A connection's credentials, wherever they are kept (secrets.rs): what
//! an adapter is opened with.

use crate::{
    connections::Connection,
    secrets::{SecretKeys, Secrets},
};

/// Where a connection's credentials come from: sealed with it, or named in
/// its tenant's namespace.
#[derive(Clone)]
pub struct Credentials {
    pub keys: SecretKeys,
    pub named: Secrets,
}

impl Credentials {
    /// The credentials of `c`, or why there are none.
    pub fn of(&self, c: &Connection) -> Result<String, String> {
        if let Some(sealed) = &c.sealed {
            return self
                .keys
                .open(c.tenant, c.id, sealed)
                .map_err(|e| format!("{e:#}"));
        }
        if c.secret_ref.is_empty() {
            return Err("no credentials: set the connection's secret".into());
        }
        self.named.get(c.tenant, &c.secret_ref).ok_or_else(|| {
            format!(
                "the credentials {} are not set for this tenant (variable {})",
                c.secret_ref,
                Secrets::variable(c.tenant, &c.secret_ref)
            )
        })
    }
}
