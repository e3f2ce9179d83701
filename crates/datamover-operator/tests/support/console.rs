//! What the console's tests share: the source volume and throttled destination, schedules,
//! reading runs and the log, and driving the page's dialogs.

use super::chromium::Browser;
use super::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(crate) const GROUP: &str = "/apis/datamover.a-cup-of.coffee/v1alpha1/namespaces/default";

/// The source PVC `data` (a host path, 2Gi) and the secret `dest` whose rclone is throttled
/// to 256 KiB/s, so a backup or restore of 1.5 MiB takes about six seconds.
pub(crate) fn volume_and_destination(dir: &Path) -> String {
    format!(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: data\n  annotations:\n    datamover.a-cup-of.coffee/host-path: \"{}\"\nspec: {{accessModes: [ReadWriteOnce], resources: {{requests: {{storage: 2Gi}}}}}}\n---\n\
         apiVersion: v1\nkind: Secret\nmetadata: {{name: dest}}\nstringData:\n  DESTINATION: \"{}\"\n  RCLONE_BWLIMIT: 256k\n---\n",
        dir.join("source").display(),
        dir.join("backups").display()
    )
}

pub(crate) fn schedule(name: &str, cron: &str, extra: &str) -> String {
    format!(
        "apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMoverSchedule\nmetadata: {{name: {name}}}\nspec:\n  schedule: \"{cron}\"\n  sourcePvc: data\n  secretName: dest\n  addTimestampPrefix: true\n{extra}---\n"
    )
}

/// 1.5 MiB in three files, one in a subdirectory.
pub(crate) fn write_source(dir: &Path) -> PathBuf {
    let source = dir.join("source");
    std::fs::create_dir_all(source.join("sub")).unwrap();
    std::fs::write(source.join("a.bin"), noise(1024 * 1024, 11)).unwrap();
    std::fs::write(source.join("sub/b.bin"), noise(512 * 1024 - 12, 12)).unwrap();
    std::fs::write(source.join("c.txt"), "hello world\n").unwrap();
    source
}

