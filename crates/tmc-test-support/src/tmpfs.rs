//! A small tmpfs of its own, for tests of a full disk: mounted on a fresh temp dir,
//! unmounted when dropped (panics included), then removed with the dir.
//!
//! Mounting needs root (CI runs the tests as root). Without it the test fails, saying so:
//! a full-disk test that skips has not tested anything.

use crate::temp::TempDir;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs of a fixed size on a temp dir. Dereferences to its mount point.
///
/// Drop it after whatever holds files there (an operator started on it): declare it first.
#[derive(Debug)]
pub struct Tmpfs {
    /// Until dropped: unmounted in `drop`, before the dir (a field) is removed.
    mounted: bool,
    dir: TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it: `4m`, `512k`) on a fresh
    /// temp dir. Fails, naming the fix, when it cannot (not root).
    pub fn mount(size: &str) -> Self {
        let dir = TempDir::new("tmpfs");
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output()
            .unwrap_or_else(|e| panic!("cannot run mount: {e}; this test needs root and mount(8)"));
        assert!(
            out.status.success(),
            "mounting a {size} tmpfs on {} failed ({}): this test needs root to mount a small \
             filesystem it can fill; run it as root (CI does), e.g. `sudo -E cargo test`",
            dir.path().display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Self { mounted: true, dir }
    }

    /// Its mount point.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `name` here until the filesystem is full; returns its path and size. Remove
    /// the file to give the space back.
    pub fn fill(&self, name: &str) -> (PathBuf, u64) {
        let path = self.path().join(name);
        let mut file = std::fs::File::create(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        let chunk = vec![0x5a_u8; 4096];
        let mut written = 0_u64;
        loop {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.raw_os_error() == Some(28) => break,
                Err(e) => panic!("filling {}: {e}", path.display()),
            }
        }
        (path, written)
    }
}

impl std::ops::Deref for Tmpfs {
    type Target = Path;

    fn deref(&self) -> &Path {
        self.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        if !std::mem::take(&mut self.mounted) {
            return;
        }
        let unmount = |lazy: bool| {
            let mut command = Command::new("umount");
            if lazy {
                command.arg("-l");
            }
            command
                .arg(self.dir.path())
                .status()
                .is_ok_and(|s| s.success())
        };
        // A process the test started may still hold a file there: detach it then.
        let unmounted = unmount(false) || unmount(true);
        if !unmounted && !std::thread::panicking() {
            panic!("cannot unmount the tmpfs on {}", self.dir.path().display());
        }
    }
}
