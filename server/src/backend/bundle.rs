//! What the Docker backend puts into a container to run `sandport agent`.
//!
//! A statically linked sandport runs in any container as it is. The plain
//! `cargo build` binary is dynamically linked (glibc), and the container's
//! image may have another libc, an older glibc or none at all (a busybox-only
//! image). So a dynamic binary travels with its own ELF interpreter and the
//! shared libraries it needs, in a private folder, and runs as
//! `/.sandport/lib/ld-linux-….so.2 --library-path /.sandport/lib
//! /.sandport/sandport agent …`: the container's own libraries and loader are
//! never used, and nothing (no `LD_LIBRARY_PATH`) leaks into the processes
//! the agent starts. The libraries are the ones the host's loader resolves
//! for the binary (`ld.so --list`, what `ldd` prints).

use super::agent::AGENT_PATH;
use std::path::{Path, PathBuf};

/// The private folder of the agent's libraries inside the container.
pub const LIB_DIR: &str = "/.sandport/lib";

/// Files to place in the container and the command that runs the agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentBundle {
    /// (file on this machine, path in the container).
    pub files: Vec<(PathBuf, String)>,
    /// The argv up to and including `agent`; a subcommand follows.
    pub cmd: Vec<String>,
}

impl AgentBundle {
    /// The argv of `sandport agent ARGS…` inside the container.
    pub fn command<S: AsRef<str>>(&self, args: &[S]) -> Vec<String> {
        let mut c = self.cmd.clone();
        c.extend(args.iter().map(|s| s.as_ref().to_string()));
        c
    }
}

#[derive(Debug, PartialEq, Eq)]
enum ElfKind {
    NotElf,
    Static,
    /// The program interpreter (PT_INTERP).
    Dynamic(String),
}

/// Reads the program headers of a 64-bit little-endian ELF executable.
fn elf_kind(b: &[u8]) -> ElfKind {
    if b.len() < 64 || !b.starts_with(b"\x7fELF") || b[4] != 2 || b[5] != 1 {
        return ElfKind::NotElf;
    }
    let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap()) as usize;
    let phoff = u64_at(32);
    let (entsize, count) = (u16_at(54), u16_at(56));
    const PT_INTERP: u32 = 3;
    for i in 0..count {
        let o = phoff.saturating_add(i.saturating_mul(entsize));
        if o.saturating_add(56) > b.len() {
            // Headers beyond what was read: not something we can run.
            return ElfKind::NotElf;
        }
        if u32::from_le_bytes(b[o..o + 4].try_into().unwrap()) == PT_INTERP {
            let (off, len) = (u64_at(o + 8), u64_at(o + 32));
            let Some(s) = b.get(off..off.saturating_add(len)) else {
                return ElfKind::NotElf;
            };
            let s = s.split(|&c| c == 0).next().unwrap_or_default();
            return match std::str::from_utf8(s) {
                Ok(p) if p.starts_with('/') => ElfKind::Dynamic(p.to_string()),
                _ => ElfKind::NotElf,
            };
        }
    }
    ElfKind::Static
}

fn kind_of(p: &Path) -> std::io::Result<ElfKind> {
    use std::io::Read;
    let mut f = std::fs::File::open(p)?;
    let mut head = Vec::with_capacity(64 * 1024);
    f.by_ref().take(64 * 1024).read_to_end(&mut head)?;
    Ok(elf_kind(&head))
}

/// The shared libraries the host's loader resolves for `exe`, as
/// (name the binary asks for, file), from `INTERP --list EXE`.
fn needed_libs(interp: &str, exe: &Path) -> Result<Vec<(String, PathBuf)>, String> {
    let out = std::process::Command::new(interp)
        .arg("--list")
        .arg(exe)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run its loader {interp}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{interp} --list failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    parse_list(&String::from_utf8_lossy(&out.stdout))
}

