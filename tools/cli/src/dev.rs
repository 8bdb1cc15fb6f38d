//! `relais dev`: every service in this process, on the addresses the
//! commands reach them by, with the demo tenant seeded.

use anyhow::Context;
use relais_platform::{config::PlatformConfig, shutdown, telemetry};

use crate::{auth::admin_token, demo, erp::erp_client, seed};

/// Where `relais dev` serves a service: at the address the commands reach
/// it by (`CATALOGUE_ADDR`, `ORDERS_ADDR`...) when that is set, its admin
/// port then picked by the system (printed at start); the service's own
/// defaults otherwise. So one set of variables moves a whole demo.
fn dev_bind(var: &str) -> anyhow::Result<Option<std::net::SocketAddr>> {
    let Some(url) = std::env::var(var).ok().filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    host_port(&url)
        .with_context(|| format!("{var}={url}: expected http://HOST:PORT"))
        .map(Some)
}

fn bind(cfg: &mut PlatformConfig, addr: Option<std::net::SocketAddr>) {
    if let Some(addr) = addr {
        cfg.grpc_addr = addr;
        cfg.admin_addr = std::net::SocketAddr::new(addr.ip(), 0);
    }
}

fn host_port(url: &str) -> Option<std::net::SocketAddr> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host_port = rest.split('/').next()?;
    std::net::ToSocketAddrs::to_socket_addrs(host_port)
        .ok()?
        .next()
}