/// Every file under `dir` with its bytes, by relative path.
pub(crate) fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().display().to_string();
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The DataMovers whose name starts with `prefix`.
pub(crate) fn runs(op: &Operator, prefix: &str) -> Vec<Value> {
    op.get(&format!("{GROUP}/datamovers"))["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["metadata"]["name"].as_str().unwrap().starts_with(prefix))
        .cloned()
        .collect()
}

/// The name of the first DataMover named `prefix...`, waiting (bounded) for it to appear.
pub(crate) fn started(op: &Operator, prefix: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(run) = runs(op, prefix).first() {
            return run["metadata"]["name"].as_str().unwrap().to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no DataMover {prefix}... started"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The log lines (JSON) of page actions.
pub(crate) fn page_actions(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| v["fields"].clone())
        .filter(|f| f["message"] == "page action")
        .collect()
}

pub(crate) fn css(selector: &str) -> String {
    serde_json::to_string(selector).unwrap()
}

/// Waits (bounded) until the element `selector` names is shown, not only in the page (text
/// in a closed `<details>` has no boxes, and `innerText` would still read it); its text.
pub(crate) fn shown_text(browser: &mut Browser, selector: &str) -> String {
    let v = browser.wait_for(
        &format!(
            "(() => {{ const e = document.querySelector({}); \
               return e && e.getClientRects().length > 0 ? e.innerText : null; }})()",
            css(selector)
        ),
        Duration::from_secs(30),
    );
    v.as_str().unwrap().to_owned()
}

/// Closes the backups list of the card `card`, then opens it and redraws every schedule
/// card in the same task, before the list's `toggle` event (what a live update arriving as
/// a user opens the list does), and checks the list is open in the redrawn card.
pub(crate) fn reopen_during_redraw(browser: &mut Browser, card: &str) {
    let details = css(&format!("{card} details.backups"));
    browser.click(&format!("{card} details.backups summary"));
    // Closed once the page's own state says so: its toggle event has run.
    let closed = "[...backups.values()].every((list) => !list.open)";
    browser.wait_for(closed, Duration::from_secs(10));
    browser.eval(&format!(
        "document.querySelector({details}).open = true; \
         drawSchedules({{ ...schedules, items: schedules.items.map((s) => ({{ ...s, redrawn: true }})) }}); true"
    ));
    browser.wait_for(
        "[...backups.values()].some((list) => list.open)",
        Duration::from_secs(10),
    );
    let open = browser.eval(&format!("document.querySelector({details}).open"));
    assert_eq!(open, true, "the list closed in the redrawn card");
}

pub(crate) fn text_of(browser: &mut Browser, selector: &str) -> String {
    let v = browser.eval(&format!(
        "(document.querySelector({}) || {{}}).textContent || ''",
        css(selector)
    ));
    v.as_str().unwrap().to_owned()
}

/// Clicks `button` and answers the confirmation it asks for, whose text must start with
/// `asks`.
pub(crate) fn confirmed(browser: &mut Browser, button: &str, asks: &str) {
    browser.click(button);
    browser.wait_for(
        "document.getElementById('confirm-dialog').open",
        Duration::from_secs(10),
    );
    let text = text_of(browser, "#confirm-text");
    assert!(text.starts_with(asks), "{text}");
    browser.click("#confirm-ok");
    browser.wait_for(
        "!document.getElementById('confirm-dialog').open",
        Duration::from_secs(10),
    );
}

/// No control without an accessible name, nothing wider than the 400 px window.
pub(crate) fn usable_at_400_px(browser: &mut Browser, state: &str) {
    assert_eq!(
        browser.unnamed_controls(),
        Vec::<String>::new(),
        "{state}: controls without a name"
    );
    assert_eq!(browser.too_wide(), json!([]), "{state}: wider than 400 px");
}

/// A signed-in session: its cookie header line and its token against cross-site requests.
pub(crate) fn sign_in(op: &Operator) -> (String, String) {
    let form = "Content-Type: application/x-www-form-urlencoded\r\n";
    let token = op.token();
    let r = http(
        op.api,
        "POST",
        "/login",
        form,
        Some(&format!("token={token}")),
    )
    .unwrap();
    assert_eq!(r.status, 303);
    let cookie = format!("Cookie: datamover_session={}\r\n", session_of(&r.head));
    let page = http(op.api, "GET", "/", &cookie, None).unwrap();
    (cookie, csrf_of(&page.body))
}

/// A cron line for the minute an hour from now (UTC).
pub(crate) fn an_hour_from_now() -> String {
    let minutes = now_ms() / 60_000 + 60;
    format!("{} {} * * *", minutes % 60, (minutes / 60) % 24)
}

/// Signs in through the link `page-url` prints, and waits until the page it goes on to has
/// loaded.
pub(crate) fn open_console(browser: &mut Browser, op: &Operator) {
    browser.navigate(&format!("http://{}/?token={}", op.api, op.token()));
    browser.wait_for(
        "location.pathname + location.search === '/' && document.readyState === 'complete' && !!document.getElementById('schedules')",
        Duration::from_secs(10),
    );
}

/// `/create` (what the restore action sends, and `create -f`) stores all new objects or
/// none: a name taken between the check and the write is refused there too.
pub(crate) fn create_stores_nothing_when_a_name_is_taken(op: &Operator) {
    let r = op.api(
        "POST",
        "/create",
        Some("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: other}\n---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data}\n"),
    );
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(
        serde_json::from_str::<Value>(&r.body).unwrap()["error"],
        "PersistentVolumeClaim default/data already exists: nothing was stored (`apply` updates an existing object)"
    );
    assert_eq!(
        op.api(
            "GET",
            "/api/v1/namespaces/default/persistentvolumeclaims/other",
            None
        )
        .status,
        404
    );
}

/// The page's Delete deletes the DataMover its card showed, or nothing: one deleted and
/// created again under that name since answers 409 in Kubernetes' words and stays; the one
/// shown is deleted. The API's DELETE takes the same preconditions (`DeleteOptions`).
/// `with_token` are the headers of a signed-in page (cookie and token).
pub(crate) fn delete_needs_the_uid_the_page_showed(op: &Operator, with_token: &str) {
    let path = format!("{GROUP}/datamovers/gone");
    // No such PVC: it fails at once, a finished DataMover the page may delete (its own
    // timestamp folders at the schedules' destination).
    let failed = |op: &Operator| {
        op.apply(&datamover(
            "gone",
            "no-such-pvc",
            "dest",
            "  addTimestampPrefix: true\n",
        ));
        op.wait_for("gone to fail", Duration::from_secs(20), || {
            op.get(&path)["status"]["phase"] == "Failed"
        });
        op.get(&path)["metadata"]["uid"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let shown = failed(op);
    assert_eq!(op.api("DELETE", &path, None).status, 200);
    let now = failed(op);
    assert_ne!(shown, now);
    let delete = |uid: &str| {
        let body = json!({"namespace": "default", "name": "gone", "uid": uid}).to_string();
        http(op.api, "POST", "/actions/delete", with_token, Some(&body)).unwrap()
    };

    // The card drawn before: refused, the new object stays.
    let r = delete(&shown);
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(
        serde_json::from_str::<Value>(&r.body).unwrap(),
        json!({"error": format!("DataMover default/gone: Precondition failed: UID in precondition: {shown}, UID in object meta: {now}; nothing was deleted"), "field": null})
    );
    assert_eq!(op.get(&path)["metadata"]["uid"], now.as_str());
    // A body without the uid (a page from before): 400, nothing deleted.
    let r = http(
        op.api,
        "POST",
        "/actions/delete",
        with_token,
        Some(r#"{"namespace":"default","name":"gone"}"#),
    )
    .unwrap();
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        serde_json::from_str::<Value>(&r.body).unwrap()["error"],
        "the request body is not the JSON this action takes: missing field `uid` at line 1 column 37"
    );

    // The API's DELETE with Kubernetes' DeleteOptions: a stale uid or resourceVersion is a
    // 409 and deletes nothing; a body it cannot act on is a 400.
    let version = op.get(&path)["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    for (body, status, error) in [
        (
            json!({"preconditions": {"uid": shown}}).to_string(),
            409,
            format!("DataMover default/gone: Precondition failed: UID in precondition: {shown}, UID in object meta: {now}; nothing was deleted"),
        ),
        (
            json!({"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": now, "resourceVersion": "1"}}).to_string(),
            409,
            format!("DataMover default/gone: Precondition failed: ResourceVersion in precondition: 1, ResourceVersion in object meta: {version}; nothing was deleted"),
        ),
        (
            json!({"preconditions": {"uid": now}, "dryRun": ["All"]}).to_string(),
            400,
            "the DELETE body is a JSON DeleteOptions ({\"preconditions\": {\"uid\": ..., \"resourceVersion\": ...}}): unknown field `dryRun`, expected one of `kind`, `apiVersion`, `propagationPolicy`, `preconditions` at line 1 column 9; nothing was deleted".to_owned(),
        ),
        (
            json!({"propagationPolicy": "Orphan"}).to_string(),
            400,
            "propagationPolicy \"Orphan\": this API deletes an object's dependents with it; give Background or Foreground, or leave it out; nothing was deleted".to_owned(),
        ),
    ] {
        let r = op.api("DELETE", &path, Some(&body));
        assert_eq!(r.status, status, "{body}: {}", r.body);
        assert_eq!(
            serde_json::from_str::<Value>(&r.body).unwrap(),
            json!({ "error": error }),
            "{body}"
        );
        assert_eq!(op.get(&path)["metadata"]["uid"], now.as_str(), "{body}");
    }

    // The card of the object there now: deleted.
    let r = delete(&now);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        serde_json::from_str::<Value>(&r.body).unwrap(),
        json!({"deleted": "DataMover default/gone"})
    );
    assert_eq!(op.api("GET", &path, None).status, 404);
}
