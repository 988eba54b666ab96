//! A minimal, blocking W3C WebDriver client for browser tests: headless Chromium driven
//! through a chromedriver of its own, spoken to over a tiny HTTP/1.1 client on std only.
//!
//! Every call blocks; from async tests use `tokio::task::spawn_blocking` or a thread.
//! There is no implicit wait: use [`Browser::wait_for`] and [`Browser::wait_for_text`].

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const IO_TIMEOUT: Duration = Duration::from_secs(30);
const START_TIMEOUT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(50);
/// The key under which W3C WebDriver puts an element reference in JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// What went wrong talking to the browser.
#[derive(Debug)]
pub enum WebDriverError {
    /// Spawning chromedriver, or the socket to it, failed.
    Io(io::Error),
    /// chromedriver answered something that is not a WebDriver response.
    Protocol(String),
    /// chromedriver answered with a WebDriver error, e.g. `no such element`.
    WebDriver {
        /// The HTTP status of the response.
        status: u16,
        /// The WebDriver error code, e.g. `no such alert`.
        error: String,
        /// chromedriver's explanation.
        message: String,
    },
    /// An explicit wait ran out; says what it waited for and the last error seen, if any.
    Timeout(String),
}

impl fmt::Display for WebDriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "webdriver I/O: {e}"),
            Self::Protocol(m) => write!(f, "webdriver protocol: {m}"),
            Self::WebDriver { error, message, .. } => write!(f, "webdriver {error}: {message}"),
            Self::Timeout(m) => write!(f, "timed out waiting for {m}"),
        }
    }
}

impl std::error::Error for WebDriverError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for WebDriverError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// The result of every browser call.
pub type Result<T, E = WebDriverError> = std::result::Result<T, E>;

fn protocol(message: impl Into<String>) -> WebDriverError {
    WebDriverError::Protocol(message.into())
}

/// A fresh Chromium profile directory, removed on drop.
struct Profile(PathBuf);

