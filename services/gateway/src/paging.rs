//! Cursor pagination: `?cursor=&limit=` onto the services' page tokens.
//! The cursor is the service's `next_page_token` as it is, opaque to the
//! client; the limits are the services' own (1 to 500, 50 by default).

use relais_proto::types::PageRequest;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::problem::Problem;

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
    /// The services' page; a `limit` of 0 is refused here, where a
    /// service would read it as "the default".
    pub fn page(&self) -> Result<Option<PageRequest>, Problem> {
        let page_size = match self.limit {
            None => 0,
            Some(l @ 1..=500) => i32::try_from(l).unwrap_or(500),
            Some(_) => return Err(Problem::field("limit", "1 to 500")),
        };
        Ok(Some(PageRequest {
            page_size,
            page_token: self.cursor.clone().unwrap_or_default(),
        }))
    }
}

/// The service's next page token as the client's next cursor.
pub fn next_cursor(token: String) -> Option<String> {
    (!token.is_empty()).then_some(token)
}
