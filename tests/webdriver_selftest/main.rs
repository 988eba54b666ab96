//! Checks the WebDriver client against a real headless Chromium and a tiny local page.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use serde_json::json;
use zart_tests::webdriver::{Browser, WebDriverError};

const PAGE: &str = r#"<!doctype html>
<html><head><title>Zart WebDriver self-test</title>
<style>body { font: 24px sans-serif; background: #e8f0ff; margin: 40px }
#out { margin-top: 20px; padding: 10px; background: #ffd; border: 2px solid #c90 }</style>
</head><body>
<h1>WebDriver self-test</h1>
<button id="go" data-kind="primary">Go</button>
<input id="name" value="initial">
<div id="out">waiting</div>
<ul><li>one</li><li>two</li><li>three</li></ul>
<script>
document.getElementById('go').addEventListener('click', () => {
  const out = document.getElementById('out');
  out.textContent = 'clicked';
  out.textContent = confirm('Are you sure?') ? 'confirmed' : 'cancelled';
});
</script>
</body></html>"#;

/// Serves `PAGE` for every request, forever, from a thread; returns its base URL.
fn serve() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{PAGE}",
                PAGE.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    url
}

#[test]
fn drives_a_real_browser() {
    let started = Instant::now();
    let url = serve();
    let browser = Browser::start().expect("start browser");
    println!("browser up in {:?}", started.elapsed());
    let wait = Duration::from_secs(5);

    browser.goto(&url).expect("goto");
    assert_eq!(browser.current_url().expect("url"), url);
    assert_eq!(browser.title().expect("title"), "Zart WebDriver self-test");
    assert!(browser
        .page_source()
        .expect("source")
        .contains("id=\"out\""));

    let shot = std::env::temp_dir().join("zart-webdriver-selftest.png");
    browser.screenshot(&shot).expect("screenshot");
    let png = std::fs::read(&shot).expect("read screenshot");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&png[png.len() - 8..png.len() - 4], b"IEND", "PNG ends");
    println!("screenshot: {} ({} bytes)", shot.display(), png.len());

    let items = browser.find_all("li").expect("find_all");
    let texts: Vec<String> = items.iter().map(|li| li.text().expect("li text")).collect();
    assert_eq!(texts, ["one", "two", "three"]);
    assert!(browser.find_all("table").expect("find_all none").is_empty());

    let button = browser.find("#go").expect("button");
    assert_eq!(
        button.attr("data-kind").expect("attr").as_deref(),
        Some("primary")
    );
    assert_eq!(button.attr("data-none").expect("attr none"), None);

    let input = browser.find("#name").expect("input");
    input.clear().expect("clear");
    input.send_keys("zart").expect("send_keys");
    assert_eq!(input.prop("value").expect("value"), json!("zart"));
    assert_eq!(
        input.attr("value").expect("attr").as_deref(),
        Some("initial")
    );

    match browser.find("#missing") {
        Err(WebDriverError::WebDriver { error, .. }) => assert_eq!(error, "no such element"),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("found #missing"),
    }
    match browser.alert_text() {
        Err(WebDriverError::WebDriver { error, .. }) => assert_eq!(error, "no such alert"),
        other => panic!("alert text without alert: {:?}", other.map(|_| ())),
    }

    // Accept the confirm.
    button.click().expect("click");
    browser
        .wait_for("the confirm", wait, |b| b.alert_text().map(|_| true))
        .expect("confirm opens");
    assert_eq!(browser.alert_text().expect("alert text"), "Are you sure?");
    browser.accept_alert().expect("accept");
    let text = browser
        .wait_for_text("#out", "confirmed", wait)
        .expect("text after accept");
    assert_eq!(text, "confirmed");

    // Dismiss it this time.
    button.click().expect("click again");
    browser
        .wait_for("the confirm", wait, |b| b.alert_text().map(|_| true))
        .expect("confirm opens again");
    browser.dismiss_alert().expect("dismiss");
    browser
        .wait_for_text("#out", "cancelled", wait)
        .expect("text after dismiss");

    let title = browser
        .execute("return document.title", vec![])
        .expect("execute");
    assert_eq!(title, json!("Zart WebDriver self-test"));
    let sum = browser
        .execute(
            "return arguments[0] + arguments[1].textContent.length",
            vec![json!(40), browser.find("#out").expect("out").to_arg()],
        )
        .expect("execute with args");
    assert_eq!(sum, json!(40 + "cancelled".len()));

    browser.add_cookie("zart", "yes").expect("cookie");
    let cookies = browser
        .execute("return document.cookie", vec![])
        .expect("cookies");
    assert!(cookies.as_str().unwrap_or_default().contains("zart=yes"));

    let waited = Instant::now();
    match browser.wait_for_text("#out", "never", Duration::from_millis(300)) {
        Err(WebDriverError::Timeout(m)) => {
            assert!(m.contains("\"never\""), "names what it waited for: {m}");
            println!("timeout message: {m}");
        }
        other => panic!("expected a timeout: {other:?}"),
    }
    assert!(waited.elapsed() >= Duration::from_millis(300));

    drop(browser);
    println!("whole test in {:?}", started.elapsed());
}
