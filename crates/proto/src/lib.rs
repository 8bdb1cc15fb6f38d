//! Generated types for every package under `proto/`: gRPC clients and
//! servers, and the event payloads subscribers read.

#![allow(clippy::all, clippy::unwrap_used)]

pub mod codec;
pub mod published;

/// Every compiled file, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/relais_descriptor.bin"));

pub mod relais {
    pub mod types {
        pub mod v1 {
            tonic::include_proto!("relais.types.v1");
        }
    }
    pub mod billing {
        pub mod v1 {
            tonic::include_proto!("relais.billing.v1");
        }
    }
    pub mod catalogue {
        pub mod v1 {
            tonic::include_proto!("relais.catalogue.v1");
        }
    }
    pub mod connector {
        pub mod v1 {
            tonic::include_proto!("relais.connector.v1");
        }
    }
    pub mod messaging {
        pub mod v1 {
            tonic::include_proto!("relais.messaging.v1");
        }
    }
    pub mod orders {
        pub mod v1 {
            tonic::include_proto!("relais.orders.v1");
        }
    }
    pub mod planning {
        pub mod v1 {
            tonic::include_proto!("relais.planning.v1");
        }
    }
    pub mod events {
        pub mod v1 {
            tonic::include_proto!("relais.events.v1");
        }
    }
}

pub use relais::billing::v1 as billing;
pub use relais::catalogue::v1 as catalogue;
pub use relais::connector::v1 as connector;
pub use relais::events::v1 as events;
pub use relais::messaging::v1 as messaging;
pub use relais::orders::v1 as orders;
pub use relais::planning::v1 as planning;
pub use relais::types::v1 as types;