/// Parses `ld.so --list` output: `NAME => PATH (ADDR)` lines are libraries;
/// the loader's own line (`/PATH (ADDR)`) and the vDSO (`NAME (ADDR)`) are not.
fn parse_list(s: &str) -> Result<Vec<(String, PathBuf)>, String> {
    let mut libs = Vec::new();
    for line in s.lines().map(str::trim) {
        let Some((name, rest)) = line.split_once(" => ") else {
            continue;
        };
        let path = rest.rsplit_once(" (").map_or(rest, |(p, _)| p).trim();
        if !path.starts_with('/') {
            return Err(format!("{name}: {path}"));
        }
        libs.push((name.trim().to_string(), PathBuf::from(path)));
    }
    Ok(libs)
}

fn canonical(p: &Path) -> Result<PathBuf, String> {
    p.canonicalize()
        .map_err(|e| format!("{}: {e}", p.display()))
}

/// The bundle that runs `exe` (a sandport binary) inside a container.
pub fn bundle_of(exe: &Path) -> Result<AgentBundle, String> {
    let exe_c = canonical(exe)?;
    match kind_of(&exe_c).map_err(|e| format!("{}: {e}", exe.display()))? {
        ElfKind::NotElf => Err(format!("{} is not a 64-bit ELF executable", exe.display())),
        ElfKind::Static => Ok(AgentBundle {
            files: vec![(exe_c, AGENT_PATH.to_string())],
            cmd: vec![AGENT_PATH.to_string(), "agent".to_string()],
        }),
        ElfKind::Dynamic(interp) => {
            let interp_name = Path::new(&interp)
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| format!("odd program interpreter {interp:?}"))?
                .to_string();
            let ldso = format!("{LIB_DIR}/{interp_name}");
            let mut files = vec![
                (exe_c.clone(), AGENT_PATH.to_string()),
                (canonical(Path::new(&interp))?, ldso.clone()),
            ];
            for (name, path) in needed_libs(&interp, &exe_c)? {
                let target = format!("{LIB_DIR}/{name}");
                if name.contains('/') || files.iter().any(|(_, t)| *t == target) {
                    continue;
                }
                files.push((canonical(&path)?, target));
            }
            Ok(AgentBundle {
                files,
                cmd: vec![
                    ldso,
                    "--library-path".into(),
                    LIB_DIR.into(),
                    AGENT_PATH.into(),
                    "agent".into(),
                ],
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elf_kinds() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        // The test binary is dynamically linked (the default gnu target).
        assert!(matches!(elf_kind(&me), ElfKind::Dynamic(p) if p.starts_with('/')));
        assert_eq!(elf_kind(b"#!/bin/sh\n"), ElfKind::NotElf);
        if let Ok(bb) = std::fs::read("/bin/busybox") {
            if !bb[..4096.min(bb.len())]
                .windows(15)
                .any(|w| w == b"/lib64/ld-linux")
            {
                assert_eq!(elf_kind(&bb), ElfKind::Static);
            }
        }
    }

    #[test]
    fn list_output() {
        let s = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                 \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f1)\n\
                 \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f2)\n\
                 \t/lib64/ld-linux-x86-64.so.2 (0x00007f3)\n";
        assert_eq!(
            parse_list(s).unwrap(),
            vec![
                (
                    "libgcc_s.so.1".to_string(),
                    PathBuf::from("/lib/x86_64-linux-gnu/libgcc_s.so.1")
                ),
                (
                    "libc.so.6".to_string(),
                    PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6")
                ),
            ]
        );
        let e = parse_list("\tlibfoo.so.1 => not found\n").unwrap_err();
        assert!(e.contains("libfoo.so.1"), "{e}");
    }

    #[test]
    fn a_dynamic_binary_brings_its_loader_and_libraries() {
        let me = std::env::current_exe().unwrap();
        let b = bundle_of(&me).unwrap();
        assert_eq!(b.cmd[1..], ["--library-path", LIB_DIR, AGENT_PATH, "agent"]);
        assert!(b.cmd[0].starts_with(LIB_DIR));
        let targets: Vec<&str> = b.files.iter().map(|(_, t)| t.as_str()).collect();
        assert!(targets.contains(&AGENT_PATH));
        assert!(targets.contains(&b.cmd[0].as_str()));
        assert!(
            targets.iter().any(|t| t.ends_with("/libc.so.6")),
            "{targets:?}"
        );
        assert!(b.files.iter().all(|(h, _)| h.is_absolute() && h.is_file()));
        assert!(bundle_of(&Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).is_err());
    }
}
