//! What every request shares: the store, the keys, the tokens handed
//! out, the faults set.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::faults::Faults;

pub(crate) struct Token {
    pub(crate) key: String,
    pub(crate) expires: DateTime<Utc>,
}

#[derive(Clone)]
pub(crate) struct Erp {
    pub(crate) pool: PgPool,
    pub(crate) keys: Arc<HashMap<String, String>>,
    pub(crate) tokens: Arc<Mutex<HashMap<String, Token>>>,
    pub(crate) faults: Arc<Mutex<Faults>>,
    pub(crate) token_ttl: Duration,
}
