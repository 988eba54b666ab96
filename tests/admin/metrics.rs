//! `GET /metrics`: the Prometheus recorder's text, behind the admin's token.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use zart_admin::prometheus::PrometheusBuilder;
use zart_admin::Admin;
use zart_tests::TestDb;

use super::{send_email, Client};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_serves_the_recorders_metrics_to_its_token_only() {
    // The endpoint renders what the engine recorded; no store behaves differently here.
    let db = TestDb::sqlite().await;
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .expect("no other recorder is installed in this process");
    let zart = db.zart();
    send_email::schedule_now(&zart, "email-1", "ada@example.com".to_owned())
        .await
        .expect("scheduled");

    let client = Client {
        admin: Admin::new(zart).metrics(handle),
    };
    let answer = client.get("/metrics").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(
        answer.headers[header::CONTENT_TYPE],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(
        answer
            .body
            .contains("# TYPE zart_tasks_scheduled_total counter"),
        "{}",
        answer.body
    );
    assert!(
        answer.body.contains("# HELP zart_tasks_scheduled_total "),
        "described: {}",
        answer.body
    );
    assert!(
        answer
            .body
            .lines()
            .any(|line| line == r#"zart_tasks_scheduled_total{task_name="send_email"} 1"#),
        "{}",
        answer.body
    );

    let anonymous = Request::get("/metrics")
        .body(Body::empty())
        .expect("a request");
    let refused = client.send(anonymous).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
    assert!(!refused.body.contains("zart_tasks"), "{}", refused.body);

    let without = Client::new(&db).get("/metrics").await;
    assert_eq!(
        without.status,
        StatusCode::NOT_FOUND,
        "an admin not given a recorder serves no metrics"
    );
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_without_the_token_are_refused_as_the_api_is(db: TestDb) {
    // A scraper reads the refusal: JSON, as the API's, never the page asking for a token.
    let client = Client::new(&db);
    for authorization in [None, Some("Bearer wrong")] {
        let mut request = Request::get("/metrics");
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        let refused = client
            .send(request.body(Body::empty()).expect("a request"))
            .await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
        let content_type = refused.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap_or_default()
            .to_owned();
        assert!(!content_type.contains("html"), "{content_type}");
        assert!(!refused.body.contains("<html"), "{}", refused.body);
        assert_eq!(refused.json()["error"]["code"], "unauthorized");
    }
}
