//! The console as people use it: the real binary, the real rclone, headless Chromium driven
//! by mouse and keyboard; restore, run now, suspend, resume and delete from the page, and
//! the actions refused without the session and its token against cross-site requests.
//! Each browser test saves a screenshot of every state under its temp dir.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed setup is a failed test

mod support;

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::chromium::{Browser, require_chromium};
use support::console::*;
use support::*;

#[test]
fn the_console_should_restore_a_backup_into_a_new_pvc_identical_to_its_source() {
    require_rclone();
    require_chromium();
    let dir = tempdir();
    let shots = dir.join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let source = write_source(&dir);
    let log = dir.join("operator.log");
    let op = operator(dir.join("data"))
        .args(["--log-format", "json"])
        .log(&log)
        .start();
    op.apply(&format!(
        "{}{}",
        volume_and_destination(&dir),
        schedule("yearly", "0 0 1 1 *", "  verify: checksum\n")
    ));
    let mut browser = Browser::start(&dir, 400, 900);
    open_console(&mut browser, &op);

    // Run now, confirmed; the backup completes and is verified.
    let card = r#"#schedules [data-key="default/yearly"]"#;
    confirmed(
        &mut browser,
        &format!(r#"{card} button[data-focus="trigger:default/yearly"]"#),
        "Start a run of schedule default/yearly now?",
    );
    let run = started(&op, "yearly-now-");
    let done = op.finished(&run, Duration::from_secs(90));
    assert_eq!(done["status"]["phase"], "Completed", "{done}");
    let folder = done["status"]["destination"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();

    // Its backups: time, size, files and the check's result.
    browser.click(&format!("{card} details.backups summary"));
    let row = format!(r#"{card} [data-backup="{folder}"]"#);
    let listed = shown_text(&mut browser, &row);
    for part in [folder.as_str(), "1.5 MiB, 3 files", "verified (checksum)"] {
        assert!(listed.contains(part), "{part:?} not in {listed:?}");
    }
    browser.screenshot(&shots.join("1-backups.png"));
    // Closed, then opened as a live update redraws the card: it stays open in the new card.
    reopen_during_redraw(&mut browser, card);
    assert!(shown_text(&mut browser, &row).contains("1.5 MiB, 3 files"));

    // A restore into a name in use: refused next to the field, nothing created.
    browser.click(&format!("{row} button"));
    browser.wait_for(
        "document.getElementById('restore-dialog').open",
        Duration::from_secs(10),
    );
    assert_eq!(
        browser.eval("[document.getElementById('restore-namespace').value, document.getElementById('restore-size').placeholder, document.activeElement.id]"),
        json!(["default", "Same as data", "restore-pvc"])
    );
    usable_at_400_px(&mut browser, "the restore form");
    let pvc_names = || -> Vec<String> {
        op.get("/api/v1/namespaces/default/persistentvolumeclaims")["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["metadata"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let before = pvc_names();
    browser.type_into("#restore-pvc", "data");
    browser.click("#restore-submit");
    let refused = browser.wait_for(
        "document.getElementById('restore-pvc-error').textContent",
        Duration::from_secs(10),
    );
    assert_eq!(
        refused,
        "PersistentVolumeClaim default/data already exists: a restore fills a new claim, so choose another name (nothing was created)"
    );
    assert_eq!(
        browser.eval("[document.getElementById('restore-dialog').open, document.getElementById('restore-pvc').getAttribute('aria-invalid'), document.activeElement.id]"),
        json!([true, "true", "restore-pvc"])
    );
    assert_eq!(pvc_names(), before);
    let populators = op.get(&format!("{GROUP}/datamoverpopulators"));
    assert_eq!(populators["items"], json!([]));
    browser.screenshot(&shots.join("2-refused.png"));

    // A new name, submitted from the keyboard: the restore runs, shown live, then its path.
    browser.type_into("#restore-pvc", "data-restored");
    browser.press("Enter");
    browser.wait_for(
        "!document.getElementById('restore-dialog').open",
        Duration::from_secs(10),
    );
    assert_eq!(
        text_of(&mut browser, "#restore-notice"),
        format!("Restoring {folder} into default/data-restored.")
    );
    let restore_card = r#"#restores [data-key="default/data-restored"]"#;
    let state = format!(
        "(() => {{ const c = document.querySelector({}); if (!c) return null;
           const p = c.querySelector('progress');
           return [c.dataset.phase, p.value, p.max, c.innerText]; }})()",
        css(restore_card)
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut progressed = None;
    let bound = loop {
        assert!(
            Instant::now() < deadline,
            "the restore did not finish: {}",
            browser.eval(&state)
        );
        let now = browser.eval(&state);
        if now.is_array() {
            let (value, max) = (now[1].as_f64().unwrap(), now[2].as_f64().unwrap());
            if now[0] == "Restoring" && value > 0.0 && value < max && progressed.is_none() {
                browser.screenshot(&shots.join("3-restoring.png"));
                progressed = Some(now[3].as_str().unwrap().to_owned());
            }
            if now[0] == "Bound" {
                break now;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let progressed = progressed.expect("the page never showed the restore part-way");
    assert!(
        progressed.contains(" of 1.5 MiB") && progressed.contains("/s"),
        "{progressed}"
    );
    let restored = op.data.join("volumes/default/data-restored");
    let shown = bound[3].as_str().unwrap();
    assert!(shown.contains("Restored to"), "{bound}");
    assert_eq!(
        text_of(&mut browser, &format!("{restore_card} .restore-path")),
        restored.display().to_string()
    );
    browser.screenshot(&shots.join("4-restored.png"));
    assert_eq!(
        tree(&restored),
        tree(&source),
        "the restored volume differs"
    );
    let pvc = op.get("/api/v1/namespaces/default/persistentvolumeclaims/data-restored");
    assert_eq!(pvc["status"]["phase"], "Bound");
    assert_eq!(
        pvc["spec"]["resources"]["requests"]["storage"], "2Gi",
        "the source's size"
    );
    let populator = op.get(&format!(
        "{GROUP}/datamoverpopulators/restore-data-restored"
    ));
    assert_eq!(
        populator["spec"],
        json!({"secretName": "dest", "path": folder})
    );
    usable_at_400_px(&mut browser, "the page after a restore");

    // Who did it, in the log: the session, the same for both attempts.
    let actions = page_actions(&log);
    let restores: Vec<(&str, u64)> = actions
        .iter()
        .filter(|a| a["action"] == "restore")
        .map(|a| (a["pvc"].as_str().unwrap(), a["status"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        restores,
        [("default/data", 409), ("default/data-restored", 200)]
    );
    let who: Vec<&str> = actions.iter().map(|a| a["who"].as_str().unwrap()).collect();
    assert!(
        who.iter()
            .all(|w| w.starts_with("session-") && *w == who[0]),
        "{who:?}"
    );
    println!("screenshots: {}", shots.display());
}

#[test]
fn the_console_should_run_now_suspend_resume_and_delete() {
    require_rclone();
    require_chromium();
    let dir = tempdir();
    let shots = dir.join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    write_source(&dir);
    let op = operator(dir.join("data")).start();
    op.apply(&format!(
        "{}{}{}",
        volume_and_destination(&dir),
        schedule("later", &an_hour_from_now(), ""),
        schedule(
            "minutely",
            "* * * * *",
            "  successfulJobsHistoryLimit: 10\n"
        ),
    ));
    let mut browser = Browser::start(&dir, 400, 900);
    open_console(&mut browser, &op);

    // Suspend the every-minute schedule: no run starts at the next minute.
    let minutely = r#"#schedules [data-key="default/minutely"]"#;
    confirmed(
        &mut browser,
        &format!(r#"{minutely} button[data-focus="suspend:default/minutely"]"#),
        "Suspend schedule default/minutely?",
    );
    browser.wait_for(
        &format!(
            "(document.querySelector({}) || {{}}).innerText === 'Next run: suspended'",
            css(&format!("{minutely} .next-run"))
        ),
        Duration::from_secs(10),
    );
    assert_eq!(
        text_of(&mut browser, &format!("{minutely} .phase")),
        "Suspended"
    );
    assert_eq!(
        op.get(&format!("{GROUP}/datamoverschedules/minutely"))["spec"]["suspend"],
        true
    );
    // The focus stays on the button, now Resume, through the redraw.
    assert_eq!(
        browser.eval("[document.activeElement.dataset.focus, document.activeElement.textContent]"),
        json!(["suspend:default/minutely", "Resume"])
    );
    browser.screenshot(&shots.join("1-suspended.png"));
    // A reconcile that read the schedule just before the suspend may still create its run:
    // counted after it had time to.
    std::thread::sleep(Duration::from_secs(3));
    let before = runs(&op, "minutely-").len();
    // Past the next minute boundary, with time for a run to have appeared.
    let wait = 60_000 - now_ms() % 60_000 + 5_000;
    std::thread::sleep(Duration::from_millis(wait));
    assert_eq!(
        runs(&op, "minutely-").len(),
        before,
        "a suspended schedule started a run"
    );

    // Run now on the schedule an hour away: one run, which completes.
    let later = r#"#schedules [data-key="default/later"]"#;
    confirmed(
        &mut browser,
        &format!(r#"{later} button[data-focus="trigger:default/later"]"#),
        "Start a run of schedule default/later now?",
    );
    let run = started(&op, "later-now-");
    assert_eq!(
        op.finished(&run, Duration::from_secs(90))["status"]["phase"],
        "Completed"
    );
    assert_eq!(runs(&op, "later-").len(), 1, "one run, no more");

    // Resume: the next minute's run starts.
    browser.click(&format!(
        r#"{minutely} button[data-focus="suspend:default/minutely"]"#
    ));
    browser.wait_for(
        &format!(
            "(document.querySelector({}) || {{}}).textContent === 'Active'",
            css(&format!("{minutely} .phase"))
        ),
        Duration::from_secs(10),
    );
    let resumed = runs(&op, "minutely-").len();
    op.wait_for("a run after resume", Duration::from_secs(75), || {
        runs(&op, "minutely-").len() > resumed
    });
    browser.screenshot(&shots.join("2-resumed.png"));

    // Delete the finished run from its card, confirmed: gone from the page and the API.
    let card = format!(r#"#datamovers [data-key="default/{run}"]"#);
    browser.wait_for(
        &format!(
            "(document.querySelector({}) || {{}}).dataset.phase === 'Completed'",
            css(&card)
        ),
        Duration::from_secs(10),
    );
    confirmed(
        &mut browser,
        &format!("{card} button[data-focus=\"delete:default/{run}\"]"),
        &format!("Delete DataMover default/{run}?"),
    );
    browser.wait_for(
        &format!("document.querySelector({}) === null", css(&card)),
        Duration::from_secs(10),
    );
    let gone = op.api("GET", &format!("{GROUP}/datamovers/{run}"), None);
    assert_eq!(gone.status, 404);
    usable_at_400_px(&mut browser, "the page with two schedules");
    browser.screenshot(&shots.join("3-deleted.png"));
    println!("screenshots: {}", shots.display());
}

#[test]
fn console_actions_should_need_the_session_and_its_token_against_cross_site_requests() {
    require_rclone();
    let dir = tempdir();
    write_source(&dir);
    let op = operator(dir.join("data")).start();
    // At 1 KiB/s its 1.5 MiB take about half an hour: unfinished for this whole test.
    let trickle = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: trickle}}\nstringData:\n  DESTINATION: \"{}\"\n  RCLONE_BWLIMIT: 1k\n---\n",
        dir.join("trickle").display()
    );
    op.apply(&format!(
        "{}{}{trickle}",
        volume_and_destination(&dir),
        schedule("nightly", "0 3 * * *", ""),
    ));
    op.apply(&datamover("waiting", "data", "trickle", ""));
    let (cookie, csrf) = sign_in(&op);
    let json_type = "Content-Type: application/json\r\n";
    let target = r#"{"namespace":"default","name":"nightly"}"#;
    let suspended =
        || op.get(&format!("{GROUP}/datamoverschedules/nightly"))["spec"]["suspend"] == true;

    // Without the cookie: 401; with it but without the page's token (what a cross-site
    // form or fetch sends), or with a wrong one: 403. Nothing changed.
    for (headers, status) in [
        (json_type.to_owned(), 401),
        (format!("{json_type}{cookie}"), 403),
        (
            format!(
                "{json_type}{cookie}X-DataMover-CSRF: {}\r\n",
                "0".repeat(64)
            ),
            403,
        ),
        (
            format!("Content-Type: application/x-www-form-urlencoded\r\n{cookie}"),
            403,
        ),
    ] {
        let r = http(op.api, "POST", "/actions/suspend", &headers, Some(target)).unwrap();
        assert_eq!(r.status, status, "{headers:?}: {}", r.body);
        assert!(!suspended(), "{headers:?} suspended it");
    }
    // GET never changes anything.
    let r = http(op.api, "GET", "/actions/suspend", &cookie, None).unwrap();
    assert_eq!(r.status, 405);
    assert!(!suspended());

    // With the cookie and the page's token: done, through the API's handler.
    let with_token = format!("{json_type}{cookie}X-DataMover-CSRF: {csrf}\r\n");
    let r = http(
        op.api,
        "POST",
        "/actions/suspend",
        &with_token,
        Some(target),
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let body: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        body,
        json!({"kind": "DataMoverSchedule", "namespace": "default", "name": "nightly", "suspend": true})
    );
    assert!(suspended());
    // The bearer token (which no browser sends by itself) needs no page token.
    let bearer = format!("{json_type}{}", op.auth());
    let r = http(op.api, "POST", "/actions/resume", &bearer, Some(target)).unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!suspended());
    // The CLI does the same.
    let cli = |verb: &str| {
        let out = std::process::Command::new(BIN)
            .args([verb, "schedule", "nightly"])
            .args(op.cli_args())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(
        cli("suspend"),
        "datamoverschedule/nightly suspended: no new runs until `resume schedule nightly` (an active run goes on)\n"
    );
    assert!(suspended());
    assert_eq!(
        cli("resume"),
        "datamoverschedule/nightly resumed: runs start again at its next scheduled time\n"
    );
    assert!(!suspended());

    // The page deletes only finished DataMovers; the rules are the API's (a bad name, a
    // restore whose populator the API refuses).
    let uid = op.get(&format!("{GROUP}/datamovers/waiting"))["metadata"]["uid"].clone();
    let r = http(
        op.api,
        "POST",
        "/actions/delete",
        &with_token,
        Some(&json!({"namespace": "default", "name": "waiting", "uid": uid}).to_string()),
    )
    .unwrap();
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("has not finished"), "{}", r.body);
    assert_eq!(
        op.api("GET", &format!("{GROUP}/datamovers/waiting"), None)
            .status,
        200
    );
    for (body, status, field) in [
        (
            r#"{"namespace":"default","secret":"dest","backup":"2026-01-01-000000","pvc":"Bad_Name"}"#,
            422,
            "pvc",
        ),
        (
            r#"{"namespace":"default","secret":"dest","backup":"2026-01-01-000000","pvc":"ok","size":"ten gigs"}"#,
            422,
            "size",
        ),
        (
            r#"{"namespace":"default","secret":"dest","backup":"2026-01-01-000000","pvc":"data"}"#,
            409,
            "pvc",
        ),
    ] {
        let r = http(op.api, "POST", "/actions/restore", &with_token, Some(body)).unwrap();
        assert_eq!(r.status, status, "{body}: {}", r.body);
        let answer: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(answer["field"], field, "{}", r.body);
    }
    // A restore goes into the backup's own namespace: its secret names the destination.
    let r = http(
        op.api,
        "POST",
        "/actions/restore",
        &with_token,
        Some(r#"{"namespace":"other","sourceNamespace":"default","secret":"dest","backup":"2026-01-01-000000","pvc":"fresh"}"#),
    )
    .unwrap();
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        serde_json::from_str::<Value>(&r.body).unwrap(),
        json!({"error": "a restore goes into the backup's namespace, default: its DataMoverPopulator reads the secret dest there, and a secret of that name in other may name another destination", "field": "namespace"})
    );
    // A backup path the populator's validation refuses: the API's own words, nothing stored.
    let r = http(
        op.api,
        "POST",
        "/actions/restore",
        &with_token,
        Some(r#"{"namespace":"default","secret":"dest","backup":"../elsewhere","pvc":"fresh"}"#),
    )
    .unwrap();
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        op.api(
            "GET",
            "/api/v1/namespaces/default/persistentvolumeclaims/fresh",
            None
        )
        .status,
        404
    );

    create_stores_nothing_when_a_name_is_taken(&op);

    // Every action is counted like any request.
    let metrics = op.metrics();
    for line in [
        r#"tmc_api_requests_total{method="POST",endpoint="/actions/suspend",status_code="401"} 1"#,
        r#"tmc_api_requests_total{method="POST",endpoint="/actions/suspend",status_code="403"} 3"#,
        r#"tmc_api_requests_total{method="POST",endpoint="/actions/suspend",status_code="200"} 1"#,
        r#"tmc_api_requests_total{method="POST",endpoint="/actions/delete",status_code="409"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} not in:\n{metrics}");
    }

    delete_needs_the_uid_the_page_showed(&op, &with_token);
}
