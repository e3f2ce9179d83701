#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::types::{DataMoverSpec, ObjectMeta, OwnerReference};
use std::path::PathBuf;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn local(path: &str) -> Location {
    Location::locate(&env(&[("DESTINATION", path)]), &[]).unwrap()
}

fn s3(endpoint: &str, path: &str) -> Location {
    Location::locate(
        &env(&[
            ("DESTINATION", &format!("store:{path}")),
            ("RCLONE_CONFIG_STORE_TYPE", "s3"),
            ("RCLONE_CONFIG_STORE_ENDPOINT", endpoint),
            ("RCLONE_CONFIG_STORE_ACCESS_KEY_ID", "AKIA-ONE"),
        ]),
        &[],
    )
    .unwrap()
}

fn mover(kind: &str, name: &str, pvc: &str, timestamped: bool) -> DataMover {
    DataMover {
        api_version: crate::types::API_VERSION.into(),
        kind: kind.into(),
        metadata: ObjectMeta {
            name: name.into(),
            namespace: "team".into(),
            ..ObjectMeta::default()
        },
        spec: DataMoverSpec {
            source_pvc: pvc.into(),
            secret_name: "creds".into(),
            add_timestamp_prefix: timestamped,
            ..DataMoverSpec::default()
        },
        status: crate::types::DataMoverStatus::default(),
    }
}

fn claim(name: &str, pvc: &str, at: Location, timestamped: bool) -> Claim {
    Claim::new(&mover("DataMover", name, pvc, timestamped), at)
}

#[test]
fn local_equal_nested_and_around_conflict_siblings_do_not() {
    let a = claim("backup-a", "a", local("/srv/backups/team/a"), false);
    for (at, conflict) in [
        ("/srv/backups/team/a", true),
        ("/srv/backups/team/a/", true),
        ("/srv/backups/team/./x/../a", true),
        ("/srv/backups/team", true),
        ("/srv/backups/team/a/inner", true),
        ("/srv/backups/team/b", false),
        ("/srv/backups/team/ab", false),
    ] {
        let b = claim("backup-b", "b", local(at), false);
        assert_eq!(a.conflicts(&b), conflict, "{at}");
        assert_eq!(b.conflicts(&a), conflict, "{at} (the other way)");
    }
}

#[test]
fn the_refusal_names_the_other_object_and_its_destination() {
    let a = claim("backup-a", "a", local("/srv/backups/team/a"), false);
    let b = claim("backup-b", "b", local("/srv/backups/team"), false);
    let err = check(&b, [&a]).unwrap_err();
    assert_eq!(
        err,
        "destination /srv/backups/team overlaps DataMover team/backup-a (/srv/backups/team/a): rclone sync makes its target equal to the source, so a sync of one would delete what the other wrote; choose a destination apart from it (two objects with addTimestampPrefix: true may share one base), or delete DataMover team/backup-a first"
    );
    assert_eq!(check(&b, []), Ok(()));
}

#[test]
fn timestamp_prefixes_share_a_base_but_a_mirror_does_not() {
    let base = "/srv/backups/team";
    let a = claim("a", "a", local(base), true);
    let b = claim("b", "b", local(base), true);
    assert!(!a.conflicts(&b), "two prefixed objects on one base");
    let mirror = claim("m", "m", local(base), false);
    assert!(
        a.conflicts(&mirror) && mirror.conflicts(&a),
        "a mirror into the base"
    );
    let around = claim("m", "m", local("/srv/backups"), false);
    assert!(a.conflicts(&around), "a mirror around the base");
    let inside = claim("m", "m", local("/srv/backups/team/x"), false);
    assert!(a.conflicts(&inside), "a mirror inside the base");
    // A prefixed base nested in another: only inside one of its timestamp folders.
    let nested = claim("n", "n", local("/srv/backups/team/sub"), true);
    assert!(!a.conflicts(&nested) && !nested.conflicts(&a));
    let in_folder = claim(
        "n",
        "n",
        local("/srv/backups/team/2026-12-06-051209/x"),
        true,
    );
    assert!(a.conflicts(&in_folder) && in_folder.conflicts(&a));
    assert!(
        check(&in_folder, [&a])
            .unwrap_err()
            .contains("inside the other's timestamp folders")
    );
}

#[test]
fn s3_by_bucket_and_prefix_on_one_endpoint() {
    let a = claim("a", "a", s3("http://minio:9000", "bucket/team/a"), false);
    let same_bucket_nested = claim("b", "b", s3("http://MINIO:9000/", "bucket/team"), false);
    assert!(a.conflicts(&same_bucket_nested));
    let other_prefix = claim("b", "b", s3("http://minio:9000", "bucket/team/b"), false);
    assert!(!a.conflicts(&other_prefix));
    let other_bucket = claim("b", "b", s3("http://minio:9000", "other/team/a"), false);
    assert!(!a.conflicts(&other_bucket));
    let other_endpoint = claim("b", "b", s3("http://minio-2:9000", "bucket/team/a"), false);
    assert!(
        !a.conflicts(&other_endpoint),
        "different endpoints are different stores"
    );
    let local_same_path = claim("b", "b", local("/bucket/team/a"), false);
    assert!(!a.conflicts(&local_same_path));
}

