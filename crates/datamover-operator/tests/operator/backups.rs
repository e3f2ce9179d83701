//! Backups arrive identical, with and without a timestamp prefix; cleanup only on request.

use crate::helpers::*;
use crate::support::{DATAMOVERS, require_rclone, tempdir};
use serde_json::Value;
use std::time::Duration;

#[test]
fn backups_should_arrive_identical_with_and_without_timestamp_prefix_and_cleanup_only_on_request() {
    require_rclone();
    let dir = tempdir();
    let source = dir.join("source");
    sample_tree(&source, 50 * 1024 * 1024);
    let op = start(&dir.join("data"));
    let (dest1, dest2) = (dir.join("dest-prefixed"), dir.join("dest-plain"));
    op.apply(&format!(
        "{}{}{}{}{}",
        pvc("data", &source),
        secret(
            "to-prefixed",
            &[("DESTINATION", &dest1.display().to_string())]
        ),
        secret("to-plain", &[("DESTINATION", &dest2.display().to_string())]),
        datamover(
            "prefixed",
            "data",
            "to-prefixed",
            "  addTimestampPrefix: true\n  deletePvcAfterBackup: true\n"
        ),
        datamover("plain", "data", "to-plain", ""),
    ));
    let prefixed = op.finished("prefixed", Duration::from_secs(120));
    let plain = op.finished("plain", Duration::from_secs(120));
    assert_eq!(prefixed["status"]["phase"], "Completed", "{prefixed}");
    assert_eq!(plain["status"]["phase"], "Completed", "{plain}");

    let expected = tree(&source);
    assert_eq!(
        tree(&dest2),
        expected,
        "the plain backup differs from the source"
    );
    let folders: Vec<_> = std::fs::read_dir(&dest1)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    let folder = &folders[0];
    assert!(
        folder.len() == 17 && folder.as_bytes()[4] == b'-' && folder.as_bytes()[10] == b'-',
        "{folder} is not YYYY-MM-DD-HHMMSS"
    );
    assert_eq!(
        tree(&dest1.join(folder)),
        expected,
        "the prefixed backup differs from the source"
    );
    assert_eq!(
        prefixed["status"]["destination"],
        format!("{}/{folder}", dest1.display())
    );
    assert_eq!(
        plain["status"]["bytesTransferred"].as_u64().unwrap(),
        50 * 1024 * 1024 + 5 + 8
    );
    assert_eq!(plain["status"]["filesTransferred"], 4);

    // deletePvcAfterBackup removed its clone, volume and object; the other clone stays.
    let volumes = op.data.join("volumes/default");
    let clone_of = |dm: &Value| dm["status"]["restoredPvcName"].as_str().unwrap().to_owned();
    let (gone, kept) = (clone_of(&prefixed), clone_of(&plain));
    assert!(gone.starts_with("data-cloned-") && kept.starts_with("data-cloned-"));
    assert!(!volumes.join(&gone).exists());
    assert_eq!(
        tree(&volumes.join(&kept)),
        expected,
        "the kept clone is a full copy"
    );
    let pvc_status = |name: &str| {
        op.api(
            "GET",
            &format!("/api/v1/namespaces/default/persistentvolumeclaims/{name}"),
            None,
        )
        .status
    };
    assert_eq!(pvc_status(&gone), 404);
    assert_eq!(pvc_status(&kept), 200);
    // Deleting the DataMover collects the clone it kept.
    let status = op
        .api("DELETE", &format!("{DATAMOVERS}/datamovers/plain"), None)
        .status;
    assert_eq!(status, 200);
    assert_eq!(pvc_status(&kept), 404);
    assert!(!volumes.join(&kept).exists());

    assert_eq!(
        counters(&op),
        [
            r#"datamover_bytes_transferred_total{namespace="default"} 104857626"#,
            r#"datamover_cleanup_operations_total{status="success",namespace="default"} 1"#,
            r#"datamover_data_sync_operations_total{status="success",namespace="default"} 2"#,
            r#"datamover_files_transferred_total{namespace="default"} 8"#,
            r#"datamover_operations_total{phase="CleaningUp",status="started",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CleaningUp",status="success",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CreatingClonedPVC",status="started",namespace="default"} 2"#,
            r#"datamover_operations_total{phase="CreatingClonedPVC",status="success",namespace="default"} 2"#,
            r#"datamover_operations_total{phase="CreatingPod",status="started",namespace="default"} 2"#,
            r#"datamover_operations_total{phase="CreatingPod",status="success",namespace="default"} 2"#,
            r#"datamover_pod_creation_operations_total{status="started",namespace="default"} 2"#,
            r#"datamover_pod_creation_operations_total{status="success",namespace="default"} 2"#,
            // Both kinds exist from the start, at 0: no write was refused.
            r#"datamover_store_write_errors_total{kind="io"} 0"#,
            r#"datamover_store_write_errors_total{kind="no_space"} 0"#,
        ]
    );
    assert!(op.metrics().contains(
        r#"datamover_phase_duration_seconds_count{phase="CreatingPod",namespace="default"} 2"#
    ));
}
