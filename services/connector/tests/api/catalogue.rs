//! ERP → shop catalogue (seed 004): a pull cut short by a restart goes on
//! where it stopped. (Families, articles, stock and prices becoming the
//! shop's catalogue, end to end: `tests/e2e`.)

use crate::stack::fields;
use relais_connector::adapter::ErpAdapter;
use relais_platform::testing;
use relais_proto::{
    catalogue::ListProductsRequest,
    connector::{ConflictPolicy, RunStatus},
};
use serde_json::json;

use crate::stack::spawn;

#[tokio::test]
async fn a_pull_cut_short_by_a_restart_goes_on_with_nothing_twice() {
    let mut stack = spawn().await;
    let connection = stack.connect(ConflictPolicy::ErpWins).await;
    let erp = stack.erp();
    let n = 1200;
    for i in 0..n {
        erp.upsert(
            "article",
            None,
            &format!("art-{i}"),
            &fields(json!({
                "sku": format!("SKU-{i:05}"), "designation": format!("Article {i}"),
                "price_cents": 100 + i, "vat_rate_bp": 2000, "active": true,
            })),
        )
        .await
        .unwrap();
    }
    // The first run stops when the connector does, after its first pages.
    let mut stream = stack
        .connector
        .clone()
        .run_sync(stack.admin(relais_proto::connector::RunSyncRequest {
            connection_id: connection.clone(),
            family: "catalogue".into(),
            full: false,
        }))
        .await
        .unwrap()
        .into_inner();
    loop {
        let m = stream.message().await.unwrap().unwrap();
        if m.run.unwrap().done >= 200 {
            break;
        }
    }
    stack.stop_connector();
    drop(stream);
    stack.start_connector().await;
    let runs = testing::eventually(std::time::Duration::from_secs(20), || async {
        let runs = stack
            .connector
            .clone()
            .list_runs(stack.admin(relais_proto::connector::ListRunsRequest {
                connection_id: connection.clone(),
                page: None,
            }))
            .await
            .ok()?
            .into_inner()
            .runs;
        runs.iter().all(|r| r.finished_at.is_some()).then_some(runs)
    })
    .await
    .expect("the interrupted run is closed");
    let first = &runs[0];
    assert_eq!(first.status(), RunStatus::Failed, "{first:?}");
    assert!(first.applied < n, "cut short: {first:?}");
    assert!(
        first.errors.iter().any(|e| e.contains("interrupted")),
        "{first:?}"
    );

    let again = stack.sync(&connection, "catalogue", false).await.unwrap();
    let again = again.last().unwrap().run.clone().unwrap();
    assert_eq!(again.status(), RunStatus::Succeeded, "{again:?}");
    assert_eq!(
        again.applied + first.applied,
        n,
        "what the first run applied is skipped, the rest applied: {first:?} {again:?}"
    );
    let mut skus = Vec::new();
    let mut token = String::new();
    loop {
        let page = stack
            .catalogue
            .clone()
            .list_products(stack.admin(ListProductsRequest {
                page: Some(relais_proto::types::PageRequest {
                    page_size: 500,
                    page_token: token,
                }),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        skus.extend(page.products.into_iter().map(|p| p.sku));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let total = skus.len();
    skus.sort();
    skus.dedup();
    assert_eq!(
        (total, skus.len()),
        (n as usize, n as usize),
        "each article once"
    );
}
