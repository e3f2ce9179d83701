//! Headless Chromium (Debian `chromium`) driven over the `DevTools` protocol: navigate,
//! evaluate JavaScript, take screenshots. Loopback only; a fresh profile per browser.

use serde_json::{Value, json};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tmc_test_support::{Process, http};
use tungstenite::{Message, WebSocket};

/// These tests run the real browser: without it they fail, naming the install command.
pub(crate) fn require_chromium() {
    assert!(
        Command::new("chromium")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success()),
        "chromium is missing: install it with `apt-get install chromium` (scripts/test.sh does, as root)"
    );
}

/// A running headless Chromium and a `DevTools` session on its one page; killed (with its
/// renderers) when dropped.
pub(crate) struct Browser {
    process: Process,
    ws: WebSocket<TcpStream>,
    next_id: u64,
}

impl Browser {
    /// Starts Chromium with a new profile under `dir` (its temp files too), its window
    /// `width` x `height`.
    pub(crate) fn start(dir: &Path, width: u32, height: u32) -> Self {
        require_chromium();
        let profile: PathBuf = dir.join("chromium-profile");
        let tmp = dir.join("chromium-tmp");
        std::fs::create_dir_all(&profile).unwrap();
        std::fs::create_dir_all(&tmp).unwrap();
        let mut command = Command::new("chromium");
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                &format!("--window-size={width},{height}"),
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .env("TMPDIR", &tmp)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let process = Process::spawn(&mut command, "chromium", "");
        // Chromium writes the port it chose to DevToolsActivePort.
        let deadline = Instant::now() + Duration::from_secs(30);
        let port: u16 = loop {
            let text =
                std::fs::read_to_string(profile.join("DevToolsActivePort")).unwrap_or_default();
            if let Some(port) = text.lines().next().and_then(|l| l.trim().parse().ok()) {
                break port;
            }
            assert!(
                Instant::now() < deadline,
                "chromium did not open its DevTools port"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let targets: Value = loop {
            if let Some(v) = get_json(SocketAddr::from(([127, 0, 0, 1], port)), "/json/list")
                && v.as_array()
                    .is_some_and(|a| a.iter().any(|t| t["type"] == "page"))
            {
                break v;
            }
            assert!(Instant::now() < deadline, "chromium has no page target");
            std::thread::sleep(Duration::from_millis(50));
        };
        let url = targets
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .unwrap()["webSocketDebuggerUrl"]
            .as_str()
            .unwrap()
            .to_owned();
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let (ws, _) = tungstenite::client(url.as_str(), stream).unwrap();
        let mut browser = Self {
            process,
            ws,
            next_id: 0,
        };
        browser.call("Page.enable", &json!({}));
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            &json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
        );
        browser
    }

    /// One `DevTools` command; its result (events in between are skipped).
    pub(crate) fn call(&mut self, method: &str, params: &Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let request = json!({ "id": id, "method": method, "params": params });
        self.ws.send(Message::text(request.to_string())).unwrap();
        loop {
            let Message::Text(text) = self.ws.read().unwrap() else {
                continue;
            };
            let reply: Value = serde_json::from_str(text.as_str()).unwrap();
            if reply["id"] == id {
                assert!(reply["error"].is_null(), "{method}: {reply}");
                return reply["result"].clone();
            }
        }
    }

    /// Loads `url` and waits (bounded) until the document has loaded.
    pub(crate) fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", &json!({ "url": url }));
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.eval("document.readyState") != "complete" {
            assert!(Instant::now() < deadline, "{url} did not load");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The value of a JavaScript expression in the page.
    pub(crate) fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            &json!({ "expression": expression, "returnByValue": true }),
        );
        assert!(
            result["exceptionDetails"].is_null(),
            "{expression}: {result}"
        );
        result["result"]["value"].clone()
    }

    /// Waits (bounded) until `expression` is truthy; its value.
    pub(crate) fn wait_for(&mut self, expression: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let value = self.eval(expression);
            if !(value.is_null() || value == false || value == 0 || value == "") {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "never true within {within:?}: {expression}\npage: {}",
                self.eval("document.body ? document.body.innerText : ''")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Saves a PNG of the whole page to `path`.
    pub(crate) fn screenshot(&mut self, path: &Path) {
        let shot = self.call(
            "Page.captureScreenshot",
            &json!({ "format": "png", "captureBeyondViewport": true }),
        );
        use base64::Engine;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(path, png).unwrap();
    }
}

/// GET `path` on the `DevTools` HTTP endpoint, as JSON; `None` until it answers JSON.
fn get_json(addr: SocketAddr, path: &str) -> Option<Value> {
    let reply = http::get(addr, path)
        .timeout(Duration::from_secs(10))
        .send()
        .ok()?;
    serde_json::from_slice(&reply.bytes).ok()
}
