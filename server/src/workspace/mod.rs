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
