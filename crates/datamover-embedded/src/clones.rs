//! What a clone PVC says about itself on the embedded backend: the PVC it copies
//! (`spec.dataSource`), and why its copy failed (the [`CLONED`] condition the
//! [`provisioner`](crate::provisioner) writes). Read by the provisioner and by
//! [`Embedded::clone_pvc`](crate::Embedded).

use datamover::types::PersistentVolumeClaim;

/// The condition the provisioner sets on a clone: `True` once copied, `False` with
/// reason `CloneFailed` and the reason in the message when the copy failed.
pub const CLONED: &str = "Cloned";

/// The source PVC's name of a clone: its `spec.dataSource`, when that names a PVC.
#[must_use]
pub fn clone_source(pvc: &PersistentVolumeClaim) -> Option<&str> {
    let source = pvc.spec.data_source.as_ref()?;
    if source.get("kind")?.as_str()? != "PersistentVolumeClaim" {
        return None;
    }
    source.get("name")?.as_str()
}

/// Why the clone failed, when its copy did (`Cloned=False`, reason `CloneFailed`).
#[must_use]
pub fn clone_failure(pvc: &PersistentVolumeClaim) -> Option<&str> {
    pvc.status
        .conditions
        .iter()
        .find(|c| c.type_ == CLONED && c.reason == "CloneFailed")
        .map(|c| c.message.as_str())
}
