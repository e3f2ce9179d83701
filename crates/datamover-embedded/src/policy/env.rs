//! The environment a sync may take from a secret and `additionalEnv`.

/// Environment variables the sync's child never gets from a secret or `additionalEnv`: each
/// lets rclone read or write files outside the policy, or run a command. Exact names, then
/// prefixes and suffixes (after upper-casing).
const REFUSED_ENV: &[&str] = &[
    "RCLONE_CONFIG",
    "RCLONE_LOG_FILE",
    "RCLONE_BACKUP_DIR",
    "RCLONE_COMPARE_DEST",
    "RCLONE_COPY_DEST",
    "RCLONE_CACHE_DIR",
    "RCLONE_TEMP_DIR",
    "RCLONE_RC",
    "HOME",
    "XDG_CONFIG_HOME",
    "PATH",
];
const REFUSED_ENV_PREFIXES: &[&str] = &["LD_", "RCLONE_RC_"];
const REFUSED_ENV_SUFFIXES: &[&str] = &["_COMMAND", "_FROM", "_SSH"];

/// Checks the environment a sync would get from a secret and `additionalEnv`: variables that
/// reach outside the policy (`RCLONE_CONFIG`, `RCLONE_LOG_FILE`,
/// `RCLONE_BACKUP_DIR`, `*_COMMAND`, `LD_*`, ...) are refused.
///
/// # Errors
/// A message naming the key.
pub fn check_env(env: &[(String, String)]) -> Result<(), String> {
    for (key, _) in env {
        let upper = key.to_ascii_uppercase();
        if REFUSED_ENV.contains(&upper.as_str())
            || REFUSED_ENV_PREFIXES.iter().any(|p| upper.starts_with(p))
            || (upper.starts_with("RCLONE_")
                && REFUSED_ENV_SUFFIXES.iter().any(|s| upper.ends_with(s)))
        {
            return Err(format!(
                "{key}: not accepted in a secret or additionalEnv, as it lets rclone reach files or run commands outside the allowed roots; set it in the operator's own environment if it is needed"
            ));
        }
    }
    Ok(())
}