impl Profile {
    fn create() -> Result<Profile> {
        static CREATED: AtomicU32 = AtomicU32::new(0);
        let n = CREATED.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("zart-webdriver-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(Profile(dir))
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        // Chromium may still be flushing the profile for a moment after it exits.
        for _ in 0..20 {
            if std::fs::remove_dir_all(&self.0).is_ok() || !self.0.exists() {
                break;
            }
            std::thread::sleep(POLL);
        }
    }
}

/// The chromedriver process and its profile: a struct of its own so that a half-started
/// [`Browser`] is cleaned up by `Drop` on every error path.
struct Driver {
    child: Child,
    port: u16,
    // Dropped after `drop` below has killed chromedriver, so Chromium is gone by then.
    profile: Profile,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // chromedriver reaches Chromium over a port, so a Chromium still running now (the
        // session could not be ended) would outlive chromedriver: ask it to quit first.
        // std cannot signal another process, hence kill(1).
        let threads = std::fs::read_dir(format!("/proc/{}/task", self.child.id()));
        let mut chromium = Vec::new();
        for thread in threads.into_iter().flatten().flatten() {
            let children = std::fs::read_to_string(thread.path().join("children"));
            let children = children.unwrap_or_default();
            chromium.extend(children.split_whitespace().map(str::to_owned));
        }
        for pid in &chromium {
            let mut kill = Command::new("kill");
            let _ = kill.args(["-TERM", pid]).stderr(Stdio::null()).status();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while chromium.iter().any(|pid| running(pid)) && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
        // Kill and reap so no zombie outlives the test; errors here mean it is gone already.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether process `pid` still runs: it exists and is not a zombie.
fn running(pid: &str) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The state follows the command name, which is in parentheses and may hold anything.
    let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
    state.is_some_and(|state| !state.starts_with('Z'))
}

/// A headless Chromium with one WebDriver session, on a chromedriver of its own.
/// Dropping it ends the session, kills chromedriver and removes the profile directory.
pub struct Browser {
    driver: Driver,
    session: String,
}

impl Browser {
    /// Starts chromedriver on a free port, waits until it is ready and opens a session.
    pub fn start() -> Result<Browser> {
        // Binding port 0 and letting go races with other processes, but the window is tiny
        // and a lost race shows up as chromedriver exiting, which `wait_ready` reports.
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let profile = Profile::create()?;
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mut driver = Driver {
            child,
            port,
            profile,
        };
        wait_ready(&mut driver)?;

        let user_data_dir = format!("--user-data-dir={}", driver.profile.0.display());
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,900", user_data_dir,
            ]},
            "timeouts": { "implicit": 0, "pageLoad": 30_000, "script": 30_000 },
            // Leave prompts open for the test to handle rather than dismissing them behind
            // its back, which would make a confirm() silently answer "cancel".
            "unhandledPromptBehavior": "ignore",
        }}});
        let created = call(port, "POST", "/session", Some(&capabilities))?;
        let session = created.get("sessionId").and_then(Value::as_str);
        let session = session.ok_or_else(|| protocol(format!("no sessionId in {created}")))?;
        Ok(Browser {
            session: session.to_owned(),
            driver,
        })
    }

    /// Sends a command for this session: `path` is relative to `/session/{id}`.
    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let path = format!("/session/{}{path}", self.session);
        // POST needs a JSON body even when the command takes no parameters.
        let body = body.or_else(|| (method == "POST").then(|| json!({})));
        call(self.driver.port, method, &path, body.as_ref())
    }

    /// Opens `url` and waits for it to load.
    pub fn goto(&self, url: &str) -> Result<()> {
        self.cmd("POST", "/url", Some(json!({ "url": url })))
            .map(drop)
    }

    /// The URL of the current page.
    pub fn current_url(&self) -> Result<String> {
        string(self.cmd("GET", "/url", None)?)
    }

    /// The title of the current page.
    pub fn title(&self) -> Result<String> {
        string(self.cmd("GET", "/title", None)?)
    }

    /// The serialized DOM of the current page.
    pub fn page_source(&self) -> Result<String> {
        string(self.cmd("GET", "/source", None)?)
    }

    /// The first element matching the CSS selector, now; `no such element` if none.
    pub fn find(&self, css: &str) -> Result<Element<'_>> {
        let found = self.cmd("POST", "/element", Some(locator(css)))?;
        Element::from_json(self, &found)
    }

    /// Every element matching the CSS selector, now; possibly none.
    pub fn find_all(&self, css: &str) -> Result<Vec<Element<'_>>> {
        match self.cmd("POST", "/elements", Some(locator(css)))? {
            Value::Array(found) => found.iter().map(|e| Element::from_json(self, e)).collect(),
            other => Err(protocol(format!("not a list: {other}"))),
        }
    }

    /// Runs `script` as the body of a function given `args` (in `arguments`) and returns
    /// what it returns; pass elements with [`Element::to_arg`].
    pub fn execute(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        let body = json!({ "script": script, "args": args });
        self.cmd("POST", "/execute/sync", Some(body))
    }

    /// Presses OK on the open alert, confirm or prompt.
    pub fn accept_alert(&self) -> Result<()> {
        self.cmd("POST", "/alert/accept", None).map(drop)
    }

    /// Presses Cancel on the open alert, confirm or prompt.
    pub fn dismiss_alert(&self) -> Result<()> {
        self.cmd("POST", "/alert/dismiss", None).map(drop)
    }

    /// The message of the open alert, confirm or prompt; `no such alert` if none is open.
    pub fn alert_text(&self) -> Result<String> {
        string(self.cmd("GET", "/alert/text", None)?)
    }

    /// Sets a cookie for the current page's domain, so a page of it must be open first.
    pub fn add_cookie(&self, name: &str, value: &str) -> Result<()> {
        let body = json!({ "cookie": { "name": name, "value": value } });
        self.cmd("POST", "/cookie", Some(body)).map(drop)
    }

    /// Saves a PNG of the viewport to `path`.
    pub fn screenshot(&self, path: impl AsRef<Path>) -> Result<()> {
        let png = base64_decode(&string(self.cmd("GET", "/screenshot", None)?)?)?;
        std::fs::write(path, png).map_err(Into::into)
    }

    /// Polls `ready` every 50 ms until it says `true`, for at most `timeout`; `what` names
    /// the awaited condition in the timeout error. WebDriver errors from `ready` (say, the
    /// element is not there yet) count as "not yet"; I/O and protocol errors end the wait.
    pub fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        mut ready: impl FnMut(&Browser) -> Result<bool>,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match ready(self) {
                Ok(true) => return Ok(()),
                Ok(false) => None,
                Err(e @ WebDriverError::WebDriver { .. }) => Some(e),
                Err(e) => return Err(e),
            };
            if Instant::now() >= deadline {
                let last = last.map(|e| format!(" (last: {e})")).unwrap_or_default();
                let what = format!("{what} after {timeout:?}{last}");
                return Err(WebDriverError::Timeout(what));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Waits until the first element matching `css` has text containing `needle`, and
    /// returns that text.
    pub fn wait_for_text(&self, css: &str, needle: &str, timeout: Duration) -> Result<String> {
        let mut text = String::new();
        let what = format!("text {needle:?} in {css:?}");
        self.wait_for(&what, timeout, |b| {
            text = b.find(css)?.text()?;
            Ok(text.contains(needle))
        })
        .map_err(|e| match e {
            WebDriverError::Timeout(m) => WebDriverError::Timeout(format!("{m}; text: {text:?}")),
            e => e,
        })?;
        Ok(text)
    }
}

