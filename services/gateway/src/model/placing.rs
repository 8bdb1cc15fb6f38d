//! The bodies that place an order. The customer is the token's for a
//! customer; staff and the office name one (`customer_id`), and the orders
//! service decides whether they may.

use relais_proto::orders as pb;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{
    Money,
    orders::{Address, PaymentMode, Schedule},
};

/// A booking of a service at the customer's, one-time or recurring.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceBooking {
    /// Empty: the token's customer (a customer booking for themselves).
    #[serde(default)]
    // A UUID or empty (`format: uuid` would refuse the empty string).
    #[schema(
        pattern = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"
    )]
    pub customer_id: String,
    #[schema(format = Uuid)]
    pub service_id: String,
    /// Absent: the customer's delivery (or billing) address.
    #[serde(default)]
    pub address: Option<Address>,
    pub schedule: Schedule,
    /// The worker the customer chose (see the service's free slots);
    /// empty: any qualified worker.
    #[serde(default)]
    // A UUID or empty (`format: uuid` would refuse the empty string).
    #[schema(
        pattern = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"
    )]
    pub worker_id: String,
    /// Absent: the customer's open hour pack that covers the service, or
    /// refused when none does.
    #[serde(default)]
    pub payment_mode: Option<PaymentMode>,
    /// With `hour_pack`: the confirmed hour-pack order that pays.
    #[serde(default)]
    // A UUID or empty (`format: uuid` would refuse the empty string).
    #[schema(
        pattern = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"
    )]
    pub hour_pack_order_id: String,
    /// Instructions for the worker (door code, pets...).
    #[serde(default)]
    pub note: String,
    pub terms_accepted: bool,
    #[serde(default)]
    pub confirmation_email: String,
    /// The total the page showed: refused (409) if today's prices differ.
    #[serde(default)]
    pub expected_total_incl_vat: Option<Money>,
}

impl PlaceBooking {
    pub fn into_pb(self, key: String) -> pb::PlaceBookingRequest {
        pb::PlaceBookingRequest {
            idempotency_key: key,
            customer_id: self.customer_id,
            service_id: self.service_id,
            address: self.address.map(Address::into_pb),
            schedule: Some(self.schedule.into_pb()),
            worker_id: self.worker_id,
            payment_mode: self.payment_mode.map_or(0, PaymentMode::into_pb),
            terms_accepted: self.terms_accepted,
            hour_pack_order_id: self.hour_pack_order_id,
            note: self.note,
            confirmation_email: self.confirmation_email,
            expected_total_incl_vat: Money::into_pb(self.expected_total_incl_vat),
            new_customer: None,
            allow_unassigned: false,
        }
    }
}

/// One product and how many.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderLineRequest {
    /// A product id.
    #[schema(format = Uuid)]
    pub item_id: String,
    #[schema(example = 2)]
    pub quantity: i32,
    /// Line discount in basis points (staff and the office).
    #[serde(default)]
    pub discount_bp: i32,
}

/// A product order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceProductOrder {
    /// Empty: the token's customer (a customer ordering for themselves).
    #[serde(default)]
    // A UUID or empty (`format: uuid` would refuse the empty string).
    #[schema(
        pattern = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"
    )]
    pub customer_id: String,
    pub lines: Vec<OrderLineRequest>,
    /// e.g. "delivery", "pickup".
    #[serde(default)]
    pub shipping_method: String,
    #[serde(default)]
    pub payment_mode: Option<PaymentMode>,
    pub terms_accepted: bool,
    #[serde(default)]
    pub confirmation_email: String,
    /// Placed as a quote the customer accepts later.
    #[serde(default)]
    pub as_quote: bool,
    #[serde(default)]
    pub expected_total_incl_vat: Option<Money>,
}

impl PlaceProductOrder {
    pub fn into_pb(self, key: String) -> pb::PlaceProductOrderRequest {
        pb::PlaceProductOrderRequest {
            idempotency_key: key,
            customer_id: self.customer_id,
            lines: self
                .lines
                .into_iter()
                .map(|l| pb::OrderLineRequest {
                    item_id: l.item_id,
                    quantity: l.quantity,
                    discount_bp: l.discount_bp,
                })
                .collect(),
            shipping_method: self.shipping_method,
            payment_mode: self.payment_mode.map_or(0, PaymentMode::into_pb),
            terms_accepted: self.terms_accepted,
            confirmation_email: self.confirmation_email,
            as_quote: self.as_quote,
            expected_total_incl_vat: Money::into_pb(self.expected_total_incl_vat),
            new_customer: None,
        }
    }
}

/// The purchase of an hour pack, paid by card at order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceHourPackOrder {
    /// Empty: the token's customer (a customer buying for themselves).
    #[serde(default)]
    // A UUID or empty (`format: uuid` would refuse the empty string).
    #[schema(
        pattern = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"
    )]
    pub customer_id: String,
    #[schema(format = Uuid)]
    pub hour_pack_id: String,
    pub terms_accepted: bool,
    #[serde(default)]
    pub confirmation_email: String,
    #[serde(default)]
    pub expected_total_incl_vat: Option<Money>,
}

impl PlaceHourPackOrder {
    pub fn into_pb(self, key: String) -> pb::PlaceHourPackOrderRequest {
        pb::PlaceHourPackOrderRequest {
            idempotency_key: key,
            customer_id: self.customer_id,
            hour_pack_id: self.hour_pack_id,
            terms_accepted: self.terms_accepted,
            confirmation_email: self.confirmation_email,
            expected_total_incl_vat: Money::into_pb(self.expected_total_incl_vat),
            new_customer: None,
        }
    }
}
