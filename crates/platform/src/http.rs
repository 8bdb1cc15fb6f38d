//! HTTP clients for outside systems (payment provider, ERPs): rustls with
//! ring, the platform's one crypto provider, and the system's roots.

use std::time::Duration;

use anyhow::Context;

/// A client with `timeout` per request.
pub fn client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    builder(timeout)
        .build()
        .context("cannot build the HTTP client")
}

/// The settings of [`client`], for a caller that adds its own (the
/// connector's guarded resolver).
pub fn builder(timeout: Duration) -> reqwest::ClientBuilder {
    // reqwest is built without a crypto provider of its own: ring, set
    // once for the process (a second call finds it set, which is fine).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("relais/", env!("CARGO_PKG_VERSION")))
}
