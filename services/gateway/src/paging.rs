//! Cursor pagination: `?cursor=&limit=` onto the services' page tokens.
//! The cursor is the service's `next_page_token` as it is, opaque to the
//! client; the limits are the services' own (1 to 500, 50 by default).

use relais_proto::types::PageRequest;
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Where the page starts: the `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

impl PageQuery {
    pub fn page(&self) -> Option<PageRequest> {
        Some(PageRequest {
            // Out of range: the service names `page.page_size`, which the
            // problem calls `limit` again (problem::client_field).
            page_size: self
                .limit
                .map_or(0, |l| i32::try_from(l).unwrap_or(i32::MAX)),
            page_token: self.cursor.clone().unwrap_or_default(),
        })
    }
}

/// The service's next page token as the client's next cursor.
pub fn next_cursor(token: String) -> Option<String> {
    (!token.is_empty()).then_some(token)
}
