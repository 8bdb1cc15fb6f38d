use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{helpers::spawn_app, support::*};

pub async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn the_admin_port_reports_health_and_outbox_metrics() {
    let mut app = spawn_app().await;
    assert!(
        get(app.admin_addr, "/livez")
            .await
            .starts_with("HTTP/1.0 200")
    );
    let ready = get(app.admin_addr, "/readyz").await;
    assert!(ready.starts_with("HTTP/1.0 200"), "{ready}");
    assert!(ready.contains("postgres: ok") && ready.contains("nats: ok"));
    app.client
        .create_product(app.admin(product("M", 1)))
        .await
        .unwrap();
    app.events(1).await;
    // The relay exports its gauges at most once a second.
    let metrics =
        relais_platform::testing::eventually(std::time::Duration::from_secs(5), || async {
            let m = get(app.admin_addr, "/metrics").await;
            let all = [
                "relais_outbox_backlog",
                "relais_outbox_oldest_unpublished_seconds",
                "relais_outbox_published_total",
            ];
            all.iter().all(|name| m.contains(name)).then_some(m)
        })
        .await
        .expect("outbox metrics exported");
    assert!(metrics.contains("relais_grpc_requests_total"));
    app.stop().await;
}
