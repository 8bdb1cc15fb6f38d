//! What a caller may see: the platform's one rule
//! ([`relais_platform::access`]), with staff membership read from this
//! service's own `residence_staff` table on each call — the table every
//! other service's copy is fed from — so a member removed by an admin loses
//! access at once.

use relais_platform::{access::Membership, auth::Caller, error::Result};
use sqlx::PgConnection;

pub use relais_platform::access::Scope;

pub async fn scope(conn: &mut PgConnection, caller: &Caller) -> Result<Scope> {
    relais_platform::access::scope(conn, caller, Membership::Owner).await
}
