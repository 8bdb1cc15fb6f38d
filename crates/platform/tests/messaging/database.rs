use std::str::FromStr;

use relais_platform::{db, testing};
use sqlx::postgres::PgConnectOptions;

#[tokio::test]
async fn replicas_starting_together_all_provision_the_same_role() {
    // Roles are cluster-wide: services starting at once in several
    // databases (or replicas of one) race on the same role row.
    let service = format!("race_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let mut urls = Vec::new();
    for _ in 0..6 {
        urls.push(testing::fresh_database().await.unwrap());
    }
    for round in 0..3 {
        let attempts = urls.iter().map(|url| {
            let opts = PgConnectOptions::from_str(url).unwrap();
            let service = service.clone();
            tokio::spawn(async move { db::provision(&opts, &service, "pw").await })
        });
        for result in futures::future::join_all(attempts).await {
            result
                .unwrap()
                .unwrap_or_else(|e| panic!("round {round}: {e:#}"));
        }
    }
}
