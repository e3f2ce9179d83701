//! The manifest checks, refusal by refusal.

use super::*;

const ORIGINAL: &str = r#"
apiVersion: datamover.a-cup-of.coffee/v1alpha1
kind: DataMover
metadata:
  name: datamover-sample
  namespace: default
spec:
  sourcePvc: "my-pvc"
  secretName: "my-secret"
  addTimestampPrefix: true
  deletePvcAfterBackup: true
  additionalEnv:
    - name: RCLONE_S3_NO_CHECK_BUCKET
      value: "true"
  image:
    name: ghcr.io/qjoly/datamover-rclone
    tag: latest
    pullPolicy: IfNotPresent
---
apiVersion: v1
kind: Secret
metadata: {name: my-secret}
data:
  AWS_ACCESS_KEY_ID: bWluaW8=
stringData:
  BUCKET_NAME: backups
---
"#;

#[test]
fn the_original_operators_manifests_parse_unchanged() {
    let objects = parse(ORIGINAL).unwrap();
    assert_eq!(objects.len(), 2);
    let Object::DataMover(dm) = &objects[0] else {
        panic!()
    };
    assert_eq!(dm.spec.additional_env[0].name, "RCLONE_S3_NO_CHECK_BUCKET");
    assert!(dm.spec.add_timestamp_prefix && dm.spec.delete_pvc_after_backup);
    assert_eq!(dm.spec.image.as_ref().unwrap().pull_policy, "IfNotPresent");
    let Object::Secret(secret) = &objects[1] else {
        panic!()
    };
    let values = secret.values().unwrap();
    assert_eq!(values["AWS_ACCESS_KEY_ID"], "minio");
    assert_eq!(values["BUCKET_NAME"], "backups");
}