/// How long [`Browser::click`], [`Browser::text`] and [`Browser::type_into`] try again
/// while the element they found is replaced under them.
const REPLACED_FOR: Duration = Duration::from_secs(10);

impl Browser {
    /// Clicks the first element matching `css`, again if a live update replaced it
    /// meanwhile (or it was not laid out yet to take the click).
    pub fn click(&self, css: &str) -> Result<()> {
        self.again_if_replaced(|| self.find(css)?.click())
    }

    /// The text of the first element matching `css`, read again if a live update replaced
    /// it meanwhile.
    pub fn text(&self, css: &str) -> Result<String> {
        self.again_if_replaced(|| self.find(css)?.text())
    }

    /// Empties the field matching `css` and types `keys` into it, again if a live update
    /// replaced it before it had the focus.
    pub fn type_into(&self, css: &str, keys: &str) -> Result<()> {
        self.again_if_replaced(|| {
            let field = self.find(css)?;
            field.clear()?;
            field.send_keys(keys)
        })
    }

    fn again_if_replaced<T>(&self, mut act: impl FnMut() -> Result<T>) -> Result<T> {
        let deadline = Instant::now() + REPLACED_FOR;
        loop {
            match act() {
                Err(error) if replaced(&error) && Instant::now() < deadline => continue,
                done => return done,
            }
        }
    }
}

/// Whether `error` says the element was replaced (a live update redrew the region), or is
/// not laid out yet to take a click (a busy machine draws late): worth another try.
fn replaced(error: &WebDriverError) -> bool {
    matches!(error, WebDriverError::WebDriver { error, .. }
        if error == "stale element reference" || error == "element not interactable")
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session makes chromedriver quit Chromium; the Driver then goes too.
        let path = format!("/session/{}", self.session);
        let _ = call(self.driver.port, "DELETE", &path, None);
    }
}

/// An element found on the page of a [`Browser`].
pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

impl<'a> Element<'a> {
    fn from_json(browser: &'a Browser, found: &Value) -> Result<Self> {
        let id = found.get(ELEMENT_KEY).and_then(Value::as_str);
        let id = id.ok_or_else(|| protocol(format!("not an element: {found}")))?;
        Ok(Element {
            browser,
            id: id.to_owned(),
        })
    }

    fn cmd(&self, method: &str, what: &str, body: Option<Value>) -> Result<Value> {
        let path = format!("/element/{}{what}", self.id);
        self.browser.cmd(method, &path, body)
    }

    /// This element as an argument for [`Browser::execute`].
    pub fn to_arg(&self) -> Value {
        json!({ ELEMENT_KEY: self.id })
    }

    /// Scrolls to the element and clicks its middle.
    pub fn click(&self) -> Result<()> {
        self.cmd("POST", "/click", None).map(drop)
    }

    /// Its rendered text, as the user sees it.
    pub fn text(&self) -> Result<String> {
        string(self.cmd("GET", "/text", None)?)
    }

    /// The HTML attribute `name` as in the markup (an input's `value` stays the initial
    /// one; see [`prop`](Self::prop)); `None` if unset.
    pub fn attr(&self, name: &str) -> Result<Option<String>> {
        match self.cmd("GET", &format!("/attribute/{name}"), None)? {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            other => Ok(Some(other.to_string())),
        }
    }

    /// The DOM property `name`, live (an input's current `value`, a box's `checked`).
    pub fn prop(&self, name: &str) -> Result<Value> {
        self.cmd("GET", &format!("/property/{name}"), None)
    }

