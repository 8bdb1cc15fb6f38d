//! The shop's catalogue as a visitor reads it: services sold by the hour,
//! products, hour packs. What only the office needs (versions, origins,
//! real stock) is left out.

use relais_proto::catalogue as pb;
use serde::Serialize;
use utoipa::ToSchema;

use super::{Money, page, some};

/// A service sold by the hour (cleaning, childcare...).
#[derive(Debug, Serialize, ToSchema)]
pub struct Service {
    pub id: String,
    /// The matching tariff's code in the ERP.
    #[schema(example = "MENAGE")]
    pub code: String,
    #[schema(example = "Ménage à domicile")]
    pub name: String,
    pub description: String,
    pub category_id: Option<String>,
    pub hourly_price: Option<Money>,
    /// Basis points: 2000 = 20 %.
    #[schema(example = 1000)]
    pub vat_rate_bp: i32,
    /// Eligible for the French tax credit for home services.
    pub tax_credit_eligible: bool,
    pub active: bool,
}

impl From<pb::Service> for Service {
    fn from(s: pb::Service) -> Self {
        Self {
            id: s.id,
            code: s.code,
            name: s.name,
            description: s.description,
            category_id: some(s.category_id),
            hourly_price: Money::from_pb(s.hourly_price),
            vat_rate_bp: s.vat_rate_bp,
            tax_credit_eligible: s.tax_credit_eligible,
            active: s.active,
        }
    }
}

/// A product (article).
#[derive(Debug, Serialize, ToSchema)]
pub struct Product {
    pub id: String,
    #[schema(example = "ENT-001")]
    pub sku: String,
    #[schema(example = "Gants")]
    pub designation: String,
    pub description: String,
    pub category_id: Option<String>,
    pub price: Option<Money>,
    pub vat_rate_bp: i32,
    /// e.g. "unit", "box of 10".
    pub sales_unit: String,
    pub weight_grams: i64,
    pub image_urls: Vec<String>,
    /// What can be ordered now.
    pub stock_available: i64,
    pub active: bool,
}

impl From<pb::Product> for Product {
    fn from(p: pb::Product) -> Self {
        Self {
            id: p.id,
            sku: p.sku,
            designation: p.designation,
            description: p.description,
            category_id: some(p.category_id),
            price: Money::from_pb(p.price),
            vat_rate_bp: p.vat_rate_bp,
            sales_unit: p.sales_unit,
            weight_grams: p.weight_grams,
            image_urls: p.image_urls,
            stock_available: p.stock_available,
            active: p.active,
        }
    }
}

/// A prepaid bundle of hours at a reduced price.
#[derive(Debug, Serialize, ToSchema)]
pub struct HourPack {
    pub id: String,
    #[schema(example = "10 h de ménage")]
    pub name: String,
    #[schema(example = 600)]
    pub duration_minutes: i32,
    pub price: Option<Money>,
    pub vat_rate_bp: i32,
    /// Empty: every service at the pack's VAT rate.
    pub eligible_service_ids: Vec<String>,
    pub active: bool,
}

impl From<pb::HourPack> for HourPack {
    fn from(p: pb::HourPack) -> Self {
        Self {
            id: p.id,
            name: p.name,
            duration_minutes: p.duration_minutes,
            price: Money::from_pb(p.price),
            vat_rate_bp: p.vat_rate_bp,
            eligible_service_ids: p.eligible_service_ids,
            active: p.active,
        }
    }
}

page!(
    /// A page of services.
    ServicePage of Service
);
page!(
    /// A page of products.
    ProductPage of Product
);

/// Every hour pack on sale (not paged: a shop sells a handful).
#[derive(Debug, Serialize, ToSchema)]
pub struct HourPackList {
    pub items: Vec<HourPack>,
}
