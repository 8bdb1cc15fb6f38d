//! The demo tenant's connection to the reference ERP.

use anyhow::Context;
use relais_connector::{adapter::ErpAdapter, reference_erp::ReferenceErpClient};
use relais_proto::connector::{
    AdapterKind, ConflictPolicy, ConnectionFields, CreateConnectionRequest, Direction,
    FamilySettings, OrderStatusRule, RunSyncRequest, SendAs, SetTariffMappingRequest,
    UpdateConnectionRequest, connector_service_client::ConnectorServiceClient,
};
use serde_json::json;

use crate::client::{authed, connect};
use crate::{
    connector::{
        connection::connection_id,
        service_ids::services,
        show::{refused, show_run},
    },
    demo::DEMO_CONNECTION,
    erp::fields,
};

/// The demo tenant's connection to the reference ERP (idempotent): online
/// customers, bookings, paid product orders and shop workers pushed; ERP
/// workers and the ERP's catalogue pulled hourly (and on `relais connector
/// sync workers|catalogue`); the demo services mapped to ERP tariffs; then
/// every existing customer and worker transferred once.
pub async fn seed(
    connector: &str,
    catalogue: &str,
    erp: &ReferenceErpClient,
    erp_base: &str,
    erp_keys: &str,
    token: &str,
) -> anyhow::Result<()> {
    let mut client = ConnectorServiceClient::new(connect(connector).await?);
    let family = |f: &str, d: Direction, schedule: &str| FamilySettings {
        family: f.into(),
        direction: d as i32,
        schedule: schedule.into(),
    };
    let demo = ConnectionFields {
        name: DEMO_CONNECTION.into(),
        adapter: AdapterKind::ReferenceErp as i32,
        endpoint: erp_base.into(),
        secret: erp_keys.into(),
        secret_ref: String::new(),
        families: vec![
            family("customers", Direction::Push, ""),
            family("workers", Direction::Both, "0 * * * *"),
            family("bookings", Direction::Push, ""),
            family("orders", Direction::Push, ""),
            family("catalogue", Direction::Pull, "0 * * * *"),
        ],
        // Product orders go to the ERP once paid, as orders (their
        // cancellation follows them).
        order_statuses: vec![OrderStatusRule {
            status: "paid".into(),
            send_as: SendAs::Order as i32,
        }],
        conflict_policy: ConflictPolicy::ErpWins as i32,
        enabled: true,
    };
    let created = client
        .create_connection(authed(
            token,
            CreateConnectionRequest {
                idempotency_key: String::new(),
                fields: Some(demo.clone()),
            },
        )?)
        .await;
    let id = match created {
        Ok(r) => r.into_inner().connection.context("no connection")?.id,
        // Made by an earlier `make run` (perhaps of an older version, or
        // against another ERP address): brought to these settings.
        Err(s) if s.code() == tonic::Code::AlreadyExists => {
            let id = connection_id(&mut client, token, DEMO_CONNECTION).await?;
            client
                .update_connection(authed(
                    token,
                    UpdateConnectionRequest {
                        id: id.clone(),
                        expected_version: 0,
                        fields: Some(demo),
                    },
                )?)
                .await
                .map_err(refused)?;
            id
        }
        Err(s) => return Err(refused(s)),
    };
    for (code, id_service) in services(catalogue, token).await? {
        let tariff = erp
            .upsert(
                "tariff",
                None,
                &format!("demo-tariff-{code}"),
                &fields(json!({ "code": code, "label": code })),
            )
            .await
            .with_context(|| format!("demo tariff {code}"))?;
        client
            .set_tariff_mapping(authed(
                token,
                SetTariffMappingRequest {
                    connection_id: id.clone(),
                    service_id: id_service,
                    tariff_id: tariff.id,
                },
            )?)
            .await
            .map_err(refused)?;
    }
    // The ERP's own sales catalogue, for `relais connector sync catalogue`.
    let demo_catalogue = [
        (
            "family",
            "demo-family-erp",
            json!({ "code": "ERP-HYGIENE", "parent_code": "", "name": "Hygiène (ERP)", "active": true }),
        ),
        (
            "article",
            "demo-article-1",
            json!({
                "sku": "ERP-SAVON-500", "designation": "Savon liquide 500 ml",
                "family_code": "ERP-HYGIENE", "price_cents": 450, "vat_rate_bp": 2000,
                "sales_unit": "flacon", "weight_grams": 540, "active": true,
                "stock_real": 120, "stock_available": 110,
                "prices": [{ "price_group": "RESIDENCE", "price_cents": 390 }],
            }),
        ),
        (
            "article",
            "demo-article-2",
            json!({
                "sku": "ERP-LINGETTES", "designation": "Lingettes (paquet de 80)",
                "family_code": "ERP-HYGIENE", "price_cents": 320, "vat_rate_bp": 2000,
                "sales_unit": "paquet", "weight_grams": 400, "active": true,
                "stock_real": 60, "stock_available": 60,
            }),
        ),
    ];
    for (object, reference, record) in demo_catalogue {
        erp.upsert(object, None, reference, &fields(record))
            .await
            .with_context(|| format!("demo ERP {object} {reference}"))?;
    }
    for f in ["customers", "workers"] {
        let mut stream = client
            .run_sync(authed(
                token,
                RunSyncRequest {
                    connection_id: id.clone(),
                    family: f.into(),
                    full: true,
                },
            )?)
            .await
            .map_err(refused)?
            .into_inner();
        while let Some(m) = stream.message().await.map_err(refused)? {
            if let (true, Some(r)) = (m.finished, m.run) {
                println!("demo ERP sync: {}", show_run(&r));
            }
        }
    }
    Ok(())
}
