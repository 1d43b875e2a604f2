//! The workspace files that describe services and ports — `sandport.toml`,
//! `Procfile`, devcontainer.json — as pure parsers and language features.
//!
//! Nothing here knows LSP or the engine: positions are this module's own
//! [`text::Pos`] / [`text::Range`] (LSP's line and UTF-16 character
//! semantics), and the typed results are for the engine's service manager
//! and the LSP front end to translate. One [`schema`] table drives the
//! unknown-key checks, completion and hover.

pub mod language;
mod node;
pub mod ports;
pub mod read;
pub mod schema;
pub mod services;
pub mod text;

pub use ports::{DevContainer, OnDetect, PortAttributes, PortRule, PortSettings, ResolvedPort};
pub use services::{FileKind, ServiceDef, ServicesFile};
pub use text::{LineIndex, Pos, Problem, Range, Severity};

use std::path::{Path, PathBuf};

pub const SERVICES_FILE: &str = "sandport.toml";
pub const PROCFILE: &str = "Procfile";

/// Reads the workspace's services file: `sandport.toml`, else `Procfile`,
/// else `None`. A file that exists but cannot be read is a problem.
pub fn read_services(root: &Path) -> Option<(PathBuf, ServicesFile)> {
    for (name, kind) in [
        (SERVICES_FILE, FileKind::SandportToml),
        (PROCFILE, FileKind::Procfile),
    ] {
        let path = root.join(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => return Some((path, parse(kind, &text, root))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                let file = ServicesFile {
                    kind,
                    services: Vec::new(),
                    ports: Vec::new(),
                    problems: vec![Problem::error(format!("cannot read {name}: {e}"), None)],
                };
                return Some((path, file));
            }
        }
    }
    None
}

/// Parses a services file of `kind` from its text.
pub fn parse(kind: FileKind, text: &str, root: &Path) -> ServicesFile {
    match kind {
        FileKind::SandportToml => services::parse_toml(text, root),
        FileKind::Procfile => services::parse_procfile(text),
    }
}

/// Reads the workspace's devcontainer.json, if it has one.
pub fn read_devcontainer(root: &Path) -> Option<(PathBuf, DevContainer, Vec<Problem>)> {
    ports::DEVCONTAINER_PATHS.iter().find_map(|p| {
        let path = root.join(p);
        let text = std::fs::read_to_string(&path).ok()?;
        let (dc, problems) = ports::parse_devcontainer(&text);
        Some((path, dc, problems))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandport_toml_wins_over_procfile_and_devcontainer_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert!(read_services(root).is_none());
        assert!(read_devcontainer(root).is_none());
        std::fs::write(root.join(PROCFILE), "web: python3 -m http.server\n").unwrap();
        let (path, f) = read_services(root).unwrap();
        assert_eq!(
            (path.file_name().unwrap(), f.kind),
            (PROCFILE.as_ref(), FileKind::Procfile)
        );
        std::fs::write(
            root.join(SERVICES_FILE),
            "[services.api]\ncommand = \"x\"\n",
        )
        .unwrap();
        let (path, f) = read_services(root).unwrap();
        assert_eq!(path, root.join(SERVICES_FILE));
        assert_eq!(f.services[0].name, "api");
        assert!(f.is_valid());

        std::fs::write(
            root.join(".devcontainer.json"),
            "{\"forwardPorts\": [3000,],}",
        )
        .unwrap();
        let (_, dc, problems) = read_devcontainer(root).unwrap();
        assert_eq!((dc.forward, problems), (vec![3000], vec![]));
        std::fs::create_dir(root.join(".devcontainer")).unwrap();
        std::fs::write(
            root.join(".devcontainer/devcontainer.json"),
            "{\"forwardPorts\": [4000]}",
        )
        .unwrap();
        assert_eq!(read_devcontainer(root).unwrap().1.forward, [4000]);
    }
}
