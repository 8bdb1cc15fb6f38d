//! The demo residence, its staff member and resident, and an online
//! customer.

use anyhow::Context;

use crate::{
    client::{authed, connect},
    demo::STAFF,
};

/// The demo ids `relais dev` prints.
pub struct DemoOrders {
    pub residence: String,
    /// Jeanne Martin, resident of the residence (no e-mail of her own).
    pub resident: String,
    /// Paul Durand, an online customer with an e-mail and an address.
    pub customer: String,
}

/// A residence with one staff member and one resident, and an online
/// customer (idempotent).
pub async fn seed_orders(addr: &str, token: &str) -> anyhow::Result<DemoOrders> {
    use relais_proto::orders::{
        AddResidenceStaffRequest, Address, CreateCustomerRequest, CreateResidenceRequest,
        CustomerFields, orders_service_client::OrdersServiceClient,
    };
    let mut client = OrdersServiceClient::new(connect(addr).await?);
    let address = Address {
        line1: "4 allée des Tilleuls".into(),
        line2: String::new(),
        postal_code: "69003".into(),
        city: "Lyon".into(),
        country: "FR".into(),
    };
    let residence = client
        .create_residence(authed(
            token,
            CreateResidenceRequest {
                idempotency_key: "demo-residence".into(),
                name: "Résidence Les Tilleuls".into(),
                address: Some(address.clone()),
                email: "accueil@tilleuls.example".into(),
                phone: "04 78 00 00 00".into(),
            },
        )?)
        .await
        .context("demo residence")?
        .into_inner()
        .residence
        .context("no residence")?
        .id;
    client
        .add_residence_staff(authed(
            token,
            AddResidenceStaffRequest {
                residence_id: residence.clone(),
                staff_subject: STAFF.into(),
                display_name: "Aline (aide-soignante)".into(),
            },
        )?)
        .await?;
    let resident = client
        .create_customer(authed(
            token,
            CreateCustomerRequest {
                idempotency_key: "demo-resident-1".into(),
                fields: Some(CustomerFields {
                    first_name: "Jeanne".into(),
                    last_name: "Martin".into(),
                    email: String::new(),
                    phone: "04 78 00 00 12".into(),
                    billing_address: Some(Address {
                        line2: "Chambre 12".into(),
                        ..address
                    }),
                    delivery_address: None,
                    customer_family: "RESIDENCE".into(),
                    residence_id: residence.clone(),
                    payment_method_ref: String::new(),
                    external_ref: String::new(),
                }),
            },
        )?)
        .await
        .context("demo resident")?
        .into_inner()
        .customer
        .context("no customer")?
        .id;
    let customer = client
        .create_customer(authed(
            token,
            CreateCustomerRequest {
                idempotency_key: "demo-customer-1".into(),
                fields: Some(CustomerFields {
                    first_name: "Paul".into(),
                    last_name: "Durand".into(),
                    email: "paul.durand@example.org".into(),
                    phone: "06 12 34 56 78".into(),
                    billing_address: Some(Address {
                        line1: "18 rue Sala".into(),
                        line2: String::new(),
                        postal_code: "69002".into(),
                        city: "Lyon".into(),
                        country: "FR".into(),
                    }),
                    delivery_address: None,
                    customer_family: String::new(),
                    residence_id: String::new(),
                    // The payment simulator's card that always goes through.
                    payment_method_ref: "pm_card_visa".into(),
                    external_ref: String::new(),
                }),
            },
        )?)
        .await
        .context("demo customer")?
        .into_inner()
        .customer
        .context("no customer")?
        .id;
    Ok(DemoOrders {
        residence,
        resident,
        customer,
    })
}
