//! The check after a sync on Kubernetes (`spec.verify`): the sync Job of a DataMover that
//! asks for one runs [`sync_script`] in the rclone image instead of the image's own
//! entrypoint: the sync, then `rclone check` in the same pod.
//!
//! The script is written from the core's one description of the check
//! ([`datamover::verify`]: its flags, the words of each `--combined` mark, the reason of a
//! failure, the line that says the check passed), and its tests run it with the real `sh`,
//! `awk` and rclone and compare what it says with what the core says. A failed check fails
//! the pod, the reason (naming the first differing paths) the last error line of its
//! termination message, where the Job's report reads it
//! ([`datamover::progress::last_error`]); a passed one leaves
//! [`verified_line`](datamover::verify::verified_line) after rclone's final statistics, read
//! into `status.progress.verifiedMs` for the reconciler (`status.verifiedAt`, the
//! `Verified` condition, `datamover_verify_*`).

use datamover::types::Verify;
use datamover::verify::{FAILED, MARKS, NO_COMMON_HASH, SHOWN, VERIFIED_MSG, flags};

/// Where the sync reads on Kubernetes: the mount of the clone (or of the source, with
/// `copyMethod: Direct`), the script's first argument.
pub const SOURCE: &str = datamover::job::MOUNT_PATH;

/// The script's template; [`sync_script`] fills in the `@...@` parts.
const TEMPLATE: &str = concat!(
    destination_script!(),
    r#"src="${1:-/data/}"
log="${RCLONE_LOG_FILE:-/dev/termination-log}"
dest="$base"
if [ "${ADD_TIMESTAMP_PREFIX:-false}" = true ]; then dest="$base/${TIMESTAMP_FOLDER:-$(date -u +%Y-%m-%d-%H%M%S)}"; fi
rclone sync "$src" "$dest" --create-empty-src-dirs
now_ms() {
  t=$(date +%s%N 2>/dev/null || true)
  case "$t" in ""|*[!0-9]*) echo $(($(date +%s) * 1000)) ;; *) echo $((t / 1000000)) ;; esac
}
started=$(now_ms)
download=0
check() {
  { rc=0; RCLONE_LOG_FILE= RCLONE_STATS=0 rclone check "$src" "$dest" "$@" 2>&1 || rc=$?; echo "@@exit $rc"; } | awk -v download="$download" '
function esc(s,   i, c, out) {
  out = ""
  for (i = 1; i <= length(s); i++) {
    c = substr(s, i, 1)
    if (c == "\\" || c == "\"") out = out "\\" c
    else if (c == "\t") out = out "\\t"
    else out = out c
  }
  return out
}
BEGIN { @MARKS@ n = 0; shown = ""; nohash = 0; logged = ""; plain = ""; inplain = 0; rc = 0 }
/^@@exit [0-9]+$/ { rc = $2 + 0; next }
substr($0, 2, 1) == " " && (substr($0, 1, 1) in how) {
  n++
  if (n <= @SHOWN@) shown = shown (n > 1 ? ", " : "") esc(substr($0, 3)) " " how[substr($0, 1, 1)]
  next
}
substr($0, 1, 2) == "= " { next }
index($0, "@NO_COMMON_HASH@") { nohash = 1 }
{ line = $0; sub(/^[ \t]+/, "", line); sub(/[ \t]+$/, "", line) }
line == "" { next }
substr(line, 1, 1) == "{" {
  inplain = 0
  if (line ~ /"level":"(error|critical)"/ && match(line, /"msg":"([^"\\]|\\.)*"/)) logged = substr(line, RSTART + 7, RLENGTH - 8)
  next
}
line ~ /^[0-9][0-9][0-9][0-9]\/[0-9][0-9]\/[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9] / {
  text = substr(line, 21); sub(/^[ \t]+/, "", text)
  if (text ~ /^(NOTICE:|INFO  :|DEBUG :)/) { inplain = 0; next }
  sub(/^ERROR :[ \t]*/, "", text)
  inplain = 1; plain = esc(text); next
}
inplain { plain = plain "; " esc(line); next }
{ inplain = 1; plain = esc(line) }
END {
  last = (logged != "" ? logged : plain)
  if (rc != 0 && n == 0) {
    printf "{\"level\":\"error\",\"msg\":\"@FAILED@ could not run: rclone check exited with exit status: %d: %s\"}\n", rc, last
  } else if (@CHECKSUM@ && nohash && download == 0) {
    print "nohash"
  } else if (n > 0) {
    printf "{\"level\":\"error\",\"msg\":\"@FAILED@ (@MODE@) found %d difference%s between what was read and what landed: %s%s\"}\n", n, (n == 1 ? "" : "s"), shown, (n > @SHOWN@ ? ", and " (n - @SHOWN@) " more" : "")
  } else {
    print "ok"
  }
}'
}
outcome=$(check @FLAGS@)
if [ "$outcome" = nohash ]; then download=1; outcome=$(check @DOWNLOAD_FLAGS@); fi
if [ "$outcome" != ok ]; then
  if [ -z "$outcome" ]; then outcome='{"level":"error","msg":"@FAILED@ could not run: the check reported nothing"}'; fi
  printf '%s\n' "$outcome" >> "$log"
  exit 1
