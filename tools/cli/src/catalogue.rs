//! `relais catalogue`: a tenant's categories, services, products or hour
//! packs, one line each.

use relais_proto::catalogue::{
    ListCategoriesRequest, ListHourPacksRequest, ListProductsRequest, ListServicesRequest,
    catalogue_service_client::CatalogueServiceClient,
};
use uuid::Uuid;

use crate::{
    args,
    auth::admin_token,
    client::{authed, connect},
};

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Listing {
    Categories,
    Services,
    Products,
    Packs,
}

pub async fn list(what: Listing, query: &str, addr: &str, tenant: Uuid) -> anyhow::Result<()> {
    let mut client = CatalogueServiceClient::new(connect(addr).await?);
    let token = admin_token(tenant)?;
    let mut lines = Vec::new();
    match what {
        Listing::Categories => {
            for c in client
                .list_categories(authed(&token, ListCategoriesRequest::default())?)
                .await?
                .into_inner()
                .categories
            {
                lines.push(format!(
                    "{:<14} {:<36} parent={}",
                    c.code,
                    c.name,
                    if c.parent_id.is_empty() {
                        "-"
                    } else {
                        &c.parent_id
                    }
                ));
            }
        }
        Listing::Services => {
            let req = ListServicesRequest {
                query: query.into(),
                ..Default::default()
            };
            for s in client
                .list_services(authed(&token, req)?)
                .await?
                .into_inner()
                .services
            {
                let price = s.hourly_price.map(|m| m.amount_cents).unwrap_or_default();
                lines.push(format!(
                    "{:<12} {:<40} {:>8.2} €/h  VAT {:>5.2} %  tax credit: {}",
                    s.code,
                    s.name,
                    price as f64 / 100.0,
                    f64::from(s.vat_rate_bp) / 100.0,
                    s.tax_credit_eligible
                ));
            }
        }
        Listing::Products => {
            let req = ListProductsRequest {
                query: query.into(),
                ..Default::default()
            };
            for p in client
                .list_products(authed(&token, req)?)
                .await?
                .into_inner()
                .products
            {
                let price = p.price.map(|m| m.amount_cents).unwrap_or_default();
                lines.push(format!(
                    "{:<12} {:<44} {:>8.2} €  VAT {:>5.2} %  stock {:>3}/{:<3}  {}",
                    p.sku,
                    p.designation,
                    price as f64 / 100.0,
                    f64::from(p.vat_rate_bp) / 100.0,
                    p.stock_available,
                    p.stock_real,
                    p.id
                ));
            }
        }
        Listing::Packs => {
            for p in client
                .list_hour_packs(authed(&token, ListHourPacksRequest::default())?)
                .await?
                .into_inner()
                .hour_packs
            {
                let price = p.price.map(|m| m.amount_cents).unwrap_or_default();
                let services = if p.eligible_service_ids.is_empty() {
                    "all services".to_owned()
                } else {
                    format!("{} services", p.eligible_service_ids.len())
                };
                lines.push(format!(
                    "{:<32} {:>5.1} h  {:>8.2} €  {}",
                    p.name,
                    f64::from(p.duration_minutes) / 60.0,
                    price as f64 / 100.0,
                    services
                ));
            }
        }
    }
    args::print_all(lines);
    Ok(())
}
