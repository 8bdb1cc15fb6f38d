//! Passwords: argon2id hashes, computed off the async threads and a few at
//! a time (each takes [`MEMORY_KIB`] of memory), and the rules a new
//! password must meet.
//!
//! The parameters are OWASP's first recommendation for argon2id (19 MiB,
//! 2 passes, 1 lane): about 25 ms a hash on one core of this kind of
//! machine (docs/benchmarks.md measures sign-ins per second), so guessing
//! from a stolen table costs an attacker as much per try, while a sign-in
//! stays well under the time a person notices. Hashes are PHC strings that
//! carry their parameters, so raising them later rehashes each password at
//! its next sign-in without invalidating the others.

use std::sync::Arc;

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version,
    password_hash::SaltString,
};
use tokio::sync::Semaphore;

use crate::problem::Problem;

pub const MEMORY_KIB: u32 = 19 * 1024;
pub const PASSES: u32 = 2;
pub const LANES: u32 = 1;

/// The shortest and longest password accepted: long enough to resist
/// guessing, bounded so that hashing a megabyte of "password" cannot tie
/// up a core.
pub const MIN_LEN: usize = 10;
pub const MAX_LEN: usize = 256;

#[derive(Clone)]
pub struct Hasher {
    argon: Argon2<'static>,
    /// At most this many hashes at once: memory stays bounded under a
    /// flood of sign-ins, and the rest wait their turn.
    slots: Arc<Semaphore>,
    /// Verified when the e-mail is unknown, so that a sign-in takes as
    /// long whether or not the account exists.
    dummy: Arc<String>,
}

impl Hasher {
    pub fn new() -> anyhow::Result<Self> {
        let params = Params::new(MEMORY_KIB, PASSES, LANES, None)
            .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let dummy = hash_with(&argon, "not anyone's password")?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Self {
            argon,
            slots: Arc::new(Semaphore::new(cores * 2)),
            dummy: Arc::new(dummy),
        })
    }

    pub async fn hash(&self, password: &str) -> anyhow::Result<String> {
        let _slot = self.slots.acquire().await?;
        let (argon, password) = (self.argon.clone(), password.to_owned());
        tokio::task::spawn_blocking(move || hash_with(&argon, &password)).await?
    }

    /// Whether `password` matches `hash` (the dummy when there is no
    /// account or no password yet: always false, in the same time).
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> anyhow::Result<bool> {
        let _slot = self.slots.acquire().await?;
        let known = hash.is_some();
        let hash = hash.map_or_else(|| self.dummy.as_str().to_owned(), str::to_owned);
        let (argon, password) = (self.argon.clone(), password.to_owned());
        let ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash)
                .map(|h| argon.verify_password(password.as_bytes(), &h).is_ok())
                .unwrap_or(false)
        })
        .await?;
        Ok(known && ok)
    }
}

fn hash_with(argon: &Argon2<'_>, password: &str) -> anyhow::Result<String> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Ok(argon
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing: {e}"))?
        .to_string())
}

/// A new password's rules, as a problem naming `field`.
pub fn check_new(field: &str, password: &str, email: &str) -> Result<(), Problem> {
    let chars = password.chars().count();
    if chars < MIN_LEN {
        return Err(Problem::field(
            field,
            format!("must be at least {MIN_LEN} characters"),
        ));
    }
    if chars > MAX_LEN {
        return Err(Problem::field(
            field,
            format!("must be at most {MAX_LEN} characters"),
        ));
    }
    if password.chars().any(char::is_control) {
        return Err(Problem::field(field, "must not contain control characters"));
    }
    if password.trim().eq_ignore_ascii_case(email.trim()) {
        return Err(Problem::field(field, "must not be the e-mail address"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_only_its_password_and_unknown_accounts_never() {
        let h = Hasher::new().unwrap_or_else(|e| panic!("{e}"));
        let hash = h.hash("correct horse battery").await.unwrap_or_default();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(
            h.verify("correct horse battery", Some(&hash))
                .await
                .unwrap_or(false)
        );
        assert!(
            !h.verify("correct horse batterY", Some(&hash))
                .await
                .unwrap_or(true)
        );
        assert!(
            !h.verify("not anyone's password", None)
                .await
                .unwrap_or(true)
        );
        assert!(
            !h.verify("x", Some("not a phc string"))
                .await
                .unwrap_or(true)
        );
    }

    #[test]
    fn new_passwords_follow_the_rules() {
        assert!(check_new("password", "short", "a@b.c").is_err());
        assert!(check_new("password", &"x".repeat(MAX_LEN + 1), "a@b.c").is_err());
        assert!(check_new("password", "with\u{0}nul-char", "a@b.c").is_err());
        assert!(check_new("password", "Anne@Example.org", "anne@example.org").is_err());
        assert!(check_new("password", "a long enough one", "a@b.c").is_ok());
    }
}
