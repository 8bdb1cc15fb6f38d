use prost::Message;
use relais_platform::auth::Role;
use relais_proto::{
    catalogue::{CreateServiceRequest, ServiceFields, SetPriceListEntryRequest},
    events::OrderPlaced,
    orders::{
        AddResidenceStaffRequest, CreateCustomerRequest, CustomerFields, GetOrderRequest, Order,
        OrderLineRequest, PaymentMode, PlaceProductOrderRequest,
    },
};
use tonic::Code;
use uuid::Uuid;

use crate::helpers::*;

struct Shop {
    residence: String,
    resident: String,
    gloves: String,
    soap: String,
    ironing: String,
    retired: String,
}

/// A residence with nurse-1 on its staff, a resident without e-mail in the
/// RESIDENCE price family, and a small catalogue.
async fn shop(app: &mut TestApp) -> Shop {
    let residence = app.residence("Les Tilleuls").await;
    let add = AddResidenceStaffRequest {
        residence_id: residence.clone(),
        staff_subject: "nurse-1".into(),
        display_name: "Aline".into(),
    };
    app.client
        .add_residence_staff(app.admin(add))
        .await
        .unwrap();
    let resident = app
        .client
        .create_customer(app.admin(CreateCustomerRequest {
            idempotency_key: String::new(),
            fields: Some(resident("Martin", &residence)),
        }))
        .await
        .unwrap()
        .into_inner()
        .customer
        .unwrap()
        .id;
    let gloves = app.product("ENT-001", 1190, 60, true).await;
    let soap = app.product("HYG-001", 390, 5, true).await;
    let retired = app.product("OLD-001", 100, 50, false).await;
    let family_price = SetPriceListEntryRequest {
        customer_family: "RESIDENCE".into(),
        item_id: gloves.clone(),
        price: eur(990),
    };
    app.catalogue
        .set_price_list_entry(app.admin(family_price))
        .await
        .unwrap();
    let ironing = app
        .catalogue
        .create_service(app.admin(CreateServiceRequest {
            idempotency_key: String::new(),
            fields: Some(ServiceFields {
                code: "REPASSAGE".into(),
                name: "Repassage".into(),
                hourly_price: eur(2600),
                vat_rate_bp: 1000,
                active: true,
                ..Default::default()
            }),
        }))
        .await
        .unwrap()
        .into_inner()
        .service
        .unwrap()
        .id;
    Shop {
        residence,
        resident,
        gloves,
        soap,
        ironing,
        retired,
    }
}

