//! Resolving a path as rclone and the kernel would, to compare it with the roots.

use std::path::{Component, Path, PathBuf};

/// Resolves `path` to the real directory it names: relative to the working directory,
/// each symlink followed. rclone cleans `..` lexically before it opens a path, and `cp`
/// lets the kernel take `..` after the symlink before it; when the two readings differ
/// (a `..` after a symlink) the path is refused. The part that does not exist yet is
/// joined as written.
///
/// # Errors
/// When the two readings differ, or the working directory or a component cannot be read.
pub fn resolve(path: &Path) -> Result<PathBuf, String> {
    let absolute = if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir()
            .map_err(|e| format!("the working directory: {e}"))?
            .join(path)
    };
    let lexical = follow(&datamover::overlap::clean(&absolute))?;
    let kernel = follow(&absolute)?;
    if lexical != kernel {
        return Err(format!(
            "{} is ambiguous: `..` after a symlink leads to {} for the kernel but to {} for rclone; write the path without `..`",
            path.display(),
            kernel.display(),
            lexical.display()
        ));
    }
    Ok(lexical)
}

/// Walks an absolute `path` component by component, following symlinks; a `..` goes up
/// from what the components before it resolved to, as the kernel does.
fn follow(path: &Path) -> Result<PathBuf, String> {
    let mut resolved = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::RootDir | Component::Prefix(_) | Component::CurDir => {}
            Component::ParentDir => {
                resolved.pop();
            }
            Component::Normal(name) => {
                resolved.push(name);
                match std::fs::symlink_metadata(&resolved) {
                    Ok(_) => {
                        resolved = std::fs::canonicalize(&resolved)
                            .map_err(|e| format!("cannot resolve {}: {e}", resolved.display()))?;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(format!("cannot read {}: {e}", resolved.display())),
                }
            }
        }
    }
    Ok(resolved)
}
