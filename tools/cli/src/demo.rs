//! The demo tenant: a home-services company that also supplies care
//! residences (seeded by [`crate::seed`]); its ids, which the commands
//! default to, and looking up the ones `relais dev` seeded.

use anyhow::Context;
use uuid::Uuid;

use crate::client::{authed, connect};

/// The demo tenant's id.
pub const TENANT: Uuid = Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0001);

/// The staff member of the demo residence (`relais token --role staff --sub demo-staff`).
pub const STAFF: &str = "demo-staff";
/// The demo tenant's connection, to the reference ERP `make run` starts.
pub const DEMO_CONNECTION: &str = "demo-erp";
/// The variable holding its credentials.
/// The variable of `relais dev`'s environment with the demo ERP's keys
/// (default: the reference ERP's demo keys); the demo connection stores
/// them, sealed.
pub const DEMO_SECRET_REF: &str = "RELAIS_ERP_DEMO";

/// The demo ids as shell variables (`eval "$(relais demo-ids)"`): looked up
/// by the demo's names, so they hold whatever day `relais dev` seeded them.
pub async fn print_ids(orders: &str, token: &str) -> anyhow::Result<()> {
    use relais_proto::orders::{
        ListCustomersRequest, ListResidencesRequest, orders_service_client::OrdersServiceClient,
    };
    let mut client = OrdersServiceClient::new(connect(orders).await?);
    let residence = client
        .list_residences(authed(token, ListResidencesRequest {})?)
        .await
        .context("demo residence")?
        .into_inner()
        .residences
        .into_iter()
        .find(|r| r.name == "Résidence Les Tilleuls")
        .context("no demo residence: is `make run` (relais dev) up, with its demo data?")?
        .id;
    async fn customer(
        client: &mut OrdersServiceClient<tonic::transport::Channel>,
        token: &str,
        query: &str,
        residence_id: &str,
    ) -> anyhow::Result<String> {
        let req = ListCustomersRequest {
            page: Some(relais_proto::types::PageRequest {
                page_size: 10,
                page_token: String::new(),
            }),
            residence_id: residence_id.to_owned(),
            query: query.to_owned(),
        };
        client
            .list_customers(authed(token, req)?)
            .await
            .with_context(|| format!("demo customer {query}"))?
            .into_inner()
            .customers
            .into_iter()
            .next()
            .map(|c| c.id)
            .with_context(|| format!("no demo customer {query}"))
    }
    let resident = customer(&mut client, token, "Martin", &residence).await?;
    let paul = customer(&mut client, token, "paul.durand@example.org", "").await?;
    println!("RESIDENCE={residence}\nRESIDENT={resident}\nPAUL={paul}");
    Ok(())
}
