//! A connection: built from `relais connector create`'s flags, found by
//! its name.

use anyhow::Context;
use relais_proto::connector::{
    AdapterKind, ConflictPolicy, ConnectionFields, Direction, FamilySettings,
    ListConnectionsRequest, OrderStatusRule, SendAs,
    connector_service_client::ConnectorServiceClient,
};
use tonic::transport::Channel;

use super::show::refused;
use crate::client::authed;

/// The connection `relais connector create` asks for; a malformed flag is
/// an error here, what the connector refuses comes back with its field.
pub(crate) fn connection_fields(
    name: String,
    adapter: &str,
    endpoint: String,
    (secret, secret_ref): (String, String),
    families: &[String],
    sends: &[String],
    conflicts: &str,
) -> anyhow::Result<ConnectionFields> {
    let adapter = match adapter {
        "tryton" => AdapterKind::Tryton,
        "csv" => AdapterKind::Csv,
        _ => AdapterKind::ReferenceErp,
    };
    let families = families
        .iter()
        .map(|f| {
            let (family, rest) = f
                .split_once('=')
                .with_context(|| format!("--family {f}: family=pull|push|both[@cron]"))?;
            let (direction, schedule) = rest.split_once('@').unwrap_or((rest, ""));
            let direction = match direction {
                "pull" => Direction::Pull,
                "push" => Direction::Push,
                "both" => Direction::Both,
                "off" => Direction::Off,
                other => anyhow::bail!("--family {f}: {other:?} is not pull, push, both or off"),
            };
            Ok(FamilySettings {
                family: family.into(),
                direction: direction as i32,
                schedule: schedule.into(),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let order_statuses = sends
        .iter()
        .map(|r| {
            let (status, send_as) = r
                .split_once('=')
                .with_context(|| format!("--send {r}: status=quote|order|not-sent"))?;
            let send_as = match send_as {
                "quote" => SendAs::Quote,
                "order" => SendAs::Order,
                "not-sent" => SendAs::NotSent,
                other => anyhow::bail!("--send {r}: {other:?} is not quote, order or not-sent"),
            };
            Ok(OrderStatusRule {
                status: status.into(),
                send_as: send_as as i32,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let conflict_policy = match conflicts {
        "shop-wins" => ConflictPolicy::ShopWins,
        "manual" => ConflictPolicy::Manual,
        _ => ConflictPolicy::ErpWins,
    };
    Ok(ConnectionFields {
        name,
        adapter: adapter as i32,
        endpoint,
        secret_ref,
        secret,
        families,
        order_statuses,
        conflict_policy: conflict_policy as i32,
        enabled: true,
    })
}

pub(crate) async fn connection_id(
    client: &mut ConnectorServiceClient<Channel>,
    token: &str,
    name: &str,
) -> anyhow::Result<String> {
    client
        .list_connections(authed(token, ListConnectionsRequest {})?)
        .await
        .map_err(refused)?
        .into_inner()
        .connections
        .into_iter()
        .find(|c| c.fields.as_ref().is_some_and(|f| f.name == name))
        .map(|c| c.id)
        .with_context(|| format!("no connection named {name:?}"))
}