pub async fn dev(seed: bool) -> anyhow::Result<()> {
    let _telemetry = telemetry::init("relais-dev")?;
    let shutdown = shutdown::on_signal();
    let catalogue_bind = dev_bind("CATALOGUE_ADDR")?;
    let planning_bind = dev_bind("PLANNING_ADDR")?;
    let orders_bind = dev_bind("ORDERS_ADDR")?;
    let billing_bind = dev_bind("BILLING_ADDR")?;
    let connector_bind = dev_bind("CONNECTOR_ADDR")?;
    // The gateway reads HTTP_ADDR itself; when it is moved, its admin port
    // moves off the default too, as the services' do.
    let gateway_moved = std::env::var_os("HTTP_ADDR").is_some_and(|a| !a.is_empty());
    // The demo tenant's ERP: the reference ERP, with the demo keys, where
    // the commands reach it unless told where to listen.
    let erp_bind = if std::env::var_os("REFERENCE_ERP_ADDR").is_none() {
        std::env::var("REFERENCE_ERP_URL")
            .ok()
            .and_then(|u| host_port(&u))
    } else {
        None
    };
    // CSV exchange folders of the demo: .local/exchange/<tenant>/...
    let exchange_root = std::env::var_os("RELAIS_CONNECTOR_EXCHANGE_ROOT")
        .is_none()
        .then(|| std::env::current_dir().map(|d| d.join(".local").join("exchange")))
        .transpose()?;
    // The demo connection's credentials are the reference ERP's demo keys
    // unless RELAIS_ERP_DEMO says otherwise.
    let demo_keys = match std::env::var(demo::DEMO_SECRET_REF) {
        Ok(keys) if !keys.is_empty() => keys,
        _ => relais_platform::config::var(
            "REFERENCE_ERP_KEYS",
            "demo-public:demo-private".to_owned(),
        )?
        .split(',')
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned(),
    };
    let stack = relais_testkit::Stack::builder()
        .source(relais_testkit::Source::Env)
        .shutdown(shutdown.clone())
        .all()
        // The public API on HTTP_ADDR (127.0.0.1:8080 unless set).
        .with_gateway(move |c| {
            if gateway_moved {
                c.platform.admin_addr = std::net::SocketAddr::new(c.http_addr.ip(), 0);
            }
        })
        .with_catalogue(move |c| bind(c, catalogue_bind))
        .with_planning(move |c| bind(&mut c.platform, planning_bind))
        .with_orders(move |c| bind(&mut c.platform, orders_bind))
        .with_billing(move |c| bind(&mut c.platform, billing_bind))
        .with_erp(move |c| {
            if let Some(addr) = erp_bind {
                c.addr = addr;
            }
        })
        .with_connector(move |c| {
            bind(&mut c.platform, connector_bind);
            if let Some(root) = exchange_root {
                c.exchange_root = root;
            }
        })
        .spawn()
        .await?;
    let at = |p: &relais_testkit::Part| (p.grpc_addr, p.admin_addr);
    let (catalogue_grpc, catalogue_admin) = at(stack.catalogue_part());
    let (orders_grpc, orders_admin) = at(stack.orders_part());
    let (planning_grpc, planning_admin) = at(stack.planning_part());
    let (billing_grpc, billing_admin) = at(stack.billing_part());
    let (connector_grpc, connector_admin) = at(stack.connector_part());
    let gateway_url = stack.gateway_url();
    let gateway_admin = stack.gateway_admin_addr();
    let erp_base = stack.erp_base();
    let erp_addr = erp_base.trim_start_matches("http://").to_owned();
    let endpoint = format!("http://{catalogue_grpc}");
    let mut demo_ids = None;
    if seed {
        let token = admin_token(demo::TENANT)?;
        seed::seed(&endpoint, &token).await?;
        demo_ids = Some(seed::seed_orders(&format!("http://{orders_grpc}"), &token).await?);
        seed::seed_planning(&format!("http://{planning_grpc}"), &endpoint, &token).await?;
        if let Some(d) = &demo_ids {
            seed::seed_billing(&format!("http://{billing_grpc}"), &d.customer).await?;
            seed::accounts::seed_accounts(
                stack.gateway_accounts(),
                &format!("http://{orders_grpc}"),
                &token,
                d,
            )
            .await
            .context("demo accounts")?;
        }
        seed::connector::seed(
            &format!("http://{connector_grpc}"),
            &endpoint,
            &erp_client(&erp_base, &demo_keys)?,
            &erp_base,
            &demo_keys,
            &token,
        )
        .await
        .context("demo ERP connection")?;
    }
    let ns = relais_platform::config::var("RELAIS_NAMESPACE", "relais".to_owned())?;
    let prometheus = prometheus_targets(&[
        ("catalogue", catalogue_admin),
        ("orders", orders_admin),
        ("planning", planning_admin),
        ("billing", billing_admin),
        ("connector", connector_admin),
        ("gateway", gateway_admin),
    ])?;
    if let Some(demo) = &demo_ids {
        println!(
            "\nDemo residence {residence}, resident Jeanne Martin {resident}, staff member `{staff}`;\
             \nonline customer Paul Durand {customer}.\
             \nPlace a product order for Jeanne as that staff member, book a cleaning for Paul\
             \n(then watch order.placed with `relais events`):\
             \n  cargo run -q -p relais-cli -- order --customer {resident} --line ENT-001=2 --line HYG-001=1 --email accueil@tilleuls.example\
             \n  cargo run -q -p relais-cli -- book --customer {customer} --service MENAGE --date next-monday --start 09:00 --minutes 120\
             \nPaul's saved card is the payment simulator's pm_card_visa; invoices are PDFs, and mails land in\
             \n{mail_dir}. Buy him a pack, pay it, validate its invoice:\
             \n  cargo run -q -p relais-cli -- buy-pack --customer {customer} --pack \"Pack 10 h entretien\"   (then order-status <id> confirmed)\
             \n  cargo run -q -p relais-cli -- billing invoices --customer {customer}   (then billing validate <id>, billing pdf <id>)\
             \n  cargo run -q -p relais-cli -- billing certificate --customer {customer} --year {last_year} --out certificate.pdf\
             \nThe demo ERP (the reference ERP) is connected: a confirmed booking reaches it as a read-only\
             \ncustomer, an accepted quote and its interventions; a worker added there reaches the shop on a sync:\
             \n  cargo run -q -p relais-cli -- erp list quote   (and customer, service, employee, tariff)\
             \n  cargo run -q -p relais-cli -- erp add-employee --first-name Léa --last-name Moreau --tariff <id from erp list tariff>\
             \n  cargo run -q -p relais-cli -- connector sync workers   (then planning workers; connector runs, bindings, dead-letters)",
            residence = demo.residence,
            resident = demo.resident,
            customer = demo.customer,
            staff = demo::STAFF,
            mail_dir = std::env::current_dir()
                .unwrap_or_default()
                .join(relais_platform::config::var(
                    "RELAIS_MAIL_DIR",
                    std::path::PathBuf::from(".local/mail"),
                )?)
                .display(),
            last_year = chrono::Datelike::year(&chrono::Utc::now()) - 1,
        );
    }
    println!(
        "\nRelais is up.\n\
         \n  catalogue  gRPC {catalogue_grpc}   admin http://{catalogue_admin} (/livez /readyz /metrics)\
         \n  orders     gRPC {orders_grpc}   admin http://{orders_admin}\
         \n  planning   gRPC {planning_grpc}   admin http://{planning_admin}\
         \n  billing    gRPC {billing_grpc}   admin http://{billing_admin}\
         \n  connector  gRPC {connector_grpc}   admin http://{connector_admin}\
         \n  gateway    HTTP {gateway_url}   admin http://{gateway_admin}\
         \n  reference ERP  http://{erp_addr}/api/v2/apiogust.php (key demo-public; /_faults only with REFERENCE_ERP_FAULTS=1)\
         \n\nAPI docs: {gateway_url}/docs{prometheus}{accounts}\
         \n\nDemo tenant {tenant}. Try:\
         \n  cargo run -q -p relais-cli -- catalogue products\
         \n  cargo run -q -p relais-cli -- catalogue categories\
         \n  (with grpcurl, which Debian does not package: go install github.com/fullstorydev/grpcurl/cmd/grpcurl@latest,\
         \n   then grpcurl -plaintext -H \"authorization: Bearer $(cargo run -q -p relais-cli -- token)\" {catalogue_grpc} list)\
         \n  cargo run -q -p relais-cli -- events --subject '{ns}.>'   (every event; or read the stream {stream})\
         \n\nCtrl-C stops everything.\n",
        tenant = demo::TENANT,
        stream = format!("{ns}_CATALOGUE").to_uppercase(),
        accounts = if demo_ids.is_some() {
            use seed::accounts::{OFFICE, PAUL, STAFF};
            format!(
                "\nDemo accounts (POST {gateway_url}/v1/auth/sign-in with tenant {tenant}, email, password):\
                 \n  customer Paul Durand   {}   {}\
                 \n  residence staff        {}   {}\
                 \n  office (admin)         {}   {}",
                PAUL.email,
                PAUL.password,
                STAFF.email,
                STAFF.password,
                OFFICE.email,
                OFFICE.password,
                tenant = demo::TENANT,
            )
        } else {
            String::new()
        },
    );
    stack.wait().await
}

