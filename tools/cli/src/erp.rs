//! `relais erp`: acting in the reference ERP as its users would (adding
//! an employee, listing records).

use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;
use relais_connector::{
    adapter::{ErpAdapter, ErpRecord},
    reference_erp::ReferenceErpClient,
};
use serde_json::{Map, Value, json};
use uuid::Uuid;

#[derive(Subcommand)]
pub enum ErpOp {
    /// Add an employee in the ERP, as its staff would (then `relais
    /// connector sync workers` brings it to the shop).
    AddEmployee {
        #[arg(long)]
        first_name: String,
        #[arg(long)]
        last_name: String,
        #[arg(long, default_value = "")]
        email: String,
        #[arg(long, default_value = "")]
        phone: String,
        #[arg(long, default_value = "")]
        photo_url: String,
        /// ERP tariffs, by id or code (`relais erp list tariff`), e.g.
        /// MENAGE; repeatable.
        #[arg(long)]
        tariff: Vec<String>,
    },
    /// Records of an object: customer, employee, tariff, service, quote,
    /// invoice, taxcertificate.
    List { object: String },
}

pub async fn erp(op: ErpOp, client: &ReferenceErpClient) -> anyhow::Result<()> {
    match op {
        ErpOp::AddEmployee {
            first_name,
            last_name,
            email,
            phone,
            photo_url,
            tariff,
        } => {
            let tariff = tariff_ids(client, &tariff).await?;
            let rec = client
                .upsert(
                    "employee",
                    None,
                    &format!("cli-{}", Uuid::now_v7()),
                    &fields(json!({
                        "first_name": first_name, "last_name": last_name, "email": email,
                        "phone": phone, "photo_url": photo_url, "tariffs": tariff, "active": true,
                    })),
                )
                .await?;
            println!("employee {} added in the ERP", rec.id);
            Ok(())
        }
        ErpOp::List { object } => {
            crate::args::print_all(all_records(client, &object).await?.iter().map(show_record));
            Ok(())
        }
    }
}

fn show_record(r: &ErpRecord) -> String {
    format!(
        "{}  v{}  {}",
        r.id,
        r.version,
        Value::Object(r.fields.clone())
    )
}

async fn all_records(client: &ReferenceErpClient, object: &str) -> anyhow::Result<Vec<ErpRecord>> {
    let mut page = 1;
    let mut all = Vec::new();
    loop {
        let changes = client.changed_since(object, None, page, 200).await?;
        all.extend(changes.records);
        match changes.next {
            Some(n) => page = n,
            None => return Ok(all),
        }
    }
}

/// ERP tariff ids, each given by its id or its code.
async fn tariff_ids(client: &ReferenceErpClient, given: &[String]) -> anyhow::Result<Vec<String>> {
    if given.is_empty() {
        return Ok(Vec::new());
    }
    let tariffs = all_records(client, "tariff").await?;
    given
        .iter()
        .map(|t| {
            tariffs
                .iter()
                .find(|r| &r.id == t || r.fields.get("code").and_then(Value::as_str) == Some(t))
                .map(|r| r.id.clone())
                .with_context(|| format!("--tariff {t}: no ERP tariff with this id or code (see `relais erp list tariff`)"))
        })
        .collect()
}

pub fn fields(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

pub fn erp_client(
    url: &str,
    keys: &str,
) -> anyhow::Result<relais_connector::reference_erp::ReferenceErpClient> {
    let (public, private) = keys
        .split_once(':')
        .context("the reference ERP's keys are public:private")?;
    relais_connector::reference_erp::ReferenceErpClient::new(
        url,
        public,
        private,
        Duration::from_secs(10),
    )
}
