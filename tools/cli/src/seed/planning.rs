//! The demo agency's workers.

use anyhow::Context;

use crate::client::{authed, connect};

/// Two workers of the demo agency (idempotent): Awa does every household
/// service, Marc cleaning and windows; both Monday to Friday, 8:00-18:00.
pub async fn seed_planning(planning: &str, catalogue: &str, token: &str) -> anyhow::Result<()> {
    use relais_proto::{
        catalogue::{ListServicesRequest, catalogue_service_client::CatalogueServiceClient},
        planning::{
            CreateWorkerRequest, WeeklySlot, WorkerFields,
            planning_service_client::PlanningServiceClient,
        },
        types::PageRequest,
    };
    let services = CatalogueServiceClient::new(connect(catalogue).await?)
        .list_services(authed(
            token,
            ListServicesRequest {
                page: Some(PageRequest {
                    page_size: 500,
                    page_token: String::new(),
                }),
                ..Default::default()
            },
        )?)
        .await
        .context("demo services")?
        .into_inner()
        .services;
    let ids = |codes: &[&str]| -> Vec<String> {
        services
            .iter()
            .filter(|s| codes.contains(&s.code.as_str()))
            .map(|s| s.id.clone())
            .collect()
    };
    let week: Vec<WeeklySlot> = (1..=5)
        .map(|d| WeeklySlot {
            weekday: d,
            start_time: "08:00".into(),
            end_time: "18:00".into(),
        })
        .collect();
    let mut client = PlanningServiceClient::new(connect(planning).await?);
    for (key, first, last, codes) in [
        (
            "demo-worker-1",
            "Awa",
            "Diallo",
            &["MENAGE", "REPASSAGE", "VITRES"][..],
        ),
        ("demo-worker-2", "Marc", "Petit", &["MENAGE", "VITRES"][..]),
    ] {
        client
            .create_worker(authed(
                token,
                CreateWorkerRequest {
                    idempotency_key: key.into(),
                    fields: Some(WorkerFields {
                        first_name: first.into(),
                        last_name: last.into(),
                        email: format!("{}.{}@agence-demo.example", first, last).to_lowercase(),
                        phone: "06 00 00 00 00".into(),
                        photo_url: String::new(),
                        provider: "Agence démo".into(),
                        skill_service_ids: ids(codes),
                        availability: week.clone(),
                        time_zone: String::new(),
                        active: true,
                        external_ref: String::new(),
                        // Planning sets it for the shop's workers.
                        availability_source: 0,
                    }),
                },
            )?)
            .await
            .with_context(|| format!("demo worker {first}"))?;
    }
    Ok(())
}
