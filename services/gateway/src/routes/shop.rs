//! The shop's window: services, products and hour packs (catalogue), the
//! free slots of a service and the workers free for one (planning). A
//! visitor browses without an account, naming the shop's company
//! (`?tenant=`: extract::Shopper); a signed-in customer with their token.

use axum::{Json, extract::State};
use chrono::{DateTime, Utc};
use relais_proto::{catalogue as cat, planning as plan};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::ReadProblems;
use crate::{
    Api,
    extract::{Id, Query, ShopTenant, Shopper},
    model::{
        catalogue::{HourPack, HourPackList, Product, ProductPage, Service, ServicePage},
        planning::{Slot, SlotList, Worker, WorkerList},
        timestamp,
    },
    paging::{PageQuery, next_cursor},
    peers::answer,
    problem::Problem,
    slots,
};

pub fn routes() -> OpenApiRouter<Api> {
    OpenApiRouter::new()
        .routes(routes!(list_services))
        .routes(routes!(get_service))
        .routes(routes!(list_products))
        .routes(routes!(get_product))
        .routes(routes!(list_hour_packs))
        .routes(routes!(free_slots))
        .routes(routes!(free_workers))
}

/// Narrows a catalogue listing.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CatalogueFilter {
    /// Only this category's.
    category_id: Option<uuid::Uuid>,
    /// Case-insensitive match on code or name (SKU or designation).
    query: Option<String>,
}

/// The services on sale.
#[utoipa::path(get, path = "/v1/shop/services", tag = "shop",
    params(PageQuery, CatalogueFilter, ShopTenant), security((), ("bearer" = [])),
    responses((status = 200, body = ServicePage, description = "A page of services."), ReadProblems))]
async fn list_services(
    State(api): State<Api>,
    Shopper(who): Shopper,
    Query(page): Query<PageQuery>,
    Query(f): Query<CatalogueFilter>,
) -> Result<Json<ServicePage>, Problem> {
    let req = api.peers.request(
        &who,
        cat::ListServicesRequest {
            page: page.page()?,
            include_inactive: false,
            category_id: f.category_id.map(|c| c.to_string()).unwrap_or_default(),
            query: f.query.unwrap_or_default(),
        },
    )?;
    let r = answer(
        "catalogue",
        api.peers.catalogue.clone().list_services(req).await,
    )?;
    Ok(Json(ServicePage {
        items: r.services.into_iter().map(Service::from).collect(),
        next_cursor: next_cursor(r.next_page_token),
    }))
}

/// One service.
#[utoipa::path(get, path = "/v1/shop/services/{id}", tag = "shop",
    params(("id" = uuid::Uuid, Path, description = "The service's id."), ShopTenant),
    security((), ("bearer" = [])),
    responses((status = 200, body = Service, description = "The service."), ReadProblems))]
async fn get_service(
    State(api): State<Api>,
    Shopper(who): Shopper,
    Id(id): Id,
) -> Result<Json<Service>, Problem> {
    let req = api
        .peers
        .request(&who, cat::GetServiceRequest { id: id.to_string() })?;
    let r = answer(
        "catalogue",
        api.peers.catalogue.clone().get_service(req).await,
    )?;
    r.service
        .map(|s| Json(s.into()))
        .ok_or_else(|| Problem::not_found(format!("service {id} not found")))
}

/// The products on sale.
#[utoipa::path(get, path = "/v1/shop/products", tag = "shop",
    params(PageQuery, CatalogueFilter, ShopTenant), security((), ("bearer" = [])),
    responses((status = 200, body = ProductPage, description = "A page of products."), ReadProblems))]
async fn list_products(
    State(api): State<Api>,
    Shopper(who): Shopper,
    Query(page): Query<PageQuery>,
    Query(f): Query<CatalogueFilter>,
) -> Result<Json<ProductPage>, Problem> {
    let req = api.peers.request(
        &who,
        cat::ListProductsRequest {
            page: page.page()?,
            include_inactive: false,
            category_id: f.category_id.map(|c| c.to_string()).unwrap_or_default(),
            query: f.query.unwrap_or_default(),
        },
    )?;
    let r = answer(
        "catalogue",
        api.peers.catalogue.clone().list_products(req).await,
    )?;
    Ok(Json(ProductPage {
        items: r.products.into_iter().map(Product::from).collect(),
        next_cursor: next_cursor(r.next_page_token),
    }))
}

/// One product.
#[utoipa::path(get, path = "/v1/shop/products/{id}", tag = "shop",
    params(("id" = uuid::Uuid, Path, description = "The product's id."), ShopTenant),
    security((), ("bearer" = [])),
    responses((status = 200, body = Product, description = "The product."), ReadProblems))]
async fn get_product(
    State(api): State<Api>,
    Shopper(who): Shopper,
    Id(id): Id,
) -> Result<Json<Product>, Problem> {
    let req = api
        .peers
        .request(&who, cat::GetProductRequest { id: id.to_string() })?;
    let r = answer(
        "catalogue",
        api.peers.catalogue.clone().get_product(req).await,
    )?;
    r.product
        .map(|p| Json(p.into()))
        .ok_or_else(|| Problem::not_found(format!("product {id} not found")))
}

/// The hour packs on sale.
#[utoipa::path(get, path = "/v1/shop/hour-packs", tag = "shop",
    params(ShopTenant), security((), ("bearer" = [])),
    responses((status = 200, body = HourPackList, description = "The hour packs."), ReadProblems))]
