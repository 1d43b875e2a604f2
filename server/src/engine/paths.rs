//! Confinement of user-given paths to the workspace.

use super::error::{EngineError, Result};
use std::path::{Component, Path, PathBuf};

/// Resolve `p` (relative to `root`, or absolute) to a path inside `root`,
/// which must be canonical. `..` that climbs out and symlinks that lead out
/// are refused with PATH_OUTSIDE_WORKSPACE. The path itself need not exist.
pub fn resolve(root: &Path, p: &str) -> Result<PathBuf> {
    if p.contains('\0') {
        return Err(EngineError::invalid("path contains a NUL byte"));
    }
    let joined = if Path::new(p).is_absolute() {
        PathBuf::from(p)
    } else {
        root.join(p)
    };
    // Lexical normalization first: `..` must never climb above the root.
    let mut norm = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                if !norm.pop() {
                    return Err(outside(p));
                }
            }
            Component::CurDir => {}
            other => norm.push(other.as_os_str()),
        }
    }
    if !norm.starts_with(root) {
        return Err(outside(p));
    }
    // Then the real location of the deepest existing ancestor (symlinks).
    let mut existing = norm.clone();
    let mut rest = Vec::new();
    loop {
        match std::fs::symlink_metadata(&existing) {
            Ok(_) => break,
            Err(_) => {
                let name = existing.file_name().map(|n| n.to_owned());
                if !existing.pop() {
                    break;
                }
                if let Some(n) = name {
                    rest.push(n);
                }
            }
        }
    }
    let real = existing
        .canonicalize()
        .map_err(|e| EngineError::Failed(format!("cannot resolve {p:?}: {e}")))?;
    if !real.starts_with(root) {
        return Err(outside(p));
    }
    let mut out = real;
    for n in rest.into_iter().rev() {
        out.push(n);
    }
    Ok(out)
}

/// Like [`resolve`], for a working directory that must exist.
pub fn resolve_dir(root: &Path, p: Option<&str>) -> Result<PathBuf> {
    let Some(p) = p.filter(|p| !p.is_empty()) else {
        return Ok(root.to_path_buf());
    };
    let dir = resolve(root, p)?;
    if !dir.is_dir() {
        return Err(EngineError::invalid(format!(
            "cwd {p:?} does not exist or is not a directory"
        )));
    }
    Ok(dir)
}

fn outside(p: &str) -> EngineError {
    EngineError::PathOutsideWorkspace(format!("{p:?} lies outside the workspace"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confinement() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("a")).unwrap();
        assert_eq!(resolve(&root, "a/b.txt").unwrap(), root.join("a/b.txt"));
        assert_eq!(resolve(&root, "a/../a/x").unwrap(), root.join("a/x"));
        assert!(matches!(
            resolve(&root, "../x"),
            Err(EngineError::PathOutsideWorkspace(_))
        ));
        assert!(matches!(
            resolve(&root, "/etc/passwd"),
            Err(EngineError::PathOutsideWorkspace(_))
        ));
        std::os::unix::fs::symlink("/etc", root.join("out")).unwrap();
        assert!(matches!(
            resolve(&root, "out/passwd"),
            Err(EngineError::PathOutsideWorkspace(_))
        ));
        assert!(matches!(
            resolve(&root, "out/new/file"),
            Err(EngineError::PathOutsideWorkspace(_))
        ));
        assert!(resolve_dir(&root, Some("nope")).is_err());
        assert_eq!(resolve_dir(&root, Some("a")).unwrap(), root.join("a"));
    }
}