#[test]
fn credentials_and_provider_names_do_not_make_another_store() {
    let with_other_key = Location::locate(
        &env(&[
            ("DESTINATION", "s3b:bucket/team"),
            ("RCLONE_CONFIG_S3B_TYPE", "S3"),
            ("RCLONE_CONFIG_S3B_ENDPOINT", "http://minio:9000"),
            ("RCLONE_CONFIG_S3B_SECRET_ACCESS_KEY", "other"),
            ("RCLONE_CONFIG_S3B_PROVIDER", "Minio"),
        ]),
        &[],
    )
    .unwrap();
    assert!(with_other_key.contains(&s3("http://minio:9000", "bucket/team/a")));
    // Without an endpoint, every S3 remote is AWS, where bucket names are global.
    let aws = |region: &str| {
        Location::locate(
            &env(&[
                ("DESTINATION", "aws:bucket"),
                ("RCLONE_CONFIG_AWS_TYPE", "s3"),
                ("RCLONE_CONFIG_AWS_REGION", region),
            ]),
            &[],
        )
        .unwrap()
    };
    assert_eq!(aws("eu-west-1"), aws("us-east-1"));
}

#[test]
fn the_original_s3_keys_are_the_same_place_as_an_equivalent_destination() {
    let original = Location::locate(
        &env(&[
            ("BUCKET_NAME", "backups"),
            ("BUCKET_HOST", "minio"),
            ("BUCKET_PORT", "443"),
            ("TLS_HOST", "true"),
            ("AWS_ACCESS_KEY_ID", "AKIA"),
        ]),
        &[],
    )
    .unwrap();
    assert_eq!(original.to_string(), "s3://backups at https://minio");
    let remote = s3("https://minio", "backups/team/a");
    assert!(original.contains(&remote) && !remote.contains(&original));
    assert_eq!(remote.first_below(&original), Some("team"));
    // The original keys sync into the bucket's root: a mirror there holds every prefix.
    let a = claim("a", "a", original, false);
    assert!(a.conflicts(&claim("b", "b", remote, true)));
}

#[test]
fn additional_env_overrides_the_secret_like_a_pods_env() {
    let at = Location::locate(
        &env(&[("DESTINATION", "/srv/backups/one")]),
        &[("DESTINATION".into(), "/srv/backups/two".into())],
    )
    .unwrap();
    assert_eq!(at, Location::Local(PathBuf::from("/srv/backups/two")));
    let err = Location::locate(&env(&[("AWS_REGION", "x")]), &[]).unwrap_err();
    assert!(err.starts_with("names no destination"), "{err}");
}

#[test]
fn remotes_configured_elsewhere_and_on_the_fly_compare_by_name() {
    let a = Location::locate(&env(&[("DESTINATION", "gdrive:backups/a")]), &[]).unwrap();
    let b = Location::locate(&env(&[("DESTINATION", "gdrive:backups")]), &[]).unwrap();
    assert!(b.contains(&a));
    assert_eq!(b.to_string(), "gdrive:backups");
    let fly = Location::locate(&env(&[("DESTINATION", ":sftp,host=h:backups")]), &[]).unwrap();
    assert_eq!(fly.to_string(), ":sftp,host=h:backups");
    let sftp = |host: &str| {
        Location::locate(
            &env(&[
                ("DESTINATION", "box:backups"),
                ("RCLONE_CONFIG_BOX_TYPE", "sftp"),
                ("RCLONE_CONFIG_BOX_HOST", host),
                ("RCLONE_CONFIG_BOX_PASS", "secret"),
            ]),
            &[],
        )
        .unwrap()
    };
    assert_eq!(sftp("h").to_string(), "sftp:backups (host=h)");
    assert_ne!(sftp("h"), sftp("other"));
}

#[test]
fn reruns_are_not_conflicts() {
    let at = || local("/srv/backups/team/a");
    let first = claim("backup-1", "a", at(), false);
    let again = claim("backup-2", "a", at(), false);
    assert!(
        !first.conflicts(&again),
        "same PVC, destination and prefix setting"
    );
    let other_pvc = claim("backup-2", "b", at(), false);
    assert!(first.conflicts(&other_pvc));

    // A schedule and its runs, and the runs among themselves.
    let schedule = Claim::new(&mover(SCHEDULE_KIND, "nightly", "a", false), at());
    assert_eq!(schedule.lineage.as_deref(), Some("team/nightly"));
    let run = |name: &str, pvc: &str| {
        let mut dm = mover("DataMover", name, pvc, false);
        dm.metadata.owner_references = vec![OwnerReference {
            kind: SCHEDULE_KIND.into(),
            name: "nightly".into(),
            ..OwnerReference::default()
        }];
        Claim::new(&dm, at())
    };
    assert!(!schedule.conflicts(&run("nightly-1", "a")));
    assert!(!run("nightly-1", "a").conflicts(&run("nightly-2", "a")));
    // Another schedule's mirror into the same place is not a re-run.
    let other = Claim::new(&mover(SCHEDULE_KIND, "weekly", "b", false), at());
    assert!(other.conflicts(&run("nightly-1", "a")));
    assert!(
        check(&other, [&schedule])
            .unwrap_err()
            .contains("DataMoverSchedule team/nightly")
    );
}