/// Where `make run`'s Prometheus (scripts/prometheus.sh, which made
/// `.local/prometheus`) finds each service's admin port: a file_sd list,
/// one target per service labelled `service`, written aside then renamed so
/// that Prometheus never reads half of it. Every admin port of this one
/// process serves the whole process's metrics; Prometheus keeps, per
/// target, the series of its own service. Returns the line to print, empty
/// when that Prometheus is not set up.
fn prometheus_targets(parts: &[(&str, std::net::SocketAddr)]) -> anyhow::Result<String> {
    let dir = std::path::Path::new(".local/prometheus");
    if !dir.is_dir() {
        return Ok(String::new());
    }
    let targets: Vec<serde_json::Value> = parts
        .iter()
        .map(|(service, addr)| {
            serde_json::json!({ "targets": [addr.to_string()], "labels": { "service": service } })
        })
        .collect();
    let aside = dir.join("targets.json.new");
    std::fs::write(&aside, serde_json::to_vec_pretty(&targets)?)
        .with_context(|| format!("cannot write {}", aside.display()))?;
    std::fs::rename(&aside, dir.join("targets.json"))?;
    let port = relais_platform::config::var("RELAIS_PROMETHEUS_PORT", 9090u16)?;
    Ok(format!(
        "\nPrometheus: http://127.0.0.1:{port} (scraping every service above, with the alert rules of k8s/observability)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dev_address_is_the_one_the_commands_reach() {
        assert_eq!(
            host_port("http://127.0.0.1:41051"),
            Some(std::net::SocketAddr::from(([127, 0, 0, 1], 41051)))
        );
        assert_eq!(
            host_port("http://127.0.0.1:8800/api"),
            Some(std::net::SocketAddr::from(([127, 0, 0, 1], 8800)))
        );
    }
}