async fn list_hour_packs(
    State(api): State<Api>,
    Shopper(who): Shopper,
) -> Result<Json<HourPackList>, Problem> {
    let req = api.peers.request(
        &who,
        cat::ListHourPacksRequest {
            include_inactive: false,
        },
    )?;
    let r = answer(
        "catalogue",
        api.peers.catalogue.clone().list_hour_packs(req).await,
    )?;
    Ok(Json(HourPackList {
        items: r.hour_packs.into_iter().map(HourPack::from).collect(),
    }))
}

/// Which slots to look at.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SlotQuery {
    /// The days, YYYY-MM-DD, comma-separated (1 to 14).
    #[param(example = "2026-12-14,2026-12-15")]
    days: String,
    /// The length of the booking, 30 to 720 minutes (default 120).
    #[param(minimum = 30, maximum = 720)]
    duration_minutes: Option<u32>,
    /// Only this worker's free slots; absent: any qualified worker's.
    worker_id: Option<uuid::Uuid>,
    /// IANA zone of the days and start times (default Europe/Paris).
    time_zone: Option<String>,
    /// Minutes between two candidate starts, 15 to 240 (default 30).
    #[param(minimum = 15, maximum = 240)]
    step_minutes: Option<u32>,
}

/// The free slots of a service on the given days.
///
/// The starts on a step through each day for which a qualified worker (the chosen one, if
/// named) is free for the whole booking, in their weekly hours, not away,
/// not booked. A slot's `date` and `start_time` are what a booking's
/// schedule names.
#[utoipa::path(get, path = "/v1/shop/services/{id}/slots", tag = "shop",
    params(("id" = uuid::Uuid, Path, description = "The service's id."), SlotQuery, ShopTenant),
    security((), ("bearer" = [])),
    responses((status = 200, body = SlotList, description = "The free slots."), ReadProblems))]
async fn free_slots(
    State(api): State<Api>,
    Shopper(who): Shopper,
    Id(service): Id,
    Query(q): Query<SlotQuery>,
) -> Result<Json<SlotList>, Problem> {
    let minutes = q.duration_minutes.unwrap_or(120);
    if !(30..=720).contains(&minutes) {
        return Err(Problem::field("duration_minutes", "30 to 720 minutes"));
    }
    let step = q.step_minutes.unwrap_or(30);
    if !(15..=240).contains(&step) {
        return Err(Problem::field("step_minutes", "15 to 240 minutes"));
    }
    let zone = slots::parse_zone(q.time_zone.as_deref().unwrap_or_default())?;
    let days = slots::parse_days(&q.days)?;
    let candidates = slots::candidates(&days, zone, minutes, step, Utc::now())?;
    let mut free = Vec::new();
    if !candidates.is_empty() {
        let req = api.peers.request(
            &who,
            plan::CheckSlotsRequest {
                service_id: service.to_string(),
                worker_id: q.worker_id.map(|w| w.to_string()).unwrap_or_default(),
                slots: candidates
                    .iter()
                    .map(|c| plan::TimeSlot {
                        start: Some(timestamp(c.start)),
                        end: Some(timestamp(c.end)),
                    })
                    .collect(),
            },
        )?;
        // The slots asked for are the client's days: a refusal of one (a
        // date planning will not plan) is about `days`.
        let r = answer(
            "planning",
            api.peers.planning.clone().check_slots(req).await,
        )
        .map_err(|mut p| {
            for e in &mut p.errors {
                if e.field.starts_with("slots") {
                    e.field = "days".into();
                }
            }
            p
        })?;
        // One answer per slot asked, in order.
        for (c, check) in candidates.iter().zip(r.slots) {
            if !check.free_worker_ids.is_empty() {
                free.push(Slot {
                    date: c.date.format("%Y-%m-%d").to_string(),
                    start_time: c.start_time.format("%H:%M").to_string(),
                    start: c.start,
                    end: c.end,
                    free_worker_ids: check.free_worker_ids,
                });
            }
        }
    }
    Ok(Json(SlotList {
        service_id: service.to_string(),
        time_zone: zone.name().to_owned(),
        duration_minutes: i32::try_from(minutes).unwrap_or(120),
        slots: free,
    }))
}

/// One slot.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SlotTimes {
    /// RFC 3339.
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

/// The workers free for a slot, to choose one.
///
/// The active workers with the skill free for the whole slot: their name,
/// photo and skills, never their e-mail or phone.
#[utoipa::path(get, path = "/v1/shop/services/{id}/workers", tag = "shop",
    params(("id" = uuid::Uuid, Path, description = "The service's id."), SlotTimes, ShopTenant),
    security((), ("bearer" = [])),
    responses((status = 200, body = WorkerList, description = "The free workers."), ReadProblems))]
async fn free_workers(
    State(api): State<Api>,
    Shopper(who): Shopper,
    Id(service): Id,
    Query(slot): Query<SlotTimes>,
) -> Result<Json<WorkerList>, Problem> {
    let req = api.peers.request(
        &who,
        plan::FindAvailableWorkersRequest {
            service_id: service.to_string(),
            start: Some(timestamp(slot.start)),
            end: Some(timestamp(slot.end)),
        },
    )?;
    let r = answer(
        "planning",
        api.peers.planning.clone().find_available_workers(req).await,
    )?;
    Ok(Json(WorkerList {
        items: r.workers.into_iter().map(Worker::from).collect(),
    }))
}
