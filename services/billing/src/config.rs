//! The billing service's configuration: the platform's, then who issues
//! the documents, how payments are collected and how often months are
//! closed (every variable is in docs/configuration.md).

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use relais_platform::config::{PlatformConfig, var};

use crate::{
    DEFAULT_ADMIN_PORT, DEFAULT_GRPC_PORT,
    payments::{
        PaymentsConfig,
        provider::{PaymentProvider, StripeProvider},
        simulator::Simulator,
    },
    pdfs::Seller,
};

#[derive(Clone)]
pub struct BillingConfig {
    pub platform: PlatformConfig,
    pub seller: Seller,
    pub payments: PaymentsConfig,
    /// `RELAIS_BILLING_CLOSE_MONTHS_SECS` (default 3600): how often months
    /// that are over are drafted (residents' monthly billing, services done).
    pub close_months_every: Duration,
}

impl BillingConfig {
    /// Dev and test defaults around `platform`: the simulated provider,
    /// quick retries.
    pub fn simulated(platform: PlatformConfig, provider: Arc<dyn PaymentProvider>) -> Self {
        Self {
            platform,
            seller: Seller {
                name: "Relais Services à domicile".into(),
                address: "1 place Bellecour\n69002 Lyon".into(),
                legal: "SAS au capital de 10 000 € · SIRET 000 000 000 00000 · TVA FR00000000000"
                    .into(),
            },
            payments: PaymentsConfig {
                provider,
                max_attempts: 3,
                retry_base: Duration::from_millis(300),
                max_calls: 4,
                poll: Duration::from_millis(100),
            },
            close_months_every: Duration::from_millis(300),
        }
    }
}

/// Config from the environment with the billing service's default ports
/// (every variable is in docs/configuration.md).
pub fn config_from_env() -> anyhow::Result<BillingConfig> {
    let platform = PlatformConfig::from_env(DEFAULT_GRPC_PORT, DEFAULT_ADMIN_PORT)?;
    let provider: Arc<dyn PaymentProvider> =
        match var("RELAIS_PAYMENT_PROVIDER", "simulator".to_owned())?.as_str() {
            "simulator" => Arc::new(Simulator::new()),
            "stripe" => {
                let key = var("RELAIS_STRIPE_SECRET_KEY", String::new())?;
                anyhow::ensure!(
                    !key.is_empty(),
                    "RELAIS_PAYMENT_PROVIDER=stripe needs RELAIS_STRIPE_SECRET_KEY"
                );
                Arc::new(
                    StripeProvider::new(
                        &var("RELAIS_STRIPE_URL", "https://api.stripe.com".to_owned())?,
                        &key,
                    )
                    .context("payment provider")?,
                )
            }
            other => {
                anyhow::bail!("RELAIS_PAYMENT_PROVIDER={other:?}: use \"simulator\" or \"stripe\"")
            }
        };
    let defaults = BillingConfig::simulated(platform, provider);
    Ok(BillingConfig {
        seller: Seller {
            name: var("RELAIS_SELLER_NAME", defaults.seller.name.clone())?,
            address: var("RELAIS_SELLER_ADDRESS", defaults.seller.address.clone())?
                .replace("\\n", "\n"),
            legal: var("RELAIS_SELLER_LEGAL", defaults.seller.legal.clone())?,
        },
        payments: PaymentsConfig {
            max_attempts: var("RELAIS_PAYMENT_MAX_ATTEMPTS", 4)?,
            retry_base: Duration::from_secs(var("RELAIS_PAYMENT_RETRY_SECS", 86_400)?),
            max_calls: var("RELAIS_PAYMENT_MAX_CALLS", 8)?,
            poll: Duration::from_millis(var("RELAIS_PAYMENT_POLL_MS", 500)?),
            provider: defaults.payments.provider.clone(),
        },
        close_months_every: Duration::from_secs(var("RELAIS_BILLING_CLOSE_MONTHS_SECS", 3600)?),
        platform: defaults.platform,
    })
}
