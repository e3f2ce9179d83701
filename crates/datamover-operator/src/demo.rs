//! The bundled example: sample data, a secret with a local destination, a DataMover.

use crate::operator::RunArgs;
use datamover::manifest;
use datamover::store::EmbeddedStore;
use std::time::Duration;

/// The example's manifests; `{source}` and `{destination}` are filled in.
pub(crate) const MANIFESTS: &str = r#"apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: demo-data
  annotations:
    datamover.a-cup-of.coffee/host-path: "{source}"
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Secret
metadata:
  name: demo-destination
stringData:
  DESTINATION: "{destination}"
---
apiVersion: datamover.a-cup-of.coffee/v1alpha1
kind: DataMover
metadata:
  name: demo-backup
spec:
  sourcePvc: demo-data
  secretName: demo-destination
  addTimestampPrefix: true
  deletePvcAfterBackup: true
"#;

fn write_sample(root: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(root.join("photos/2026"))?;
    std::fs::create_dir_all(root.join("empty"))?;
    std::fs::write(
        root.join("README.txt"),
        "Sample data backed up by the DataMover demo.\n",
    )?;
    std::fs::write(
        root.join("photos/2026/café.txt"),
        "unicode names survive the trip\n",
    )?;
    std::fs::write(root.join("photos/2026/zeros.bin"), vec![0u8; 1 << 20])?;
    std::fs::write(root.join("empty.log"), "")?;
    Ok(())
}

pub(crate) async fn run(
    args: &RunArgs,
    store: &EmbeddedStore,
    metrics_url: &str,
) -> Result<(), String> {
    let data_dir = std::fs::canonicalize(&args.data_dir)
        .map_err(|e| format!("{}: {e}", args.data_dir.display()))?;
    let source = data_dir.join("demo/source");
    let destination = data_dir.join("demo/backup");
    write_sample(&source)
        .map_err(|e| format!("writing the sample data to {}: {e}", source.display()))?;
    let text = MANIFESTS
        .replace("{source}", &source.display().to_string())
        .replace("{destination}", &destination.display().to_string());
    let objects = manifest::parse(&text).map_err(|e| e.to_string())?;
    store
        .apply(objects, &data_dir.join("volumes"))
        .map_err(|e| e.to_string())?;
    println!(
        "demo: applied PersistentVolumeClaim demo-data ({}), Secret demo-destination, DataMover demo-backup",
        source.display()
    );
    for _ in 0..600 {
        if let Some(dm) = store.datamover("default", "demo-backup")
            && (dm.status.phase == "Completed" || dm.status.phase == "Failed")
        {
            println!("demo: DataMover default/demo-backup is {}", dm.status.phase);
            if dm.status.phase == "Failed" {
                println!("demo: last error: {}", dm.status.last_error);
            } else {
                println!(
                    "demo: {} files, {} bytes copied to {}",
                    dm.status.files_transferred, dm.status.bytes_transferred, dm.status.destination
                );
            }
            println!("demo: metrics:  curl {metrics_url} | grep datamover_");
            println!(
                "demo: status:   datamover-operator get dm -o wide --server http://{}",
                args.api_bind_address
            );
            println!("demo: serving until Ctrl-C");
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("the demo DataMover did not finish within 60 s".into())
}
