//! The status page as people use it: the real binary, the real rclone, headless Chromium.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed setup is a failed test

mod support;

use serde_json::Value;
use std::time::{Duration, Instant};
use support::chromium::Browser;
use support::*;

/// The progress value of DataMover `key`'s bar, or null while it has none.
fn progress_of(key: &str) -> String {
    format!(
        r#"(() => {{ const p = document.querySelector('#datamovers [data-key="{key}"] progress');
             return p && p.hasAttribute('value') && p.value > 0 && p.value < p.max ? p.value : null; }})()"#
    )
}

#[test]
fn the_page_should_show_a_throttled_backup_progressing_and_a_failure_with_its_reason_in_chromium() {
    require_rclone();
    support::chromium::require_chromium();
    let dir = tempdir();
    let source = dir.join("source");
    std::fs::create_dir_all(&source).unwrap();
    // 2 MiB at 64 KiB/s: the sync takes about half a minute.
    std::fs::write(source.join("data.bin"), noise(2 * 1024 * 1024, 7)).unwrap();
    let op = operator(dir.join("data")).start();
    op.apply(&format!(
        "{}{}{}{}{}{}",
        pvc("data", &source),
        secret("local", &dir.join("dest")),
        datamover(
            "slow",
            "data",
            "local",
            "  additionalEnv:\n    - {name: RCLONE_BWLIMIT, value: 64k}\n"
        ),
        datamover("broken", "data", "missing-secret", ""),
        // A remote rclone cannot build: it fails at start-up, before its JSON log.
        "apiVersion: v1\nkind: Secret\nmetadata: {name: nosuch}\nstringData:\n  DESTINATION: \"nosuch:backups\"\n  RCLONE_CONFIG_NOSUCH_TYPE: nosuchbackend\n---\n",
        datamover("cannot-start", "data", "nosuch", ""),
    ));
    // A schedule due in a year, run now: its backup shows in its list on the page.
    op.apply(&format!(
        "{}apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMoverSchedule\nmetadata: {{name: yearly}}\nspec:\n  schedule: \"0 0 1 1 *\"\n  sourcePvc: data\n  secretName: sched\n  addTimestampPrefix: true\n",
        secret("sched", &dir.join("sched-dest")),
    ));
    let trigger = op.api(
        "POST",
        "/apis/datamover.a-cup-of.coffee/v1alpha1/namespaces/default/datamoverschedules/yearly/trigger",
        None,
    );
    assert_eq!(trigger.status, 200, "{}", trigger.body);
    let page = format!("http://{}/", op.api);
    let mut browser = Browser::start(&dir, 400, 900);

    // Without the token: the login form, and no data.
    browser.navigate(&page);
    assert_eq!(
        browser.eval("[!!document.querySelector('form[action=\"/login\"] input#token'), !!document.getElementById('datamovers'), document.body.innerText.includes('slow')]"),
        serde_json::json!([true, false, false])
    );

    // The link the CLI prints signs in and lands on the page.
    browser.navigate(&format!("{page}?token={}", op.token()));
    browser.wait_for(
        "location.pathname + location.search === '/' && document.readyState === 'complete' && !!document.getElementById('datamovers')",
        Duration::from_secs(10),
    );
    let first = browser.wait_for(&progress_of("default/slow"), Duration::from_secs(60));
    // A mark that a reload would wipe: the next value must come live.
    browser.eval("window.notReloaded = true");
    let first = first.as_f64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let second = loop {
        let now = browser
            .eval(&progress_of("default/slow"))
            .as_f64()
            .unwrap_or(0.0);
        if now > first {
            break now;
        }
        assert!(Instant::now() < deadline, "the progress stayed at {first}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(second > first, "{second} after {first}");
    assert_eq!(
        browser.eval("window.notReloaded"),
        true,
        "the page reloaded"
    );
    let stats = browser.eval(
        "document.querySelector('#datamovers [data-key=\"default/slow\"] .stats').textContent",
    );
    assert!(
        stats.as_str().unwrap().contains(" of 2.0 MiB") && stats.as_str().unwrap().contains("/s"),
        "{stats}"
    );
    assert_eq!(
        browser.eval(
            "document.querySelector('#datamovers [data-key=\"default/slow\"]').dataset.phase"
        ),
        "CreatingPod"
    );

    // The failed DataMover, with its reason, in its card and in the failures.
    let reason = browser.wait_for(
        "(document.querySelector('#failures [data-key=\"default/broken\"]') || {}).innerText",
        Duration::from_secs(30),
    );
    let reason = reason.as_str().unwrap();
    assert!(reason.contains("SecretNotFound"), "{reason}");
    assert!(
        reason.contains("the secret default/missing-secret does not exist"),
        "{reason}"
    );
    assert_eq!(
        browser.eval("document.querySelector('#datamovers [data-key=\"default/broken\"] .reason').textContent"),
        "the secret default/missing-secret does not exist"
    );
    // A sync rclone could not start: its words (secret values scrubbed) in the failures.
    let reason = browser.wait_for(
        "(document.querySelector('#failures [data-key=\"default/cannot-start\"]') || {}).innerText",
        Duration::from_secs(30),
    );
    assert!(
        reason.as_str().unwrap().contains(
            "BackoffLimitExceeded: 3 pods failed, backoffLimit is 2; the last one: rclone exited with exit status: 1: Failed to create file system for \"***\": didn't find backend called \"***\""
        ),
        "{reason}"
    );
    // The schedule's backups, listed when its list is opened (the run is quick: 2 MiB).
    let deadline = Instant::now() + Duration::from_secs(60);
    let folder = loop {
        assert!(
            Instant::now() < deadline,
            "the manual run of yearly did not complete"
        );
        let runs = op.get("/apis/datamover.a-cup-of.coffee/v1alpha1/namespaces/default/datamovers");
        let done = runs["items"].as_array().unwrap().iter().find(|d| {
            d["metadata"]["name"]
                .as_str()
                .unwrap_or("")
                .starts_with("yearly-now-")
                && d["status"]["phase"] == "Completed"
        });
        if let Some(d) = done {
            let dest = d["status"]["destination"].as_str().unwrap();
            break dest.rsplit('/').next().unwrap().to_owned();
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    browser.wait_for(
        "!!document.querySelector('#schedules [data-key=\"default/yearly\"] details.backups summary')",
        Duration::from_secs(30),
    );
    browser.eval("document.querySelector('#schedules [data-key=\"default/yearly\"] details.backups summary').click()");
    let listed = browser.wait_for(
        &format!("(document.querySelector('#schedules [data-key=\"default/yearly\"] [data-backup=\"{folder}\"]') || {{}}).innerText"),
        Duration::from_secs(30),
    );
    let listed = listed.as_str().unwrap();
    assert!(
        listed.contains(&folder) && listed.contains("2.0 MiB, 1 file"),
        "{listed}"
    );

    // The charts, from the operator's own metrics (sampled every 10 s).
    let summary = browser.wait_for(
        "document.querySelector('#throughput rect') && document.getElementById('throughput-summary').textContent",
        Duration::from_secs(30),
    );
    assert!(summary.as_str().unwrap().starts_with("Now "), "{summary}");
    assert_eq!(
        browser
            .eval("document.querySelector('#phases [data-phase=\"CreatingClonedPVC\"]') !== null"),
        true
    );

    // Usable at 400 px: nothing wider than the window, every control labelled.
    assert_eq!(
        browser.eval("document.documentElement.scrollWidth <= window.innerWidth"),
        true,
        "{}",
        browser.eval("document.documentElement.scrollWidth")
    );
    assert_eq!(
        browser.eval("[...document.querySelectorAll('input:not([type=hidden]), button, progress, meter')].every(e => e.labels && e.labels.length > 0 || e.getAttribute('aria-label') || e.getAttribute('aria-labelledby') || e.textContent.trim())"),
        true
    );
    // And as assistive technology sees them: every control in the accessibility tree named.
    assert_eq!(browser.unnamed_controls(), Vec::<String>::new());
    assert_eq!(
        browser.eval("document.getElementById('connection').textContent"),
        "Live"
    );

    let shot = dir.join("status-page.png");
    browser.screenshot(&shot);
    println!("screenshot: {}", shot.display());
}

#[test]
fn the_page_and_its_feed_should_be_refused_without_the_token() {
    require_rclone();
    let dir = tempdir();
    let op = operator(dir.join("data")).start();
    op.apply(&datamover("private-name", "data", "s", ""));
    let token = op.token();
    let no_data = |r: &Reply| {
        assert!(!r.body.contains("private-name"), "{}", r.body);
        assert!(!r.body.contains("event:"), "{}", r.body);
    };

    // No token: 401 and the login form; a wrong one: 403.
    let r = http(op.api, "GET", "/", "", None).unwrap();
    assert_eq!(r.status, 401);
    assert!(
        r.body.contains(r#"<form method="post" action="/login">"#),
        "{}",
        r.body
    );
    assert!(
        r.head
            .contains("content-security-policy: default-src 'none'"),
        "{}",
        r.head
    );
    no_data(&r);
    for (headers, path, status) in [
        ("", "/events", 401),
        ("Cookie: datamover_session=wrong\r\n", "/", 403),
        ("Cookie: datamover_session=wrong\r\n", "/events", 403),
        ("Authorization: Bearer wrong\r\n", "/events", 403),
        ("", "/?token=wrong", 403),
    ] {
        let r = http(op.api, "GET", path, headers, None).unwrap();
        assert_eq!(r.status, status, "{path} with {headers:?}: {}", r.body);
        assert!(!r.head.contains("set-cookie"), "{}", r.head);
        no_data(&r);
    }
    let form = "Content-Type: application/x-www-form-urlencoded\r\n";
    let r = http(op.api, "POST", "/login", form, Some("token=wrong")).unwrap();
    assert_eq!(r.status, 403);
    assert!(!r.head.contains("set-cookie"), "{}", r.head);

    // The right token signs in: an HttpOnly, SameSite=Strict cookie naming a new session (not
    // the token: a stolen cookie ends with the session) that opens the page...
    let r = http(
        op.api,
        "POST",
        "/login",
        form,
        Some(&format!("token={token}")),
    )
    .unwrap();
    assert_eq!(
        (r.status, r.head.contains("location: /\r\n")),
        (303, true),
        "{}",
        r.head
    );
    let session = session_of(&r.head);
    assert_eq!(session.len(), 64, "{}", r.head);
    assert_ne!(session, token);
    assert!(
        r.head.contains(&format!(
            "set-cookie: datamover_session={session}; path=/; httponly; samesite=strict\r\n"
        )),
        "{}",
        r.head
    );
    let cookie = format!("Cookie: datamover_session={session}\r\n");
    let r = http(op.api, "GET", "/", &cookie, None).unwrap();
    assert_eq!(r.status, 200);
    assert!(r.body.contains(r#"<ul id="datamovers""#), "{}", r.body);
    // The page carries the session's own token against cross-site requests.
    let csrf = csrf_of(&r.body);
    assert_eq!(csrf.len(), 64, "{}", r.body);
    assert!(!csrf.contains(&token) && csrf != session);
    // The token itself is never a cookie: it does not open the page.
    let as_cookie = format!("Cookie: datamover_session={token}\r\n");
    assert_eq!(
        http(op.api, "GET", "/", &as_cookie, None).unwrap().status,
        403
    );
    let mut feed = Sse::open(op.api, &cookie);
    let snapshot = feed.next();
    assert_eq!(snapshot.name, "snapshot");
    assert_eq!(
        snapshot.data["datamovers"][0]["metadata"]["name"],
        "private-name"
    );
    // The CLI prints the link that signs in.
    let out = std::process::Command::new(BIN)
        .args(["page-url", "--server", &format!("http://{}", op.api)])
        .arg("--data-dir")
        .arg(&op.data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let link = String::from_utf8(out.stdout).unwrap();
    assert_eq!(link.trim(), format!("http://{}/?token={token}", op.api));
    // The link answers with the cookie and a page that goes on to `/` by itself, not a
    // redirect: a browser drops a SameSite=Strict cookie on a redirect that a link on
    // another site started.
    let r = http(op.api, "GET", &format!("/?token={token}"), "", None).unwrap();
    assert_eq!(r.status, 200);
    assert!(
        r.head.contains("set-cookie: datamover_session="),
        "{}",
        r.head
    );
    assert!(
        r.body
            .contains(r#"<meta http-equiv="refresh" content="0; url=/">"#),
        "{}",
        r.body
    );
    assert!(!r.body.contains(&token), "the token is not in the page");
    // ...but never the resource API, which takes only the header.
    let r = http(
        op.api,
        "GET",
        "/apis/datamover.a-cup-of.coffee/v1alpha1/datamovers",
        &cookie,
        None,
    )
    .unwrap();
    assert_eq!(r.status, 401);
    // Signing out takes the page's token (another site cannot sign people out), and ends
    // the session: its cookie no longer opens the page.
    let logout = format!("{cookie}{form}");
    let r = http(op.api, "POST", "/logout", &logout, Some("csrf=wrong")).unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(http(op.api, "GET", "/", &cookie, None).unwrap().status, 200);
    let r = http(
        op.api,
        "POST",
        "/logout",
        &logout,
        Some(&format!("csrf={csrf}")),
    )
    .unwrap();
    assert_eq!(r.status, 303);
    assert!(r.head.contains("max-age=0"), "{}", r.head);
    assert_eq!(http(op.api, "GET", "/", &cookie, None).unwrap().status, 403);
    // The live feed the session had open ends with it (checked every 5 s; a stream that
    // stays open fails the read's 30 s timeout).
    while let Some(event) = feed.next_or_end() {
        assert_ne!(event.name, "snapshot", "the stream restarted");
    }
}

#[test]
fn the_event_stream_should_deliver_each_phase_change_within_a_second() {
    require_rclone();
    let dir = tempdir();
    let source = dir.join("source");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(source.join("data.bin"), noise(64 * 1024, 3)).unwrap();
    let mut op = operator(dir.join("data")).start();
    let mut feed = Sse::open(op.api, &op.auth());
    assert_eq!(feed.next().name, "snapshot");
    op.apply(&format!(
        "{}{}{}",
        pvc("data", &source),
        secret("local", &dir.join("dest")),
        datamover("watched", "data", "local", "  deletePvcAfterBackup: true\n"),
    ));
    // Each phase is stamped (phaseStartedAtMs) just before its status is written; the
    // gap to the event's arrival is the status write plus the feed.
    let mut phase = String::new();
    let mut gaps: Vec<(String, u64)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while phase != "Completed" {
        assert!(
            Instant::now() < deadline,
            "no Completed; phases seen: {gaps:?}"
        );
        let event = feed.next();
        if event.name != "datamover" || event.data["metadata"]["name"] != "watched" {
            continue;
        }
        let status: &Value = &event.data["status"];
        let now = status["phase"].as_str().unwrap_or_default().to_owned();
        if now != phase && !now.is_empty() {
            let stamped = status["phaseStartedAtMs"].as_u64().unwrap();
            gaps.push((now.clone(), event.arrived_ms.saturating_sub(stamped)));
        }
        phase = now;
    }
    println!("phase change to event, ms: {gaps:?}");
    let phases: Vec<&str> = gaps.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        phases,
        [
            "CreatingClonedPVC",
            "ClonedPVCReady",
            "CreatingPod",
            "CleaningUp",
            "Completed"
        ]
    );
    for (phase, gap) in &gaps {
        assert!(
            *gap < 1000,
            "{phase} reached the feed {gap} ms after it was written"
        );
    }

    // An open page never holds up a shutdown: its stream ends and the operator exits.
    op.terminate(Duration::from_secs(15));
    while let Some(event) = feed.next_or_end() {
        assert_ne!(event.name, "snapshot", "the stream restarted");
    }
}
