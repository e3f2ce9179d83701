//! Every path here is under a fresh temporary directory; the test's own data dir plays
//! "a destination that must be refused". No test names `/` or a system directory.

use super::*;
use tmc_test_support::{TempDir as TestDir, tempdir};

/// `<tmp>/{data, hosts, dests, outside}` and the policy allowing `hosts` and `dests`.
fn setup() -> (TestDir, Policy) {
    let dir = tempdir();
    for d in ["data", "hosts/a", "dests", "outside"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    let policy = Policy::new(
        &dir.join("data"),
        &[dir.join("hosts")],
        &[dir.join("dests")],
    )
    .unwrap();
    (dir, policy)
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn host_paths_should_be_refused_by_default_naming_the_annotation_and_the_flag() {
    let dir = tempdir();
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::create_dir_all(dir.join("host")).unwrap();
    let policy = Policy::new(&dir.join("data"), &[], &[]).unwrap();
    let err = policy.check_host_path(&s(&dir.join("host"))).unwrap_err();
    assert!(
        err.starts_with("annotation datamover.a-cup-of.coffee/host-path"),
        "{err}"
    );
    assert!(err.contains("allowed host-path roots (none)"), "{err}");
    assert!(err.contains("--allow-host-path DIR"), "{err}");
}

#[test]
fn host_paths_should_be_accepted_only_under_a_root_after_dotdot_and_symlinks() {
    let (dir, policy) = setup();
    assert_eq!(
        policy.check_host_path(&s(&dir.join("hosts/a"))).unwrap(),
        dir.join("hosts/a")
    );
    let escape = format!("{}/hosts/a/../../outside", dir.display());
    assert!(
        policy
            .check_host_path(&escape)
            .unwrap_err()
            .contains("outside the allowed")
    );
    std::os::unix::fs::symlink(dir.join("outside"), dir.join("hosts/link")).unwrap();
    let err = policy
        .check_host_path(&s(&dir.join("hosts/link")))
        .unwrap_err();
    assert!(
        err.contains(&format!("(resolved {})", dir.join("outside").display())),
        "{err}"
    );
    let err = policy.check_host_path(&s(&dir.join("data"))).unwrap_err();
    assert!(err.contains("overlaps the operator's data dir"), "{err}");
}

#[test]
fn a_dotdot_after_a_symlink_should_be_refused_as_ambiguous() {
    let (dir, policy) = setup();
    // hosts/deep -> outside/x/y: `hosts/deep/../a` is outside/x/a for the kernel, hosts/a
    // for rclone.
    std::fs::create_dir_all(dir.join("outside/x/y")).unwrap();
    std::os::unix::fs::symlink(dir.join("outside/x/y"), dir.join("hosts/deep")).unwrap();
    let err = policy
        .check_host_path(&format!("{}/hosts/deep/../a", dir.display()))
        .unwrap_err();
    assert!(err.contains("is ambiguous"), "{err}");
}

#[test]
fn destinations_should_be_accepted_only_under_a_root_naming_the_key_and_the_flag() {
    let (dir, policy) = setup();
    policy
        .check_destination(&s(&dir.join("dests/new/deeper")), &[], None)
        .unwrap();
    for escape in [
        s(&dir.join("outside")),
        format!("{}/dests/../outside", dir.display()),
        format!("{}/dests/not-yet/../../outside/x", dir.display()),
    ] {
        let err = policy.check_destination(&escape, &[], None).unwrap_err();
        assert!(err.starts_with("DESTINATION"), "{err}");
        assert!(err.contains("--allow-local-destination DIR"), "{err}");
    }
    std::os::unix::fs::symlink(dir.join("outside"), dir.join("dests/link")).unwrap();
    let err = policy
        .check_destination(&s(&dir.join("dests/link/sub")), &[], None)
        .unwrap_err();
    assert!(
        err.contains(&format!("(resolved {})", dir.join("outside/sub").display())),
        "{err}"
    );
}

#[test]
fn the_data_dir_and_what_contains_it_should_never_be_a_destination() {
    let dir = tempdir();
    std::fs::create_dir_all(dir.join("data")).unwrap();
    // Even with the whole test directory allowed as a root.
    let policy = Policy::new(&dir.join("data"), &[], &[dir.to_path_buf()]).unwrap();
    for (dest, why) in [
        (dir.join("data"), "contains the operator's data dir"),
        (dir.to_path_buf(), "contains the operator's data dir"),
        (
            dir.join("data/volumes/default/x"),
            "inside the operator's data dir",
        ),
    ] {
        let err = policy.check_destination(&s(&dest), &[], None).unwrap_err();
        assert!(err.contains(why), "{err}");
    }
    policy
        .check_destination(&s(&dir.join("data/backups/x")), &[], None)
        .unwrap();
}

#[test]
fn the_default_destination_root_should_be_the_data_dirs_backups() {
    let dir = tempdir();
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let policy = Policy::new(&dir.join("data"), &[], &[]).unwrap();
    assert_eq!(policy.destination_roots(), [dir.join("data/backups")]);
    policy
        .check_destination(&s(&dir.join("data/backups/nightly")), &[], None)
        .unwrap();
    let err = policy
        .check_destination(&s(&dir.join("elsewhere")), &[], None)
        .unwrap_err();
    assert!(
        err.contains("outside the allowed local-destination roots"),
        "{err}"
    );
}

#[test]
fn a_destination_overlapping_the_source_should_be_refused() {
    let (dir, policy) = setup();
    std::fs::create_dir_all(dir.join("dests/src/inner")).unwrap();
    for source in [
        dir.join("dests/src/inner"),
        dir.join("dests/src"),
        dir.join("dests"),
    ] {
        let err =
            check_local_destination(&policy, &s(&dir.join("dests/src")), &[], &source).unwrap_err();
        assert!(err.contains("overlaps the source"), "{err}");
    }
    check_local_destination(
        &policy,
        &s(&dir.join("dests/other")),
        &[],
        &dir.join("dests/src"),
    )
    .unwrap();
}

#[test]
fn remotes_should_pass_unless_they_reach_local_directories() {
    let (_dir, policy) = setup();
    let env = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    policy
        .check_destination(
            "offsite:bucket/x",
            &env(&[("RCLONE_CONFIG_OFFSITE_TYPE", "s3")]),
            None,
        )
        .unwrap();
    policy
        .check_destination("DATAMOVERS3:bucket", &[], None)
        .unwrap();
    let err = policy
        .check_destination(
            "my-disk:/x",
            &env(&[("RCLONE_CONFIG_MY_DISK_TYPE", "local")]),
            None,
        )
        .unwrap_err();
    assert!(err.contains("is of type local"), "{err}");
    let err = policy
        .check_destination(":local:/x", &[], None)
        .unwrap_err();
    assert!(err.contains("on-the-fly remotes"), "{err}");
}

#[test]
fn env_that_reaches_outside_the_policy_should_be_refused_naming_the_key() {
    let (dir, policy) = setup();
    let pairs = |k: &str| vec![(k.to_owned(), "x".to_owned())];
    for key in [
        "RCLONE_CONFIG",
        "rclone_log_file",
        "RCLONE_BACKUP_DIR",
        "RCLONE_PASSWORD_COMMAND",
        "RCLONE_FILES_FROM",
        "RCLONE_CONFIG_BOX_SSH",
        "RCLONE_RC_ADDR",
        "LD_PRELOAD",
        "HOME",
    ] {
        let err = check_env(&pairs(key)).unwrap_err();
        assert!(err.starts_with(&format!("{key}: not accepted")), "{err}");
        let err = check_local_destination(
            &policy,
            &s(&dir.join("dests/x")),
            &pairs(key),
            &dir.join("hosts/a"),
        )
        .unwrap_err();
        assert!(err.starts_with(key), "{err}");
    }
    check_env(&[
        ("RCLONE_BWLIMIT".to_owned(), "2M".to_owned()),
        ("RCLONE_CONFIG_OFFSITE_TYPE".to_owned(), "s3".to_owned()),
        ("AWS_ACCESS_KEY_ID".to_owned(), "x".to_owned()),
    ])
    .unwrap();
}

/// A manifest of one PVC, one secret naming `destination` and one DataMover backing the PVC
/// up, all called `name` in namespace `team`.
fn backup(name: &str, destination: &Path, timestamped: bool) -> Vec<Object> {
    datamover::manifest::parse(&format!(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: {name}, namespace: team}}\n---\n\
         apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}, namespace: team}}\nstringData: {{DESTINATION: \"{}\"}}\n---\n\
         apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMover\nmetadata: {{name: {name}, namespace: team}}\n\
         spec: {{sourcePvc: {name}, secretName: {name}, addTimestampPrefix: {timestamped}}}\n",
        destination.display()
    ))
    .unwrap()
}

