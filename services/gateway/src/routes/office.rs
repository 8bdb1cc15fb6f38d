//! Staff and the office (to come in the next slice: customers, workers,
//! invoices to validate).

use utoipa_axum::router::OpenApiRouter;

use crate::Api;

pub fn routes() -> OpenApiRouter<Api> {
    OpenApiRouter::new()
}
