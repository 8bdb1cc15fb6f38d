//! The API's JSON: each type documented in the OpenAPI document
//! (`ToSchema`) and made from the services' messages. Field names are the
//! services' own, in snake_case, so that a field a service refuses is named
//! the same in the problem the client gets. Amounts are the services'
//! integer cents with their currency, never floats.

pub mod billing;
pub mod card;
pub mod catalogue;
pub mod connector;
pub mod messaging;
pub mod office;
pub mod orders;
pub mod placing;
pub mod planning;
pub mod residences;
pub mod sync_records;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An amount in the smallest unit of its currency (cents for EUR).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Money {
    #[schema(example = 12000)]
    pub amount_cents: i64,
    /// ISO 4217.
    #[schema(example = "EUR")]
    pub currency: String,
}

impl Money {
    pub fn from_pb(m: Option<relais_proto::types::Money>) -> Option<Self> {
        m.map(|m| Money {
            amount_cents: m.amount_cents,
            currency: m.currency,
        })
    }

    pub fn into_pb(m: Option<Self>) -> Option<relais_proto::types::Money> {
        m.map(|m| relais_proto::types::Money {
            amount_cents: m.amount_cents,
            currency: m.currency,
        })
    }
}

/// A protobuf time as UTC.
pub fn time(t: Option<prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)))
}

pub fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// A protobuf string that means "none" when empty, as JSON null.
pub fn some(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// Declares a JSON enum of a protobuf enum: the same values in snake_case
/// without the prefix, `unspecified` for 0 or a value this gateway does not
/// know yet (a newer service).
macro_rules! pb_enum {
    ($(#[$m:meta])* $name:ident from $pb:path { $($variant:ident = $pbv:ident),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize, utoipa::ToSchema, PartialEq, Eq)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            Unspecified,
            $($variant),+
        }

        impl $name {
            pub fn from_pb(v: i32) -> Self {
                use $pb as Pb;
                match Pb::try_from(v) {
                    $(Ok(Pb::$pbv) => Self::$variant,)+
                    _ => Self::Unspecified,
                }
            }

            #[allow(dead_code)]
            pub fn into_pb(self) -> i32 {
                use $pb as Pb;
                match self {
                    Self::Unspecified => 0,
                    $(Self::$variant => Pb::$pbv as i32,)+
                }
            }
        }
    };
}
pub(crate) use pb_enum;

/// A page of a listing and where the next one starts.
macro_rules! page {
    ($(#[$m:meta])* $name:ident of $item:ty) => {
        $(#[$m])*
        #[derive(Debug, serde::Serialize, utoipa::ToSchema)]
        pub struct $name {
            pub items: Vec<$item>,
            /// Pass it as `cursor` for the next page; null after the last.
            pub next_cursor: Option<String>,
        }
    };
}
pub(crate) use page;