fi
printf '{"level":"notice","msg":"@VERIFIED@","verify":{"mode":"@MODE@","ms":%d}}\n' $(($(now_ms) - started)) >> "$log"
"#
);

/// The sync container's script for `mode`: the sync as the embedded backend runs it
/// (`rclone sync <source>/ <destination> --create-empty-src-dirs`, the destination read
/// from the secret as the prune and restore Jobs read it: `DESTINATION`, or the original
/// operator's S3 keys; with `ADD_TIMESTAMP_PREFIX=true`, under the folder the Job names in
/// [`TIMESTAMP_FOLDER`](datamover::job::TIMESTAMP_FOLDER_ENV), the one `status.destination`
/// names, or without it (the script run by hand) the `YYYY-MM-DD-HHMMSS` of the pod's
/// start), then the check ([`datamover::verify::flags`]: its
/// combined report on stdout, its log kept out of the termination message so rclone's
/// final statistics there stay the sync's; with `checksum`, again with `--download` when
/// rclone says [`NO_COMMON_HASH`]). A difference, or a check rclone could not run, appends
/// the reason as a JSON error line to the termination message and fails the pod; a passed
/// check appends [`verified_line`](datamover::verify::verified_line). The source is the
/// script's first argument ([`SOURCE`] in the Job).
#[must_use]
pub fn sync_script(mode: Verify) -> String {
    let marks: String = MARKS
        .iter()
        .map(|(mark, how)| format!("how[\"{mark}\"] = \"{how}\"; "))
        .collect();
    TEMPLATE
        .replace("@MARKS@", &marks)
        .replace("@SHOWN@", &SHOWN.to_string())
        .replace("@NO_COMMON_HASH@", NO_COMMON_HASH)
        .replace("@FAILED@", FAILED)
        .replace("@VERIFIED@", VERIFIED_MSG)
        .replace("@MODE@", mode.as_str())
        .replace(
            "@CHECKSUM@",
            if mode == Verify::Checksum { "1" } else { "0" },
        )
        .replace("@FLAGS@", &flags(mode, false).join(" "))
        .replace("@DOWNLOAD_FLAGS@", &flags(mode, true).join(" "))
}

/// The sync container's command when `spec.verify` asks for a check: `/bin/sh -c
/// <sync_script> datamover-sync /data/`; `None` for `verify: none` (the image's own
/// entrypoint syncs, as the original operator's Job).
#[must_use]
pub fn sync_command(mode: Verify) -> Option<Vec<String>> {
    (mode != Verify::None).then(|| {
        vec![
            "/bin/sh".into(),
            "-c".into(),
            sync_script(mode),
            "datamover-sync".into(),
            SOURCE.into(),
        ]
    })
}

#[cfg(test)]
mod tests;
