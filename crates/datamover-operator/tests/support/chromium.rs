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
        let reply = self.try_call(method, params);
        assert!(reply["error"].is_null(), "{method}: {reply}");
        reply["result"].clone()
    }

    /// One `DevTools` command; its whole reply, `error` included.
    fn try_call(&mut self, method: &str, params: &Value) -> Value {
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
                return reply;
            }
        }
    }

    /// Loads `url` and waits (bounded) until the document has loaded.
    pub(crate) fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", &json!({ "url": url }));
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.try_eval("document.readyState") != Some(Value::from("complete")) {
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

    /// The value of `expression`, or `None` while the page cannot answer (between two
    /// documents: a navigation destroys the context an evaluation ran in).
    fn try_eval(&mut self, expression: &str) -> Option<Value> {
        let reply = self.try_call(
            "Runtime.evaluate",
            &json!({ "expression": expression, "returnByValue": true }),
        );
        let result = &reply["result"];
        (reply["error"].is_null() && result["exceptionDetails"].is_null())
            .then(|| result["result"]["value"].clone())
    }

    /// Waits (bounded) until `expression` is truthy; its value. While a navigation is under
    /// way (the page cannot answer, or the expression throws), it waits on.
    pub(crate) fn wait_for(&mut self, expression: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let value = self.try_eval(expression).unwrap_or(Value::Null);
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

    /// Clicks the element `selector` names as a user would: scrolled into view, then a real
    /// mouse press and release at its centre (so what covers it gets the click instead).
    ///
    /// The live feed redraws the page while the test runs, so the element can move (or be
    /// drawn anew) between reading its centre and the press. A click landing on anything
    /// else is stopped before the page sees it (a capture listener on the document, the
    /// first to see a click, cancels it), and the click is made again, at most 10 times.
    pub(crate) fn click(&mut self, selector: &str) {
        let sel = serde_json::to_string(selector).unwrap();
        let mut missed = Vec::new();
        for _ in 0..10 {
            let at = self.wait_for(
                &format!(
                    "(() => {{ const e = document.querySelector({sel}); if (!e) return null;
                       e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect();
                       if (!(r.width > 0 && r.height > 0 && !e.disabled)) return null;
                       const old = window.__tmcClick;
                       if (old) document.removeEventListener('click', old.guard, true);
                       const g = {{ verdict: null }};
                       g.guard = (ev) => {{
                         document.removeEventListener('click', g.guard, true);
                         if (e.contains(ev.target)) {{ g.verdict = 'hit'; return; }}
                         g.verdict = 'landed on ' + (ev.target.outerHTML || String(ev.target)).slice(0, 120);
                         ev.preventDefault(); ev.stopImmediatePropagation();
                       }};
                       document.addEventListener('click', g.guard, true);
                       window.__tmcClick = g;
                       return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
                ),
                Duration::from_secs(30),
            );
            let (x, y) = (at[0].as_f64().unwrap(), at[1].as_f64().unwrap());
            for kind in ["mousePressed", "mouseReleased"] {
                self.call(
                    "Input.dispatchMouseEvent",
                    &json!({ "type": kind, "x": x, "y": y, "button": "left", "clickCount": 1 }),
                );
            }
            // The verdict, set as the click was dispatched: "gone" once a new document
            // answers (the click started a navigation; a cancelled one never does), no answer
            // while that navigation is under way, none at all when the press and the release
            // met different elements, so no click happened.
            let started = Instant::now();
            let verdict = loop {
                let waited = started.elapsed();
                match self.try_eval("window.__tmcClick ? window.__tmcClick.verdict : 'gone'") {
                    Some(Value::String(v)) if v == "hit" || v == "gone" => return,
                    Some(Value::String(v)) => break v,
                    None if waited < Duration::from_secs(30) => {}
                    None => {
                        panic!("the page did not answer within 30 s of the click on {selector}")
                    }
                    Some(_) if waited < Duration::from_secs(1) => {}
                    Some(_) => {
                        break "no click: the press and the release met different elements"
                            .to_owned();
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            eprintln!("the click on {selector} missed it ({verdict}); clicking again");
            missed.push(verdict);
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the click on {selector} kept missing it as the page moved: {missed:#?}");
    }

    /// Types `text` into the field `selector` names, as a keyboard would, after clearing it.
    pub(crate) fn type_into(&mut self, selector: &str, text: &str) {
        self.click(selector);
        let sel = serde_json::to_string(selector).unwrap();
        self.eval(&format!("document.querySelector({sel}).select()"));
        self.call("Input.insertText", &json!({ "text": text }));
    }

    /// Presses and releases a key (`Enter`, `Escape`, `Tab`) on whatever has the focus.
    pub(crate) fn press(&mut self, key: &str) {
        let (code, vk) = match key {
            "Enter" => ("Enter", 13),
            "Escape" => ("Escape", 27),
            "Tab" => ("Tab", 9),
            other => panic!("no key code for {other}"),
        };
        let text = if key == "Enter" { "\r" } else { "" };
        self.call(
            "Input.dispatchKeyEvent",
            &json!({ "type": "keyDown", "key": key, "code": code, "windowsVirtualKeyCode": vk, "text": text }),
        );
        self.call(
            "Input.dispatchKeyEvent",
            &json!({ "type": "keyUp", "key": key, "code": code, "windowsVirtualKeyCode": vk }),
        );
    }

    /// The controls (buttons, fields, links, bars, disclosure summaries) of the page's
    /// accessibility tree that have no accessible name, as `role` strings; empty is good.
    pub(crate) fn unnamed_controls(&mut self) -> Vec<String> {
        const CONTROLS: &[&str] = &[
            "button",
            "textbox",
            "searchbox",
            "checkbox",
            "combobox",
            "link",
            "progressbar",
            "meter",
            "slider",
            "spinbutton",
            "DisclosureTriangle",
        ];
        self.call("Accessibility.enable", &json!({}));
        let tree = self.call("Accessibility.getFullAXTree", &json!({}));
        let mut unnamed = Vec::new();
        for node in tree["nodes"].as_array().unwrap() {
            if node["ignored"] == true {
                continue;
            }
            let role = node["role"]["value"].as_str().unwrap_or_default();
            let name = node["name"]["value"].as_str().unwrap_or_default().trim();
            if CONTROLS.contains(&role) && name.is_empty() {
                unnamed.push(role.to_owned());
            }
        }
        unnamed
    }

    /// The elements wider than the window or reaching past its right edge, as tag#id.class
    /// strings; empty is good.
    pub(crate) fn too_wide(&mut self) -> Value {
        self.eval(
            "[...document.querySelectorAll('body *')].filter(e => { const r = e.getBoundingClientRect();
               return r.width > 0 && (r.right > window.innerWidth + 0.5 || r.left < -0.5); })
             .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className && e.className.baseVal === undefined ? '.' + e.className : ''))
             .concat(document.documentElement.scrollWidth > window.innerWidth ? ['scrollWidth ' + document.documentElement.scrollWidth] : [])",
        )
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
