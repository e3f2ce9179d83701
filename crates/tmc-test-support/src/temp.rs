//! Temp dirs that are gone when the test ends, panics included.
//!
//! Each is `<system temp dir>/tmc-test-<pid>-<random>`, canonical (the roots the operator
//! compares paths against are). Dropping one removes it and checks that it is gone: a test
//! that leaves something behind (a file a process still writes, a directory it cannot
//! remove) fails. [`leftovers`] finds the dirs of test processes that have ended without
//! removing theirs (killed, say); the crate's own tests fail on any, and as `tmc-test-support`
//! sorts after the crates it serves, `cargo test --workspace` checks them after their tests.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The prefix of every temp dir made here; the process id follows it.
pub const PREFIX: &str = "tmc-test-";

/// Set (to anything but `0`) to keep the temp dirs for a look after the run; their paths are
/// printed. Nothing else keeps them.
pub const KEEP_ENV: &str = "TMC_TEST_KEEP_TEMP";

/// A fresh, canonical directory under the system temp dir, removed with its content on drop.
///
/// It dereferences to its [`Path`], so `dir.join("data")` and `&dir` (as a `&Path`) work.
#[derive(Debug)]
pub struct TempDir {
    inner: Option<tempfile::TempDir>,
    path: PathBuf,
}

/// A new [`TempDir`].
pub fn tempdir() -> TempDir {
    TempDir::new("")
}

impl TempDir {
    /// A new temp dir whose name carries `what` (for whoever looks at the temp dir meanwhile).
    pub fn new(what: &str) -> Self {
        let base = std::fs::canonicalize(std::env::temp_dir())
            .unwrap_or_else(|e| panic!("the system temp dir: {e}"));
        let prefix = format!(
            "{PREFIX}{}-{what}{}",
            std::process::id(),
            if what.is_empty() { "" } else { "-" }
        );
        let inner = tempfile::Builder::new()
            .prefix(&prefix)
            .tempdir_in(&base)
            .unwrap_or_else(|e| panic!("cannot make a temp dir in {}: {e}", base.display()));
        let path = inner.path().to_owned();
        Self {
            inner: Some(inner),
            path,
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `name` in this directory and returns its path.
    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.path.join(name);
        std::fs::write(&path, content)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else {
            return;
        };
        if std::env::var_os(KEEP_ENV).is_some_and(|v| v != "0") {
            let kept = inner.keep();
            eprintln!("kept (as {KEEP_ENV} asks): {}", kept.display());
            return;
        }
        let removed = inner.close();
        if std::thread::panicking() {
            return; // the test fails already; the dir is removed as far as it can be
        }
        if let Err(e) = removed {
            panic!("the temp dir {} was not removed: {e}", self.path.display());
        }
        assert!(
            !self.path.exists(),
            "the temp dir {} came back after removal: a process the test started still writes there",
            self.path.display()
        );
    }
}

/// The temp dirs of test processes that have ended without removing them. Fails when the
/// temp dir cannot be read: a check that cannot look has not passed.
pub fn leftovers() -> Vec<PathBuf> {
    let base = std::env::temp_dir();
    let entries = std::fs::read_dir(&base)
        .unwrap_or_else(|e| panic!("cannot read {} to look for leftovers: {e}", base.display()));
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| owner(&e.file_name()).is_some_and(|pid| !alive(pid)))
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

/// The process id in a temp dir's name, for names made here.
fn owner(name: &OsStr) -> Option<u32> {
    let rest = name.to_str()?.strip_prefix(PREFIX)?;
    rest.split('-').next()?.parse().ok()
}

fn alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_made_here_names_its_process_and_others_are_not_ours() {
        assert_eq!(owner(OsStr::new("tmc-test-4242-data-AbC123")), Some(4242));
        assert_eq!(owner(OsStr::new("tmc-test-4242-x7Yz")), Some(4242));
        assert_eq!(owner(OsStr::new("tmc-test-foo")), None);
        assert_eq!(owner(OsStr::new("dm-test-4242-0")), None);
    }

    #[test]
    #[allow(clippy::unwrap_used)] // test code
    fn the_dir_of_an_ended_process_is_a_leftover_and_a_live_ones_is_not() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let ended = child.id();
        child.wait().unwrap();
        let fake = std::env::temp_dir().join(format!("{PREFIX}{ended}-probe"));
        std::fs::create_dir(&fake).unwrap();
        let live = TempDir::new("live");
        let found = leftovers();
        std::fs::remove_dir(&fake).unwrap();
        assert!(found.contains(&fake), "{found:?}");
        assert!(
            !found
                .iter()
                .any(|p| p.ends_with(live.path().file_name().unwrap()))
        );
    }
}