#[test]
fn apply_should_refuse_a_destination_overlapping_another_datamovers_even_through_a_symlink() {
    let (dir, policy) = setup();
    let store = crate::store::EmbeddedStore::open(&dir.join("data/store.redb")).unwrap();
    let volumes = Volumes::new(dir.join("data/volumes"));
    let first = backup("a", &dir.join("dests/team/a"), false);
    policy.check_objects(&first, &store, &volumes).unwrap();
    store.apply(first, &volumes).unwrap();
    let resolved_a = dir.join("dests/team/a");
    let refusal = |what: &str, other: &Path| {
        format!(
            "DataMover team/b: destination {} overlaps DataMover team/a ({}): rclone sync makes its target equal to the source, so a sync of one would delete what the other wrote; choose a destination apart from it (two objects with addTimestampPrefix: true may share one base), or delete DataMover team/a first",
            other.display(),
            what
        )
    };
    let shown_a = resolved_a.display().to_string();
    for (dest, resolved) in [
        (dir.join("dests/team/a"), dir.join("dests/team/a")),
        (dir.join("dests/team"), dir.join("dests/team")),
        (
            dir.join("dests/team/a/inner"),
            dir.join("dests/team/a/inner"),
        ),
    ] {
        let err = policy
            .check_objects(&backup("b", &dest, false), &store, &volumes)
            .unwrap_err();
        assert_eq!(err, refusal(&shown_a, &resolved), "{}", dest.display());
    }
    std::fs::create_dir_all(dir.join("dests/team/a")).unwrap();
    std::os::unix::fs::symlink(dir.join("dests/team/a"), dir.join("dests/alias")).unwrap();
    let err = policy
        .check_objects(
            &backup("b", &dir.join("dests/alias"), false),
            &store,
            &volumes,
        )
        .unwrap_err();
    assert_eq!(
        err,
        refusal(&shown_a, &resolved_a),
        "a symlink into a's destination"
    );
    // A sibling is fine, and so is re-applying a itself.
    policy
        .check_objects(
            &backup("b", &dir.join("dests/team/b"), false),
            &store,
            &volumes,
        )
        .unwrap();
    policy
        .check_objects(
            &backup("a", &dir.join("dests/team/a"), false),
            &store,
            &volumes,
        )
        .unwrap();
}

#[test]
fn apply_should_accept_prefixed_datamovers_sharing_a_base_but_not_a_mirror_into_it() {
    let (dir, policy) = setup();
    let store = crate::store::EmbeddedStore::open(&dir.join("data/store.redb")).unwrap();
    let volumes = Volumes::new(dir.join("data/volumes"));
    let base = dir.join("dests/team");
    store.apply(backup("a", &base, true), &volumes).unwrap();
    policy
        .check_objects(&backup("b", &base, true), &store, &volumes)
        .unwrap();
    let err = policy
        .check_objects(&backup("b", &base, false), &store, &volumes)
        .unwrap_err();
    assert!(
        err.starts_with(&format!(
            "DataMover team/b: destination {} overlaps DataMover team/a ({})",
            base.display(),
            base.display()
        )),
        "{err}"
    );
    // Applying both at once is checked alike.
    let mut both = backup("c", &dir.join("dests/other"), false);
    both.extend(backup("d", &dir.join("dests/other/d"), false));
    let err = policy.check_objects(&both, &store, &volumes).unwrap_err();
    assert!(err.contains("overlaps DataMover team/"), "{err}");
}
