//! The bundled example: sample data, a secret with a local destination, a DataMover.

use datamover::manifest;
use datamover_embedded::policy::Policy;
use datamover_embedded::store::EmbeddedStore;
use datamover_embedded::volumes::Volumes;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What the demo prints at the end, so its hints work as printed.
#[derive(Debug)]
pub(crate) struct Hints {
    /// The metrics exposition's URL.
    pub(crate) metrics_url: String,
    /// The resource API's URL.
    pub(crate) server: String,
    /// The API token's file.
    pub(crate) token_file: PathBuf,
    /// The status page, with the token (`?token=`), so the link signs in.
    pub(crate) page_url: String,
}

/// The example's manifests; `{destination}` is filled in. The PVC is a volume of the data
/// dir (`<data-dir>/volumes/default/demo-data`): no host path needs allowing.
pub(crate) const MANIFESTS: &str = r#"apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: demo-data
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

/// The binary as the user can run it: its name when it is the one on `PATH`, else its path.
fn binary() -> String {
    let exe = std::env::current_exe().ok();
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("datamover-operator"))
            .find(|p| p.is_file())
    });
    match (exe, on_path) {
        (Some(exe), Some(found))
            if std::fs::canonicalize(&found).ok() == std::fs::canonicalize(&exe).ok() =>
        {
            "datamover-operator".into()
        }
        (Some(exe), _) => exe.display().to_string(),
        (None, _) => "datamover-operator".into(),
    }
}

pub(crate) async fn run(
    store: &Arc<EmbeddedStore>,
    policy: &Policy,
    hints: &Hints,
) -> Result<(), String> {
    println!("demo: status page: {}", hints.page_url);
    let data_dir = policy.data_dir();
    let volumes = Volumes::under_data_dir(data_dir);
    let source = volumes.dir("default", "demo-data");
    let destination = data_dir.join("backups/demo");
    write_sample(&source)
        .map_err(|e| format!("writing the sample data to {}: {e}", source.display()))?;
    let text = MANIFESTS.replace("{destination}", &destination.display().to_string());
    let objects = manifest::parse(&text).map_err(|e| e.to_string())?;
    policy.check_objects(&objects, store, &volumes)?;
    // A store write (an fsync) runs off the async workers, as every other one does.
    store
        .write(move |store| store.apply(objects, &volumes))
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "demo: applied PersistentVolumeClaim demo-data ({}), Secret demo-destination, DataMover demo-backup",
        source.display()
    );
    for _ in 0..600 {
        if let Some(dm) = store.object::<datamover::types::DataMover>("default", "demo-backup")
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
            println!(
                "demo: metrics:  curl -s {} | grep datamover_",
                hints.metrics_url
            );
            println!(
                "demo: status:   {} get dm -o wide --server {} --token-file {}",
                binary(),
                hints.server,
                hints.token_file.display()
            );
            println!("demo: serving until Ctrl-C or SIGTERM");
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("the demo DataMover did not finish within 60 s".into())
}
