//! The signed-in customer's saved card as they see it, and the body that
//! saves one.

use chrono::{DateTime, Utc};
use relais_proto::orders as pb;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::time;

/// My saved card: whether there is one, and since when. Neither card data
/// (the shop never has it) nor the provider's reference: within the
/// company's provider account that reference is enough to charge the card,
/// so it is taken in and never given back. Brand and last digits are the
/// provider's to tell, and the shop does not ask it yet.
#[derive(Debug, Serialize, ToSchema)]
pub struct SavedCard {
    /// Whether card payments are debited from a saved card.
    pub saved: bool,
    /// When the card now saved was saved; null without one.
    pub saved_at: Option<DateTime<Utc>>,
}

impl From<pb::PaymentMethod> for SavedCard {
    fn from(p: pb::PaymentMethod) -> Self {
        Self {
            saved: p.saved,
            saved_at: time(p.saved_at).filter(|_| p.saved),
        }
    }
}

/// The card to save, as the payment provider's client-side tokenisation
/// gave it (e.g. Stripe.js's `paymentMethod.id`): never card numbers.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveCard {
    /// The provider's reference of the payment method: 1 to 255 visible
    /// ASCII characters.
    #[schema(example = "pm_card_visa", min_length = 1, max_length = 255)]
    pub payment_method_ref: String,
}
