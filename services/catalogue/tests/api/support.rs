//! Builders and assertions shared by the test modules.

use relais_proto::{
    catalogue::{CreateProductRequest, CreateServiceRequest, ProductFields, ServiceFields},
    types::Money,
};

pub fn eur(cents: i64) -> Option<Money> {
    Some(Money {
        amount_cents: cents,
        currency: "EUR".into(),
    })
}

pub fn product(sku: &str, cents: i64) -> CreateProductRequest {
    CreateProductRequest {
        idempotency_key: String::new(),
        fields: Some(ProductFields {
            sku: sku.into(),
            designation: format!("Article {sku}"),
            description: "Un article".into(),
            category_id: String::new(),
            price: eur(cents),
            vat_rate_bp: 2000,
            sales_unit: "unit".into(),
            weight_grams: 250,
            image_urls: vec!["https://img.example/a.jpg".into()],
            active: true,
        }),
    }
}

pub fn service(code: &str, cents: i64, vat: i32) -> CreateServiceRequest {
    CreateServiceRequest {
        idempotency_key: String::new(),
        fields: Some(ServiceFields {
            code: code.into(),
            name: format!("Service {code}"),
            description: String::new(),
            category_id: String::new(),
            hourly_price: eur(cents),
            vat_rate_bp: vat,
            tax_credit_eligible: true,
            active: true,
        }),
    }
}

pub use relais_platform::testing::assert_bad_field;
