use relais_proto::catalogue::{
    CreateCategoryRequest, GetCategoryRequest, ListCategoriesRequest, UpdateCategoryRequest,
};
use tonic::Code;

use crate::{
    helpers::{TestApp, spawn_app},
    support::assert_bad_field,
};

async fn create(app: &mut TestApp, code: &str, parent: &str) -> String {
    app.client
        .create_category(app.admin(CreateCategoryRequest {
            parent_id: parent.into(),
            code: code.into(),
            name: format!("Famille {code}"),
            active: true,
            ..Default::default()
        }))
        .await
        .expect("category created")
        .into_inner()
        .category
        .unwrap()
        .id
}

fn move_to(id: &str, code: &str, parent: &str) -> UpdateCategoryRequest {
    UpdateCategoryRequest {
        id: id.into(),
        parent_id: parent.into(),
        code: code.into(),
        name: format!("Famille {code}"),
        active: true,
        ..Default::default()
    }
}

#[tokio::test]
async fn the_tree_lists_parents_before_children() {
    let mut app = spawn_app().await;
    let root = create(&mut app, "ENT", "").await;
    let child = create(&mut app, "ENT-SOLS", &root).await;
    let grandchild = create(&mut app, "ENT-SOLS-PAR", &child).await;
    let other = create(&mut app, "HYG", "").await;
    let tree = app
        .client
        .list_categories(app.admin(ListCategoriesRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .categories;
    let ids: Vec<&str> = tree.iter().map(|c| c.id.as_str()).collect();
    let pos = |id: &str| ids.iter().position(|x| *x == id).unwrap();
    assert_eq!(ids.len(), 4);
    assert!(pos(&root) < pos(&child) && pos(&child) < pos(&grandchild));
    assert!(
        pos(&other) < pos(&grandchild),
        "depth first: roots come first"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_move_that_would_close_a_cycle_is_refused() {
    let mut app = spawn_app().await;
    let a = create(&mut app, "A", "").await;
    let b = create(&mut app, "B", &a).await;
    let c = create(&mut app, "C", &b).await;

    let status = app
        .client
        .update_category(app.admin(move_to(&a, "A", &c)))
        .await
        .expect_err("cycle");
    assert_bad_field(&status, "parent_id");
    assert!(status.message().contains("cycle"), "{}", status.message());

    let status = app
        .client
        .update_category(app.admin(move_to(&b, "B", &b)))
        .await
        .expect_err("self");
    assert_bad_field(&status, "parent_id");

    // Nothing moved.
    let a_now = app
        .client
        .get_category(app.admin(GetCategoryRequest { id: a.clone() }))
        .await
        .unwrap()
        .into_inner()
        .category
        .unwrap();
    assert_eq!(a_now.parent_id, "");
    assert_eq!(a_now.version, 1);

    // A legal move works.
    let moved = app
        .client
        .update_category(app.admin(move_to(&c, "C", &a)))
        .await
        .unwrap()
        .into_inner()
        .category
        .unwrap();
    assert_eq!(moved.parent_id, a);
    assert_eq!(moved.version, 2);
    app.stop().await;
}

#[tokio::test]
async fn codes_are_unique_and_unknown_ids_are_not_found() {
    let mut app = spawn_app().await;
    create(&mut app, "DUP", "").await;
    let dup = app
        .client
        .create_category(app.admin(CreateCategoryRequest {
            code: "DUP".into(),
            name: "x".into(),
            ..Default::default()
        }))
        .await
        .expect_err("duplicate");
    assert_eq!(dup.code(), Code::AlreadyExists);
    let missing = app
        .client
        .get_category(app.admin(GetCategoryRequest {
            id: uuid::Uuid::now_v7().to_string(),
        }))
        .await
        .expect_err("missing");
    assert_eq!(missing.code(), Code::NotFound);
    let malformed = app
        .client
        .get_category(app.admin(GetCategoryRequest { id: "42".into() }))
        .await
        .expect_err("malformed");
    assert_bad_field(&malformed, "id");
    let orphan = app
        .client
        .create_category(app.admin(CreateCategoryRequest {
            parent_id: uuid::Uuid::now_v7().to_string(),
            code: "ORPHAN".into(),
            name: "x".into(),
            ..Default::default()
        }))
        .await
        .expect_err("unknown parent");
    assert_bad_field(&orphan, "parent_id");
    app.stop().await;
}