fn order_for(shop: &Shop, lines: Vec<(&str, i32, i32)>) -> PlaceProductOrderRequest {
    PlaceProductOrderRequest {
        idempotency_key: String::new(),
        customer_id: shop.resident.clone(),
        lines: lines
            .into_iter()
            .map(|(item, quantity, discount_bp)| OrderLineRequest {
                item_id: item.into(),
                quantity,
                discount_bp,
            })
            .collect(),
        shipping_method: "delivery".into(),
        payment_mode: PaymentMode::ResidenceMonthly as i32,
        terms_accepted: true,
        confirmation_email: "accueil@tilleuls.example".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn staff_order_products_for_a_resident_priced_by_the_catalogue() {
    let mut app = spawn_app().await;
    let shop = shop(&mut app).await;
    let req = order_for(&shop, vec![(&shop.gloves, 3, 1000), (&shop.soap, 2, 0)]);
    let order: Order = app
        .client
        .place_product_order(app.staff("nurse-1", req))
        .await
        .expect("placed")
        .into_inner()
        .order
        .unwrap();

    // Who placed what for whom, when, for how much (seed 003).
    assert_eq!(
        (order.placed_by.as_str(), order.placed_by_role.as_str()),
        ("nurse-1", "staff")
    );
    assert_eq!(order.customer_id, shop.resident);
    assert_eq!(order.residence_id, shop.residence);
    assert_eq!(order.customer_name, "Jeanne Martin");
    assert_eq!(
        order.ship_to.as_ref().unwrap().city,
        "Lyon",
        "the resident's profile fills the order"
    );
    assert_eq!(
        order.confirmation_email, "accueil@tilleuls.example",
        "no e-mail on the profile: the one given"
    );
    assert_eq!(order.payment_mode, PaymentMode::ResidenceMonthly as i32);
    assert!(order.terms_accepted_at.is_some());

    // Gloves at the RESIDENCE family price: 3 × 9.90 = 29.70 less 10 % = 26.73, VAT 5.346 -> 5.35.
    let gloves = &order.lines[0];
    assert_eq!(
        (
            gloves.reference.as_str(),
            gloves.quantity,
            gloves.discount_bp
        ),
        ("ENT-001", 3, 1000)
    );
    assert_eq!(gloves.unit_price, eur(990));
    assert_eq!(
        (gloves.total_excl_vat.clone(), gloves.vat.clone()),
        (eur(2673), eur(535))
    );
    // Soap at base price: 2 × 3.90 = 7.80, VAT 1.56.
    assert_eq!(
        (
            order.lines[1].total_excl_vat.clone(),
            order.lines[1].vat.clone()
        ),
        (eur(780), eur(156))
    );
    assert_eq!(order.total_excl_vat, eur(3453));
    assert_eq!(order.total_vat, eur(691));
    assert_eq!(order.total_incl_vat, eur(4144));
    assert_eq!(order.vat_breakdown.len(), 1);
    assert_eq!(
        (
            order.vat_breakdown[0].vat_rate_bp,
            order.vat_breakdown[0].base.clone()
        ),
        (2000, eur(3453))
    );

    // A subscriber receives the whole order.
    let placed = app
        .messages(1)
        .await
        .into_iter()
        .find(|m| m.subject.ends_with(".order.placed"))
        .expect("order.placed");
    let event = OrderPlaced::decode(placed.payload.as_ref()).unwrap();
    assert_eq!(event.order.as_ref(), Some(&order));
    assert_eq!(event.meta.unwrap().actor, "nurse-1");

    // Visible to the staff of the residence and the resident, no one else.
    let get = |id: &str| GetOrderRequest { id: id.into() };
    app.client
        .get_order(app.staff("nurse-1", get(&order.id)))
        .await
        .expect("staff reads");
    let stranger = app
        .client
        .get_order(app.staff("nurse-9", get(&order.id)))
        .await
        .expect_err("other staff");
    assert_eq!(stranger.code(), Code::NotFound);
    let me = app.token(
        Role::Customer,
        "jeanne",
        Some(Uuid::parse_str(&shop.resident).unwrap()),
    );
    app.client
        .get_order(with_token(&me, get(&order.id)))
        .await
        .expect("the resident reads");
    let other = app.token(Role::Customer, "paul", Some(Uuid::now_v7()));
    assert_eq!(
        app.client
            .get_order(with_token(&other, get(&order.id)))
            .await
            .expect_err("another customer")
            .code(),
        Code::NotFound
    );
}

#[tokio::test]
async fn orders_that_cannot_be_honoured_are_refused_with_the_field() {
    let mut app = spawn_app().await;
    let shop = shop(&mut app).await;
    let unknown = Uuid::now_v7().to_string();
    let mut cases: Vec<(&str, PlaceProductOrderRequest)> = vec![
        (
            "lines[1].quantity",
            order_for(&shop, vec![(&shop.gloves, 1, 0), (&shop.soap, 6, 0)]),
        ),
        (
            "lines[0].item_id",
            order_for(&shop, vec![(&shop.ironing, 1, 0)]),
        ),
        ("lines[0].item_id", order_for(&shop, vec![(&unknown, 1, 0)])),
        (
            "lines[0].item_id",
            order_for(&shop, vec![(&shop.retired, 1, 0)]),
        ),
        (
            "lines[1].item_id",
            order_for(&shop, vec![(&shop.soap, 1, 0), (&shop.soap, 1, 0)]),
        ),
        (
            "lines[0].quantity",
            order_for(&shop, vec![(&shop.soap, 0, 0)]),
        ),
        (
            "lines[0].discount_bp",
            order_for(&shop, vec![(&shop.soap, 1, 12_000)]),
        ),
        // Extreme numbers: refused on their field, never an overflow.
        (
            "lines[0].quantity",
            order_for(&shop, vec![(&shop.soap, i32::MAX, 0)]),
        ),
        (
            "lines[0].quantity",
            order_for(&shop, vec![(&shop.soap, i32::MIN, 0)]),
        ),
        (
            "lines[0].discount_bp",
            order_for(&shop, vec![(&shop.soap, 1, i32::MIN)]),
        ),
        ("lines", order_for(&shop, vec![])),
    ];
    let mut no_terms = order_for(&shop, vec![(&shop.soap, 1, 0)]);
    no_terms.terms_accepted = false;
    cases.push(("terms_accepted", no_terms));
    let mut no_email = order_for(&shop, vec![(&shop.soap, 1, 0)]);
    no_email.confirmation_email = String::new();
    cases.push(("confirmation_email", no_email));
    let mut no_mode = order_for(&shop, vec![(&shop.soap, 1, 0)]);
    no_mode.payment_mode = 0;
    cases.push(("payment_mode", no_mode));
    let mut unknown_mode = order_for(&shop, vec![(&shop.soap, 1, 0)]);
    unknown_mode.payment_mode = 99;
    cases.push(("payment_mode", unknown_mode));
    let mut other_currency = order_for(&shop, vec![(&shop.soap, 1, 0)]);
    other_currency.expected_total_incl_vat = Some(relais_proto::types::Money {
        amount_cents: 100,
        currency: "X".repeat(5000),
    });
    cases.push(("expected_total_incl_vat.currency", other_currency));
    let mut huge_total = order_for(&shop, vec![(&shop.soap, 1, 0)]);
    huge_total.expected_total_incl_vat = eur(i64::MAX);
    cases.push(("expected_total_incl_vat.amount_cents", huge_total));
    for (field, req) in cases {
        let status = app
            .client
            .place_product_order(app.admin(req))
            .await
            .expect_err(field);
        assert_bad_field(&status, field);
    }

    // Monthly residence billing needs a resident.
    let online = app
        .client
        .create_customer(app.admin(CreateCustomerRequest {
            idempotency_key: String::new(),
            fields: Some(CustomerFields {
                email: "paul@example.fr".into(),
                ..resident("Durand", "")
            }),
        }))
        .await
        .unwrap()
        .into_inner()
        .customer
        .unwrap();
    let mut monthly = order_for(&shop, vec![(&shop.soap, 1, 0)]);
    monthly.customer_id = online.id.clone();
    assert_bad_field(
        &app.client
            .place_product_order(app.admin(monthly))
            .await
            .expect_err("not a resident"),
        "payment_mode",
    );

    // Staff outside the residence cannot even see the resident.
    let outsider = app
        .client
        .place_product_order(app.staff("nurse-9", order_for(&shop, vec![(&shop.soap, 1, 0)])))
        .await
        .expect_err("outsider");
    assert_eq!(outsider.code(), Code::NotFound);

    let placed = app
        .messages(0)
        .await
        .into_iter()
        .filter(|m| m.subject.ends_with(".order.placed"))
        .count();
    assert_eq!(placed, 0, "nothing was ordered");
}

#[tokio::test]
async fn concurrent_placements_with_one_key_make_one_order() {
    let mut app = spawn_app().await;
    let shop = shop(&mut app).await;
    let mut req = order_for(&shop, vec![(&shop.gloves, 2, 0)]);
    req.idempotency_key = "basket-42".into();
    let calls = (0..6).map(|_| {
        let mut client = app.client.clone();
        let r = app.staff("nurse-1", req.clone());
        tokio::spawn(async move { client.place_product_order(r).await })
    });
    let mut ids = Vec::new();
    for r in futures::future::join_all(calls).await {
        match r.unwrap() {
            Ok(resp) => ids.push(resp.into_inner().order.unwrap().id),
            Err(s) => assert_eq!(s.code(), Code::Aborted, "{s:?}"),
        }
    }
    assert!(
        !ids.is_empty() && ids.windows(2).all(|w| w[0] == w[1]),
        "{ids:?}"
    );
    req.lines[0].quantity = 3;
    let reused = app
        .client
        .place_product_order(app.staff("nurse-1", req))
        .await
        .expect_err("same key, other basket");
    assert_bad_field(&reused, "idempotency_key");
    let placed = app
        .messages(1)
        .await
        .into_iter()
        .filter(|m| m.subject.ends_with(".order.placed"))
        .count();
    assert_eq!(placed, 1);
}

/// An idempotency key is its caller's: another caller re-sending the same
/// key and basket is judged as itself (here refused: not its residence, not
/// its customer), never handed the stored order with the resident's name
/// and address.
#[tokio::test]
async fn a_replayed_key_answers_only_the_caller_that_sent_it() {
    let mut app = spawn_app().await;
    let shop = shop(&mut app).await;
    let other = app.residence("Les Acacias").await;
    app.add_staff(&other, "nurse-2").await;
    let mut req = order_for(&shop, vec![(&shop.gloves, 1, 0)]);
    req.idempotency_key = "basket-7".into();
    let first = app
        .client
        .place_product_order(app.staff("nurse-1", req.clone()))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let stranger = app
        .client
        .place_product_order(app.staff("nurse-2", req.clone()))
        .await
        .expect_err("staff of another residence");
    assert!(
        matches!(stranger.code(), Code::NotFound | Code::PermissionDenied),
        "{stranger:?}"
    );
    let someone = Uuid::now_v7().to_string();
    let customer = app
        .client
        .place_product_order(app.as_customer(&someone, req.clone()))
        .await
        .expect_err("another customer");
    assert!(
        matches!(customer.code(), Code::NotFound | Code::PermissionDenied),
        "{customer:?}"
    );
    let again = app
        .client
        .place_product_order(app.staff("nurse-1", req))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(again.id, first.id, "the sender's own replay");
}
