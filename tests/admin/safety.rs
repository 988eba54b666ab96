//! Safe by default: the token, the browser's cookie, refused cross-site changes, the
//! read-only mode, bounded bodies, escaped values and the security headers.

use axum::body::Body;
use axum::http::{header, Method, Request};
use serde_json::json;
use zart::scheduler::{TaskScheduler, TaskStatus};
use zart_admin::Admin;
use zart_tests::TestDb;

use super::Client;

fn request(method: Method, uri: &str) -> axum::http::request::Builder {
    Request::builder().method(method).uri(uri)
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_the_token_is_refused(db: TestDb) {
    let client = Client::new(&db);
    let token = client.admin.token().to_owned();
    assert!(token.len() >= 32, "a generated token is long: {token}");

    let api = client
        .send(
            request(Method::GET, "/api/v1/overview")
                .body(Body::empty())
                .expect("req"),
        )
        .await;
    assert_eq!(api.status, 401);
    assert_eq!(api.json()["error"]["code"], "unauthorized");
    let page = client
        .send(
            request(Method::GET, "/tasks")
                .body(Body::empty())
                .expect("req"),
        )
        .await;
    assert_eq!(page.status, 401);
    assert!(page.body.contains("Token required"), "{}", page.body);
    let wrong = client
        .send(
            request(Method::GET, "/api/v1/overview")
                .header(header::AUTHORIZATION, "Bearer wrong")
                .body(Body::empty())
                .expect("req"),
        )
        .await;
    assert_eq!(wrong.status, 401);
    let wrong_link = client
        .send(
            request(Method::GET, "/?token=wrong")
                .body(Body::empty())
                .expect("req"),
        )
        .await;
    assert_eq!(wrong_link.status, 401);
    assert!(wrong_link.body.contains("the token is wrong"));

    // A link with the token logs a browser in and takes the token out of the address.
    let login = client
        .send(
            request(Method::GET, &format!("/tasks?status=failed&token={token}"))
                .body(Body::empty())
                .expect("req"),
        )
        .await;
    assert_eq!(login.status, 303, "{}", login.body);
    assert_eq!(login.headers[header::LOCATION], "/tasks?status=failed");
    let cookie = login.headers[header::SET_COOKIE]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap_or_default().to_owned();
    let sneaky = client
        .send(
            request(Method::GET, &format!("//evil.example/?token={token}"))
                .body(Body::empty())
                .expect("req"),
        )
        .await;
    let location = sneaky
        .headers
        .get(header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .unwrap_or_default();
    assert!(
        !location.starts_with("//"),
        "never to another site: {location:?}"
    );
    let with_cookie = client
        .send(
            request(Method::GET, "/tasks")
                .header(header::COOKIE, &pair)
                .body(Body::empty())
                .expect("req"),
        )
        .await;
    assert_eq!(with_cookie.status, 200);

    // The application's own check replaces the token.
    let open = Admin::new(db.zart()).authorize(|parts| parts.headers.contains_key("x-user"));
    let router = open.router();
    let let_in = tower::ServiceExt::oneshot(
        router.clone(),
        request(Method::GET, "/api/v1/overview")
            .header("x-user", "ada")
            .body(Body::empty())
            .expect("req"),
    )
    .await
    .expect("answers");
    assert_eq!(let_in.status(), 200);
    let kept_out = tower::ServiceExt::oneshot(
        router,
        request(Method::GET, "/api/v1/overview")
            .body(Body::empty())
            .expect("req"),
    )
    .await
    .expect("answers");
    assert_eq!(kept_out.status(), 401);
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_change_needs_the_pages_value_and_the_same_site(db: TestDb) {
    db.scheduler
        .schedule_now("t-1", "job", json!({}))
        .await
        .expect("scheduled");
    let client = Client::new(&db);
    let cookie = format!("zart_admin_token={}", client.admin.token());
    let page = client
        .send(
            request(Method::GET, "/tasks/t-1")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .expect("req"),
        )
        .await;
    let csrf = page
        .body
        .split("csrf=")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned();
    assert!(
        csrf.len() >= 32,
        "the page's forms carry the value: {csrf:?}"
    );

    let without = client
        .send(
            request(Method::POST, "/tasks/t-1/cancel")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .expect("req"),
        )
        .await;
    assert_eq!(without.status, 403, "{}", without.body);
    assert!(without.body.contains("anti-forgery"));
    let cross_site = client
        .send(
            request(Method::POST, &format!("/tasks/t-1/cancel?csrf={csrf}"))
                .header(header::COOKIE, &cookie)
                .header("sec-fetch-site", "cross-site")
                .body(Body::empty())
                .expect("req"),
        )
        .await;
    assert_eq!(cross_site.status, 403);
    let other_origin = client
        .send(
            request(Method::POST, &format!("/tasks/t-1/cancel?csrf={csrf}"))
                .header(header::COOKIE, &cookie)
                .header("host", "127.0.0.1:7080")
                .header("origin", "http://evil.example")
                .body(Body::empty())
                .expect("req"),
        )
        .await;
    assert_eq!(other_origin.status, 403);
    assert_eq!(
        db.task("t-1").await.status,
        TaskStatus::Pending,
        "nothing was cancelled"
    );

    let same_site = client
        .send(
            request(Method::POST, &format!("/tasks/t-1/cancel?csrf={csrf}"))
                .header(header::COOKIE, &cookie)
                .header("sec-fetch-site", "same-origin")
                .body(Body::empty())
                .expect("req"),
        )
        .await;
    assert_eq!(same_site.status, 303, "{}", same_site.body);
    assert_eq!(db.task("t-1").await.status, TaskStatus::Cancelled);
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_refuses_changes_and_bodies_are_bounded(db: TestDb) {
    db.scheduler
        .schedule_now("t-1", "job", json!({}))
        .await
        .expect("scheduled");
    let client = Client {
        admin: Admin::new(db.zart()).read_only(true),
    };
    let refused = client.post("/api/v1/tasks/t-1/cancel", None).await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("read-only"));
    assert_eq!(
        client.get("/api/v1/tasks/t-1").await.status,
        200,
        "reading still works"
    );
    assert!(
        !client.get("/tasks/t-1").await.body.contains(">Cancel<"),
        "no buttons"
    );
    assert_eq!(db.task("t-1").await.status, TaskStatus::Pending);

    let client = Client::new(&db);
    let huge = json!({ "name": "big", "payload": "x".repeat(zart_admin::MAX_BODY_BYTES) });
    let too_big = client.post("/api/v1/tasks/t-1/events", Some(huge)).await;
    assert_eq!(too_big.status, 413, "{}", too_big.body);
    let not_json = client
        .send(
            request(Method::POST, "/api/v1/tasks/t-1/events")
                .header(
                    header::AUTHORIZATION,
                    format!("Bearer {}", client.admin.token()),
                )
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{not json"))
                .expect("req"),
        )
        .await;
    assert_eq!(not_json.status, 400, "{}", not_json.body);
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_from_the_database_are_escaped(db: TestDb) {
    let evil = "<script>alert(1)</script>";
    db.scheduler
        .schedule_now(
            evil,
            "<b>name</b>",
            json!({ "html": "<img src=x onerror=alert(2)>" }),
        )
        .await
        .expect("scheduled");
    let client = Client::new(&db);
    let list = client.get("/tasks").await;
    assert_eq!(list.status, 200);
    assert!(
        list.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        list.body
    );
    assert!(!list.body.contains(evil), "never raw");
    assert!(!list.body.contains("<b>name</b>"));
    let detail = client
        .get("/tasks/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
        .await;
    assert_eq!(detail.status, 200, "{}", detail.body);
    assert!(!detail.body.contains("<img src=x"), "input escaped too");
    assert!(detail.body.contains("&lt;img src=x onerror=alert(2)&gt;"));
    let missing = client.get("/no/such/page").await;
    assert_eq!(missing.status, 404);
    assert!(missing.body.contains("no such page"), "{}", missing.body);
    let csp = detail.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(detail.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_what_the_router_serves(db: TestDb) {
    let client = Client::new(&db);
    let document = client.get("/api/v1/openapi.json").await.json();
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().cloned().unwrap_or_default();
    assert!(paths.len() >= 12, "{paths:?}");
    for (path, methods) in paths {
        for method in methods
            .as_object()
            .map(|m| m.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            if path == "/stream" {
                continue; // endless: read in its own test
            }
            let uri = format!(
                "/api/v1{}",
                path.replace("{id}", "x").replace("{action}", "retry")
            );
            let method = Method::from_bytes(method.to_uppercase().as_bytes())
                .unwrap_or_else(|_| panic!("{method} {path}: not a method"));
            let answer = match method {
                Method::GET => client.get(&uri).await,
                _ => {
                    client
                        .call(method.clone(), &uri, Some(json!({"name": "n"})))
                        .await
                }
            };
            assert!(
                !answer.body.contains("no such API route") && answer.status != 405,
                "{method} {path} is documented but not served: {} {}",
                answer.status,
                answer.body
            );
        }
    }
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_told_it_is_wrong(db: TestDb) {
    let client = Client::new(&db);
    for (name, value) in [
        (header::AUTHORIZATION, "Bearer wrong"),
        (header::COOKIE, "zart_admin_token=stale"),
    ] {
        let api = client
            .send(
                request(Method::GET, "/api/v1/overview")
                    .header(name.clone(), value)
                    .body(Body::empty())
                    .expect("req"),
            )
            .await;
        assert_eq!(api.status, 401);
        let message = api.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            message.contains("wrong") && !message.contains("needs its token"),
            "{value}: {message}"
        );
        let page = client
            .send(
                request(Method::GET, "/tasks")
                    .header(name, value)
                    .body(Body::empty())
                    .expect("req"),
            )
            .await;
        assert_eq!(page.status, 401);
        assert!(
            page.body.contains("wrong") && !page.body.contains("needs its token"),
            "{value}: {}",
            page.body
        );
    }
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_only_badge_shows_only_on_a_read_only_admin(db: TestDb) {
    const BADGE: &str = "badge readonly";
    let writable = Client::new(&db);
    let read_only = Client {
        admin: Admin::new(db.zart()).read_only(true),
    };
    for (client, shown) in [(&writable, false), (&read_only, true)] {
        let token_page = client
            .send(
                request(Method::GET, "/tasks")
                    .body(Body::empty())
                    .expect("req"),
            )
            .await;
        assert_eq!(token_page.status, 401);
        let error_page = client.get("/no/such/page").await;
        assert_eq!(error_page.status, 404);
        let list = client.get("/tasks").await;
        assert_eq!(list.status, 200);
        for (what, page) in [
            ("token page", token_page),
            ("error page", error_page),
            ("list", list),
        ] {
            assert_eq!(
                page.body.contains(BADGE),
                shown,
                "read-only {shown}: the {what}: {}",
                page.body
            );
        }
    }
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_redirect_stays_inside_the_admin(db: TestDb) {
    let admin = Admin::new(db.zart());
    let token = admin.token().to_owned();
    let nested = axum::Router::new().nest("/admin", admin.router());
    for (router, base) in [(admin.router(), ""), (nested, "/admin")] {
        for (path, expected) in [
            ("/", "/"),
            ("/tasks?status=failed&", "/tasks?status=failed"),
            ("//evil.example/", "/evil.example/"),
            ("/\\evil.example/", "/evil.example/"),
            ("/\\/evil.example/", "/evil.example/"),
            ("/tasks/\\evil", "/tasks/%5Cevil"),
        ] {
            let separator = if path.contains('?') { "" } else { "?" };
            // Nested, the admin's root is `/admin` itself: `/admin/` is no route of it.
            let path = match (base, path) {
                ("/admin", "/") => "",
                (_, path) => path,
            };
            let uri = format!("{base}{path}{separator}token={token}");
            let login = super::answer(
                router.clone(),
                request(Method::GET, &uri).body(Body::empty()).expect("req"),
            )
            .await;
            assert_eq!(login.status, 303, "{uri}: {}", login.body);
            let location = login
                .headers
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .unwrap_or_default();
            let expected = match (base, expected) {
                ("", expected) => expected.to_owned(),
                (base, "/") => base.to_owned(),
                (base, expected) => format!("{base}{expected}"),
            };
            assert_eq!(location, expected, "{uri}");
            let followed = super::answer(
                router.clone(),
                request(Method::GET, location)
                    .header(header::AUTHORIZATION, format!("Bearer {token}"))
                    .body(Body::empty())
                    .expect("req"),
            )
            .await;
            if !expected.contains("evil") {
                assert_eq!(followed.status, 200, "{location}: {}", followed.body);
            }
        }
    }
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_and_redirects_follow_the_path_the_admin_is_nested_at(db: TestDb) {
    db.scheduler
        .schedule_now("t-1", "job", json!({}))
        .await
        .expect("scheduled");
    let admin = Admin::new(db.zart());
    let nested = axum::Router::new().nest("/admin", admin.router());
    let bearer = format!("Bearer {}", admin.token());
    let get = |uri: &str| {
        request(Method::GET, uri)
            .header(header::AUTHORIZATION, &bearer)
            .body(Body::empty())
            .expect("req")
    };
    let mut links = std::collections::BTreeSet::new();
    for uri in [
        "/admin",
        "/admin/tasks",
        "/admin/tasks/t-1",
        "/admin/queues",
    ] {
        let page = super::answer(nested.clone(), get(uri)).await;
        assert_eq!(page.status, 200, "{uri}: {}", page.body);
        for link in page.body.split("href=\"").skip(1) {
            let link = link.split('"').next().unwrap_or_default();
            links.insert(link.replace("&amp;", "&"));
        }
    }
    assert!(
        links.contains("/admin"),
        "the overview is linked: {links:?}"
    );
    for link in links {
        assert!(link.starts_with("/admin"), "{link}");
        let page = super::answer(nested.clone(), get(&link)).await;
        assert_eq!(page.status, 200, "{link}: {}", page.body);
    }
    let unknown = super::answer(nested.clone(), get("/admin/no/such/page")).await;
    assert_eq!(unknown.status, 404);
    assert!(
        unknown.body.contains("href=\"/admin\""),
        "back to the overview: {}",
        unknown.body
    );
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bidirectional_controls_in_ids_are_shown_not_obeyed(db: TestDb) {
    // Shown as the controls order it, this id reads `invoice-exe.png`.
    let id = "invoice-\u{202e}gnp.exe";
    db.scheduler
        .schedule_now(id, "job\u{2067}", json!({}))
        .await
        .expect("scheduled");
    let client = Client::new(&db);
    let list = client.get("/tasks").await;
    let detail = client.get("/tasks/invoice-%E2%80%AEgnp.exe").await;
    assert_eq!(detail.status, 200, "{}", detail.body);
    for (what, page) in [("list", &list), ("detail", &detail)] {
        assert!(
            !page.body.contains('\u{202e}') && !page.body.contains('\u{2067}'),
            "the {what} holds no raw control: {}",
            page.body
        );
        assert!(
            page.body.contains("invoice-\\u{202e}gnp.exe"),
            "the {what} shows the control: {}",
            page.body
        );
        assert!(page.body.contains("job\\u{2067}"), "{}", page.body);
        assert!(
            page.body.contains("<bdi>invoice-"),
            "the {what} isolates the id from the text around it: {}",
            page.body
        );
    }
    let api = client.get("/api/v1/tasks/invoice-%E2%80%AEgnp.exe").await;
    assert_eq!(
        api.json()["task"]["id"],
        id,
        "the API keeps the id as it is"
    );
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_failure_is_logged_not_told(db: TestDb) {
    let warnings = zart_tests::logs::warnings();
    db.scheduler
        .schedule_now("t-1", "job", json!({}))
        .await
        .expect("scheduled");
    let events = db.zart_table("events");
    db.execute(&format!("DROP TABLE {events}")).await;
    let client = Client::new(&db);
    let api = client.get("/api/v1/tasks/t-1").await;
    assert_eq!(api.status, 500, "{}", api.body);
    assert_eq!(api.json()["error"]["code"], "internal");
    let page = client.get("/tasks/t-1").await;
    assert_eq!(page.status, 500, "{}", page.body);
    let table = events
        .trim_matches('"')
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .trim_matches('"')
        .to_owned();
    for (what, body) in [("API", &api.body), ("page", &page.body)] {
        for secret in [table.as_str(), "relation", "no such table", "SQL"] {
            assert!(
                !body.contains(secret),
                "the {what} tells {secret:?}: {body}"
            );
        }
    }
    assert!(
        !warnings.containing(&table).is_empty(),
        "the log has what failed"
    );
}
