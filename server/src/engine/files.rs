//! Workspace files (writeFile / readFile) and `checkout` (git clone).

use super::error::{EngineError, Result};
use super::{paths, Engine, Exec};
use base64::Engine as _;
use serde::Serialize;

/// Largest file readFile returns.
pub const READ_FILE_CAP: u64 = 16 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Base64,
}

impl Encoding {
    pub fn parse(s: Option<&str>) -> Result<Encoding> {
        match s.unwrap_or("utf8") {
            "utf8" | "utf-8" => Ok(Encoding::Utf8),
            "base64" => Ok(Encoding::Base64),
            other => Err(EngineError::invalid(format!(
                "encoding must be \"utf8\" or \"base64\", got {other:?}"
            ))),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileWritten {
    pub path: String,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileRead {
    pub path: String,
    pub content: String,
    pub encoding: &'static str,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckedOut {
    pub path: String,
    pub output: String,
}

impl Engine {
    pub async fn write_file(
        &self,
        path: &str,
        content: &str,
        enc: Encoding,
    ) -> Result<FileWritten> {
        let data = match enc {
            Encoding::Utf8 => content.as_bytes().to_vec(),
            Encoding::Base64 => base64::engine::general_purpose::STANDARD
                .decode(content)
                .map_err(|e| EngineError::invalid(format!("content is not base64: {e}")))?,
        };
        let target = paths::resolve(self.workspace_root(), path)?;
        if target == self.workspace_root() {
            return Err(EngineError::invalid("path names the workspace itself"));
        }
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| EngineError::Failed(format!("cannot create {parent:?}: {e}")))?;
            // The directories made may not be links out, but re-check the
            // whole path now that it exists (a race with a new symlink).
            paths::resolve(self.workspace_root(), &target.to_string_lossy())?;
        }
        tokio::fs::write(&target, &data)
            .await
            .map_err(|e| EngineError::Failed(format!("cannot write {path:?}: {e}")))?;
        Ok(FileWritten {
            path: target.display().to_string(),
            bytes: data.len() as u64,
        })
    }

    pub async fn read_file(&self, path: &str, enc: Encoding) -> Result<FileRead> {
        let target = paths::resolve(self.workspace_root(), path)?;
        let meta = tokio::fs::metadata(&target)
            .await
            .map_err(|e| EngineError::invalid(format!("cannot read {path:?}: {e}")))?;
        if !meta.is_file() {
            return Err(EngineError::invalid(format!("{path:?} is not a file")));
        }
        if meta.len() > READ_FILE_CAP {
            return Err(EngineError::invalid(format!(
                "{path:?} is {} bytes; readFile returns at most {READ_FILE_CAP}",
                meta.len()
            )));
        }
        let data = tokio::fs::read(&target)
            .await
            .map_err(|e| EngineError::Failed(format!("cannot read {path:?}: {e}")))?;
        let content = match enc {
            Encoding::Utf8 => String::from_utf8(data.clone()).map_err(|_| {
                EngineError::invalid(format!(
                    "{path:?} is not UTF-8 text; ask for encoding \"base64\""
                ))
            })?,
            Encoding::Base64 => base64::engine::general_purpose::STANDARD.encode(&data),
        };
        Ok(FileRead {
            path: target.display().to_string(),
            content,
            encoding: match enc {
                Encoding::Utf8 => "utf8",
                Encoding::Base64 => "base64",
            },
            bytes: data.len() as u64,
        })
    }

    /// `git clone` into a folder of the workspace (by default named after
    /// the repository). Fails with git's own message.
    pub async fn checkout(
        &self,
        url: &str,
        dir: Option<&str>,
        branch: Option<&str>,
        depth: Option<u32>,
        timeout_ms: u64,
    ) -> Result<CheckedOut> {
        if url.trim().is_empty() || url.starts_with('-') {
            return Err(EngineError::invalid("url must be a repository address"));
        }
        let default_dir = url
            .trim_end_matches('/')
            .rsplit(['/', ':'])
            .next()
            .unwrap_or("repo")
            .trim_end_matches(".git")
            .to_string();
        let dir = dir.map(str::to_string).unwrap_or(default_dir);
        let target = paths::resolve(self.workspace_root(), &dir)?;
        if target == self.workspace_root() || target.exists() {
            return Err(EngineError::invalid(format!(
                "{dir:?} already exists; checkout clones into a new folder"
            )));
        }
        let mut cmd = String::from("git clone");
        if let Some(b) = branch {
            if b.starts_with('-') || b.is_empty() {
                return Err(EngineError::invalid("branch is not valid"));
            }
            cmd.push_str(&format!(" --branch {}", shell_quote(b)));
        }
        if let Some(d) = depth {
            if d == 0 {
                return Err(EngineError::invalid("depth must be at least 1"));
            }
            cmd.push_str(&format!(" --depth {d}"));
        }
        // Relative to the workspace root (the exec's cwd): the same on every
        // backend, whatever the workspace is called inside the sandbox.
        let rel = target
            .strip_prefix(self.workspace_root())
            .unwrap_or(&target)
            .to_string_lossy()
            .into_owned();
        cmd.push_str(&format!(" -- {} {}", shell_quote(url), shell_quote(&rel)));
        let mut env = std::collections::BTreeMap::new();
        env.insert("GIT_TERMINAL_PROMPT".into(), "0".into());
        let r = self
            .exec(Exec {
                command: cmd,
                cwd: None,
                env,
                timeout_ms,
            })
            .await?;
        if r.exit_code != Some(0) {
            let msg = if r.timed_out {
                format!("git clone timed out after {timeout_ms} ms")
            } else {
                r.stderr.trim().to_string()
            };
            return Err(EngineError::Failed(msg));
        }
        Ok(CheckedOut {
            path: target.display().to_string(),
            output: r.stderr,
        })
    }
}

pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
