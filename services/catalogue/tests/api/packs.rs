use prost::Message;
use relais_proto::{
    catalogue::{
        CreateHourPackRequest, DeleteHourPackRequest, GetHourPackRequest, HourPack,
        ListHourPacksRequest, SetHourPackActiveRequest, UpdateHourPackServicesRequest,
    },
    events::HourPackChanged,
};
use tonic::Code;

use crate::{
    helpers::{TestApp, spawn_app},
    support::*,
};

async fn svc(app: &mut TestApp, code: &str, vat: i32) -> String {
    app.client
        .create_service(app.admin(service(code, 2500, vat)))
        .await
        .unwrap()
        .into_inner()
        .service
        .unwrap()
        .id
}

fn pack(services: Vec<String>, vat: Option<i32>, active: bool) -> CreateHourPackRequest {
    CreateHourPackRequest {
        idempotency_key: String::new(),
        name: "Pack 10 h ménage".into(),
        duration_minutes: 600,
        price: eur(22_000),
        eligible_service_ids: services,
        vat_rate_bp: vat,
        active_on_creation: active,
    }
}

async fn create(app: &mut TestApp, req: CreateHourPackRequest) -> HourPack {
    app.client
        .create_hour_pack(app.admin(req))
        .await
        .expect("pack created")
        .into_inner()
        .hour_pack
        .unwrap()
}

#[tokio::test]
async fn a_pack_takes_the_vat_rate_its_services_share() {
    let mut app = spawn_app().await;
    let menage = svc(&mut app, "MENAGE", 1000).await;
    let repassage = svc(&mut app, "REPASSAGE", 1000).await;
    let jardin = svc(&mut app, "JARDIN", 2000).await;

    let p = create(
        &mut app,
        pack(vec![menage.clone(), repassage.clone()], None, true),
    )
    .await;
    assert_eq!(p.vat_rate_bp, 1000);
    assert!(p.active);

    let mixed = app
        .client
        .create_hour_pack(app.admin(pack(vec![menage.clone(), jardin.clone()], None, true)))
        .await
        .expect_err("mixed VAT");
    assert_bad_field(&mixed, "eligible_service_ids");
    assert!(
        mixed.message().contains("JARDIN"),
        "names the services: {}",
        mixed.message()
    );

    let contradicting = app
        .client
        .create_hour_pack(app.admin(pack(vec![menage.clone()], Some(2000), true)))
        .await
        .expect_err("given VAT differs");
    assert_bad_field(&contradicting, "vat_rate_bp");

    let unknown = app
        .client
        .create_hour_pack(app.admin(pack(vec![uuid::Uuid::now_v7().to_string()], None, true)))
        .await
        .expect_err("unknown service");
    assert_bad_field(&unknown, "eligible_service_ids[0]");

    let all_without_vat = app
        .client
        .create_hour_pack(app.admin(pack(vec![], None, true)))
        .await
        .expect_err("no VAT");
    assert_bad_field(&all_without_vat, "vat_rate_bp");
    let all = create(&mut app, pack(vec![], Some(1000), true)).await;
    assert!(
        all.eligible_service_ids.is_empty(),
        "empty means every service"
    );

    let mut zero = pack(vec![], Some(1000), true);
    zero.duration_minutes = 0;
    let status = app
        .client
        .create_hour_pack(app.admin(zero))
        .await
        .expect_err("no hours");
    assert_bad_field(&status, "duration_minutes");

    let listed = app
        .client
        .list_hour_packs(app.admin(ListHourPacksRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.hour_packs.len(), 2, "only the two valid packs exist");
    app.stop().await;
}

#[tokio::test]
async fn only_eligible_services_change_and_a_pack_can_be_deactivated_and_deleted() {
    let mut app = spawn_app().await;
    let menage = svc(&mut app, "MENAGE", 1000).await;
    let repassage = svc(&mut app, "REPASSAGE", 1000).await;
    let jardin = svc(&mut app, "JARDIN", 2000).await;
    let p = create(&mut app, pack(vec![menage.clone()], None, false)).await;
    assert!(!p.active, "not active on creation");
    let active_only = app
        .client
        .list_hour_packs(app.admin(ListHourPacksRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(active_only.hour_packs.is_empty());

    let edited = app
        .client
        .update_hour_pack_services(app.admin(UpdateHourPackServicesRequest {
            id: p.id.clone(),
            eligible_service_ids: vec![menage.clone(), repassage.clone()],
        }))
        .await
        .expect("edit services")
        .into_inner()
        .hour_pack
        .unwrap();
    assert_eq!(edited.eligible_service_ids.len(), 2);
    assert_eq!(
        (
            edited.name.as_str(),
            edited.duration_minutes,
            edited.price.clone()
        ),
        (p.name.as_str(), p.duration_minutes, p.price.clone())
    );

    let other_vat = app
        .client
        .update_hour_pack_services(app.admin(UpdateHourPackServicesRequest {
            id: p.id.clone(),
            eligible_service_ids: vec![jardin],
        }))
        .await
        .expect_err("other VAT");
    assert_bad_field(&other_vat, "eligible_service_ids");

    let on = app
        .client
        .set_hour_pack_active(app.admin(SetHourPackActiveRequest {
            id: p.id.clone(),
            active: true,
        }))
        .await
        .unwrap()
        .into_inner()
        .hour_pack
        .unwrap();
    assert!(on.active);
    app.client
        .delete_hour_pack(app.admin(DeleteHourPackRequest { id: p.id.clone() }))
        .await
        .expect("deleted");
    let gone = app
        .client
        .get_hour_pack(app.admin(GetHourPackRequest { id: p.id.clone() }))
        .await
        .expect_err("deleted");
    assert_eq!(gone.code(), Code::NotFound);

    let events = app.events(7).await;
    let last = events.last().unwrap();
    assert!(last.0.ends_with(".hour_pack.deleted"), "{}", last.0);
    let deleted = HourPackChanged::decode(last.1.as_ref()).unwrap();
    assert!(deleted.deleted);
    app.stop().await;
}
