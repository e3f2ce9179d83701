//! Status conditions, as Kubernetes objects carry them: one per type, its
//! `lastTransitionTime` moved only when its status flips.

use crate::time;
use crate::types::Condition;

/// Sets the condition `type_` in `conditions` to `True` (`ok`) or `False`, with `reason`
/// and `message`; its transition time changes only when its status does.
///
/// ```
/// use datamover::conditions::set;
/// let mut conditions = Vec::new();
/// set(&mut conditions, "Cloned", false, "Cloning", "copying");
/// let first = conditions[0].last_transition_time.clone();
/// set(&mut conditions, "Cloned", false, "Cloning", "still copying");
/// assert_eq!((conditions.len(), conditions[0].message.as_str()), (1, "still copying"));
/// assert_eq!(conditions[0].last_transition_time, first);
/// ```
pub fn set(conditions: &mut Vec<Condition>, type_: &str, ok: bool, reason: &str, message: &str) {
    let now = time::rfc3339(time::now_ms());
    let value = if ok { "True" } else { "False" };
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            if c.status != value {
                c.last_transition_time = now;
            }
            c.status = value.into();
            c.reason = reason.into();
            c.message = message.into();
        }
        None => conditions.push(Condition {
            type_: type_.into(),
            status: value.into(),
            reason: reason.into(),
            message: message.into(),
            last_transition_time: now,
        }),
    }
}