    /// Types `text` into the element, as keystrokes.
    pub fn send_keys(&self, text: &str) -> Result<()> {
        let body = json!({ "text": text });
        self.cmd("POST", "/value", Some(body)).map(drop)
    }

    /// Empties an input or textarea.
    pub fn clear(&self) -> Result<()> {
        self.cmd("POST", "/clear", None).map(drop)
    }
}

fn locator(css: &str) -> Value {
    json!({ "using": "css selector", "value": css })
}

fn string(value: Value) -> Result<String> {
    match value {
        Value::String(s) => Ok(s),
        other => Err(protocol(format!("not a string: {other}"))),
    }
}

/// Polls `/status` until chromedriver is up, failing early if it has exited.
fn wait_ready(driver: &mut Driver) -> Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(status) = driver.child.try_wait()? {
            return Err(protocol(format!("chromedriver exited at start ({status})")));
        }
        // Connection refused just means it is not listening yet.
        let status = call(driver.port, "GET", "/status", None);
        if let Ok(Some(true)) = status.map(|s| s.get("ready").and_then(Value::as_bool)) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let m = format!("chromedriver ready on port {}", driver.port);
            return Err(WebDriverError::Timeout(m));
        }
        std::thread::sleep(POLL);
    }
}

/// One WebDriver command: returns the response's `value`, or its error as an `Err`.
fn call(port: u16, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
    let (status, body) = http(port, method, path, body)?;
    let mut reply: Value = serde_json::from_slice(&body).map_err(|e| {
        let body = String::from_utf8_lossy(&body);
        protocol(format!("{method} {path}: HTTP {status}, {e}: {body:.200}"))
    })?;
    let value = reply.get_mut("value").map_or(Value::Null, Value::take);
    match value.get("error").and_then(Value::as_str) {
        Some(error) => Err(WebDriverError::WebDriver {
            status,
            error: error.to_owned(),
            message: value["message"].as_str().unwrap_or_default().to_owned(),
        }),
        None if status != 200 => Err(protocol(format!("{method} {path}: HTTP {status}: {value}"))),
        None => Ok(value),
    }
}

/// One HTTP/1.1 request on a fresh connection; returns the status and the body.
fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(format!("{head}{body}").as_bytes())?;
    // Stop as soon as the response is complete by its own framing rather than trusting
    // the server to close on `Connection: close`.
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut buf)?;
        raw.extend_from_slice(&buf[..n]);
        if let Some(response) = parse_response(&raw, n == 0)? {
            return Ok(response);
        }
    }
}

/// Parses a response once it is complete: `None` means read more. `eof` says the server
/// has closed, so whatever is there is all there will be.
fn parse_response(raw: &[u8], eof: bool) -> Result<Option<(u16, Vec<u8>)>> {
    let truncated = || protocol("connection closed mid-response");
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if eof { Err(truncated()) } else { Ok(None) };
    };
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok());
    let status = status.ok_or_else(|| protocol(format!("bad status line {status_line:?}")))?;
    let (mut length, mut chunked) = (None, false);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        if name == "content-length" {
            length = value.parse::<usize>().ok();
        } else if name == "transfer-encoding" {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    let rest = &raw[end + 4..];
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(n) = length {
        (rest.len() >= n).then(|| rest[..n].to_vec())
    } else {
        eof.then(|| rest.to_vec())
    };
    match body {
        Some(body) => Ok(Some((status, body))),
        None if eof => Err(truncated()),
        None => Ok(None),
    }
}

/// Decodes a chunked body; `None` until the last (zero-size) chunk has arrived.
fn dechunk(mut data: &[u8]) -> Result<Option<Vec<u8>>> {
    let mut body = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let line = String::from_utf8_lossy(&data[..eol]);
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16);
        let size = size.map_err(|_| protocol(format!("bad chunk size {line:?}")))?;
        if size == 0 {
            // Trailers, if any, are of no interest.
            return Ok(Some(body));
        }
        let start = eol + 2;
        if data.len() < start + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&data[start..start + size]);
        data = &data[start + size + 2..];
    }
}

/// Decodes standard base64 (with or without padding), as WebDriver screenshots come.
fn base64_decode(text: &str) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let sextet = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            b'\r' | b'\n' | b' ' => continue,
            _ => return Err(protocol(format!("bad base64 byte {c:#04x}"))),
        };
        acc = (acc << 6) | u32::from(sextet);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            // Truncation keeps just the completed byte; the bits below stay for the next.
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}
