//! Temporary directories for the unit tests: canonical paths, removed when dropped (a
//! failing test's included), so a test run leaves nothing behind in the temp dir.

use std::ops::Deref;
use std::path::{Path, PathBuf};

/// A fresh directory, removed with everything in it when dropped.
#[derive(Debug)]
pub(crate) struct TestDir {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Deref for TestDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.path
    }
}

/// A fresh, empty directory under the system temp dir (`..` and symlinks resolved).
#[allow(clippy::unwrap_used)] // test code: no temp dir is a failed test
pub(crate) fn tempdir() -> TestDir {
    let dir = tempfile::Builder::new()
        .prefix("dm-embedded-")
        .tempdir()
        .unwrap();
    let path = std::fs::canonicalize(dir.path()).unwrap();
    TestDir { _dir: dir, path }
}