#[test]
fn refusals_name_the_document_field_and_fix() {
    let cases = [
        (
            "kind: Pod\napiVersion: v1\nmetadata: {name: p}\n",
            "document 1 (Pod p): kind: unknown kind \"Pod\": accepted are DataMover, DataMoverSchedule, DataMoverPopulator (datamover.a-cup-of.coffee/v1alpha1), PersistentVolumeClaim (v1), Secret (v1)",
        ),
        (
            "apiVersion: v1\nkind: DataMover\nmetadata: {name: a}\nspec: {}\n",
            "document 1 (DataMover a): apiVersion: DataMover needs apiVersion \"datamover.a-cup-of.coffee/v1alpha1\", not \"v1\"",
        ),
        (
            "apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMover\nmetadata: {name: a}\nspec: {sourcePvc: p, secretName: s, addTimestampPrefix: \"yes\"}\n",
            "document 1 (DataMover a): spec.addTimestampPrefix: expected true or false, got a string",
        ),
        (
            "apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMover\nmetadata: {name: a}\nspec: {sourcePVC: p, secretName: s}\n",
            "document 1 (DataMover a): spec.sourcePVC: unknown field \"sourcePVC\": accepted are sourcePvc, secretName, addTimestampPrefix, deletePvcAfterBackup, additionalEnv, image, copyMethod, volumeSnapshotClassName, verify",
        ),
        (
            "apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMover\nmetadata: {name: A_B}\nspec: {sourcePvc: p, secretName: s}\n",
            "document 1 (DataMover A_B): metadata.name: \"A_B\" is not a valid name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit",
        ),
        (
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {K: \"not base64!\"}\n",
            "document 1 (Secret s): data.K: not valid base64: put plain values under stringData",
        ),
        (
            "apiVersion: v1\nkind: Secret\nmetadata: {}\n",
            "document 1: metadata.name: required: a string",
        ),
        (
            "apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMover\nmetadata: {name: a}\nspec: {sourcePvc: p, secretName: s, additionalEnv: [{name: 1X}]}\n",
            "document 1 (DataMover a): spec.additionalEnv[0].name: \"1X\" is not a valid variable name (letters, digits, '_')",
        ),
        (
            "apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMover\nmetadata: {name: a}\nspec: {sourcePvc: p, secretName: s, copyMethod: Snapshot}\n",
            "document 1 (DataMover a): spec.copyMethod: Snapshot needs the Kubernetes backend (VolumeSnapshots): on one machine give Clone (the default: sync a clone of the source) or Direct (sync the source itself)",
        ),
        (
            "apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMoverSchedule\nmetadata: {name: a}\nspec: {schedule: \"@daily\", sourcePvc: p, secretName: s, copyMethod: Snapshot, volumeSnapshotClassName: csi-snap}\n",
            "document 1 (DataMoverSchedule a): spec.copyMethod: Snapshot needs the Kubernetes backend (VolumeSnapshots): on one machine give Clone (the default: sync a clone of the source) or Direct (sync the source itself)",
        ),
        (
            "apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMover\nmetadata: {name: a}\nspec: {sourcePvc: p, secretName: s, copyMethod: clone}\n",
            "document 1 (DataMover a): spec.copyMethod: \"clone\" is not a copy method: give Clone (the default: sync a clone of the source), Direct (sync the source itself) or, on Kubernetes, Snapshot (sync a PVC made from a VolumeSnapshot of the source)",
        ),
        (
            "apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMoverSchedule\nmetadata: {name: a}\nspec: {schedule: \"@daily\", sourcePvc: p, secretName: s, copyMethod: Direct, deletePvcAfterBackup: true}\n",
            "document 1 (DataMoverSchedule a): spec.deletePvcAfterBackup: copyMethod: Direct syncs the source volume itself, so there is no clone to delete: remove deletePvcAfterBackup (or set copyMethod: Clone)",
        ),
        (
            "a: [1\n",
            "document 1: (document): not valid YAML: did not find expected ',' or ']' at line 2 column 1, while parsing a flow sequence at line 1 column 4",
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(parse(input).unwrap_err().to_string(), expected, "{input}");
    }
}

#[test]
fn schedules_populators_and_restore_pvcs_are_validated_field_by_field() {
    let head = "apiVersion: datamover.a-cup-of.coffee/v1alpha1\nmetadata: {name: a}\n";
    let cases = [
        (
            "kind: DataMoverSchedule\nspec: {schedule: '0 3 * * * *', sourcePvc: p, secretName: s}\n",
            "document 1 (DataMoverSchedule a): spec.schedule: \"0 3 * * * *\" has 6 fields: give 5 (minute hour day-of-month month day-of-week, UTC), e.g. \"0 3 * * *\" for 03:00 every day, or @hourly, @daily, @weekly, @monthly, @yearly",
        ),
        (
            "kind: DataMoverSchedule\nspec: {sourcePvc: p, secretName: s}\n",
            "document 1 (DataMoverSchedule a): spec.schedule: required: a 5-field cron pattern in UTC, e.g. \"0 3 * * *\"",
        ),
        (
            "kind: DataMoverSchedule\nspec: {schedule: '@daily', sourcePvc: p, secretName: s, successfulJobsHistoryLimit: -1}\n",
            "document 1 (DataMoverSchedule a): spec.successfulJobsHistoryLimit: expected a whole number from 0 to 1000 (finished DataMovers kept), got -1",
        ),
        (
            "kind: DataMoverSchedule\nspec: {schedule: '@daily', sourcePvc: p, secretName: s, suspended: true}\n",
            "document 1 (DataMoverSchedule a): spec.suspended: unknown field \"suspended\": accepted are schedule, sourcePvc, secretName, addTimestampPrefix, deletePvcAfterBackup, additionalEnv, image, copyMethod, volumeSnapshotClassName, verify, suspend, successfulJobsHistoryLimit, failedJobsHistoryLimit, retention",
        ),
        (
            "kind: DataMoverPopulator\nspec: {secretName: s, path: ../etc}\n",
            "document 1 (DataMoverPopulator a): spec.path: \"../etc\" must not contain '.', '..' or empty segments: name a folder inside the destination",
        ),
        (
            "kind: DataMoverPopulator\nspec: {secretName: s}\n",
            "document 1 (DataMoverPopulator a): spec.path: required: the backup folder inside the destination, e.g. 2026-11-30-030000",
        ),
        (
            "kind: DataMover\nspec: {sourcePvc: p, secretName: s, suspend: true}\n",
            "document 1 (DataMover a): spec.suspend: unknown field \"suspend\": accepted are sourcePvc, secretName, addTimestampPrefix, deletePvcAfterBackup, additionalEnv, image, copyMethod, volumeSnapshotClassName, verify",
        ),
    ];
    for (doc, expected) in cases {
        let input = format!("{head}{doc}");
        assert_eq!(parse(&input).unwrap_err().to_string(), expected, "{input}");
    }
    let pvc = "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: r}\nspec: {dataSourceRef: {apiGroup: datamover.a-cup-of.coffee, kind: DataMover, name: x}}\n";
    assert_eq!(
        parse(pvc).unwrap_err().to_string(),
        "document 1 (PersistentVolumeClaim r): spec.dataSourceRef.kind: \"DataMover\": accepted is DataMoverPopulator (restore from a backup)"
    );
    let ok = "apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMoverSchedule\nmetadata: {name: n}\nspec: {schedule: '*/5 * * * *', sourcePvc: p, secretName: s, suspend: true, failedJobsHistoryLimit: 0}\nstatus: {skippedRuns: 4}\n";
    let Object::DataMoverSchedule(s) = &parse(ok).unwrap()[0] else {
        panic!()
    };
    assert_eq!(
        (s.spec.suspend, s.failed_history(), s.successful_history()),
        (true, 0, 3)
    );
    assert_eq!(s.status.skipped_runs, 0, "status is the operator's");
}

#[test]
fn the_second_document_is_numbered_and_status_is_ignored() {
    let text = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: p}\nspec: 3\n";
    assert_eq!(parse(text).unwrap_err().document, 2);
    let dm = "apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMover\nmetadata: {name: a}\nspec: {sourcePvc: p, secretName: s}\nstatus: {phase: Completed}\n";
    let Object::DataMover(dm) = &parse(dm).unwrap()[0] else {
        panic!()
    };
    assert_eq!(dm.status.phase, "");
}
