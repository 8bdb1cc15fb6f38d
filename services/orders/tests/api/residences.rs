use relais_proto::orders::{
    AddResidenceStaffRequest, GetResidenceRequest, ListResidenceStaffRequest,
    ListResidencesRequest, RemoveResidenceStaffRequest,
};
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn staff_see_the_residences_they_belong_to_until_removed() {
    let mut app = spawn_app().await;
    let tilleuls = app.residence("Les Tilleuls").await;
    let _glycines = app.residence("Les Glycines").await;
    let add = AddResidenceStaffRequest {
        residence_id: tilleuls.clone(),
        staff_subject: "nurse-1".into(),
        display_name: "Aline".into(),
    };
    app.client
        .add_residence_staff(app.admin(add))
        .await
        .expect("staff added");

    let mine = app
        .client
        .list_residences(app.staff("nurse-1", ListResidencesRequest {}))
        .await
        .unwrap()
        .into_inner()
        .residences;
    assert_eq!(
        mine.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["Les Tilleuls"]
    );
    let all = app
        .client
        .list_residences(app.admin(ListResidencesRequest {}))
        .await
        .unwrap()
        .into_inner()
        .residences;
    assert_eq!(all.len(), 2);
    let stranger = app
        .client
        .list_residences(app.staff("nurse-2", ListResidencesRequest {}))
        .await
        .unwrap()
        .into_inner()
        .residences;
    assert!(stranger.is_empty());
    let hidden = app
        .client
        .get_residence(app.staff(
            "nurse-2",
            GetResidenceRequest {
                id: tilleuls.clone(),
            },
        ))
        .await
        .expect_err("not a member");
    assert_eq!(hidden.code(), Code::NotFound);

    let staff = app
        .client
        .list_residence_staff(app.admin(ListResidenceStaffRequest {
            residence_id: tilleuls.clone(),
        }))
        .await
        .unwrap()
        .into_inner()
        .staff;
    assert_eq!(staff[0].display_name, "Aline");
    let by_staff = app
        .client
        .add_residence_staff(app.staff(
            "nurse-1",
            AddResidenceStaffRequest {
                residence_id: tilleuls.clone(),
                staff_subject: "friend".into(),
                display_name: String::new(),
            },
        ))
        .await
        .expect_err("staff cannot add staff");
    assert_eq!(by_staff.code(), Code::PermissionDenied);

    app.client
        .remove_residence_staff(app.admin(RemoveResidenceStaffRequest {
            residence_id: tilleuls.clone(),
            staff_subject: "nurse-1".into(),
        }))
        .await
        .expect("removed");
    let after = app
        .client
        .list_residences(app.staff("nurse-1", ListResidencesRequest {}))
        .await
        .unwrap()
        .into_inner()
        .residences;
    assert!(
        after.is_empty(),
        "access ends at once, whatever the token says"
    );

    let subjects = app.subjects(4).await;
    let tail: Vec<&str> = subjects
        .iter()
        .map(|s| s.rsplit_once(".v1.").unwrap().1.split_once('.').unwrap().1)
        .collect();
    assert_eq!(
        tail,
        [
            "residence.created",
            "residence.created",
            "residence.staff_added",
            "residence.staff_removed"
        ]
    );
}
