//! Port literals in open documents, for code lenses: `listen(3000)`,
//! `port: 3000`, `port = 3000`, `PORT=3000`, `:3000`.

use regex::Regex;
use std::sync::OnceLock;

/// A port named in a document: line, and the UTF-16 columns of the number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRef {
    pub port: u16,
    pub line: u32,
    pub start: u32,
    pub end: u32,
}

fn re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r#"(?ix)
            (?: listen \s* \( \s*
              | \b port \b ["']? \s* [:=] \s*
              | _port \s* [:=] \s*
              | : )
            (\d{4,5}) \b"#,
        )
        .expect("valid regex")
    })
}

fn utf16_col(line: &str, byte: usize) -> u32 {
    line[..byte].encode_utf16().count() as u32
}

/// Every port literal (1024–65535) of `text`, at most one per line and port.
pub fn find_ports(text: &str) -> Vec<PortRef> {
    let mut out: Vec<PortRef> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.len() > 10_000 {
            continue; // minified files: not worth it
        }
        for c in re().captures_iter(line) {
            let m = c.get(1).expect("group 1");
            let Ok(port) = m.as_str().parse::<u16>() else {
                continue;
            };
            if port < 1024 {
                continue;
            }
            if out.iter().any(|r| r.line == i as u32 && r.port == port) {
                continue;
            }
            out.push(PortRef {
                port,
                line: i as u32,
                start: utf16_col(line, m.start()),
                end: utf16_col(line, m.end()),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_usual_spellings() {
        let text = "app.listen(3000, () => {});\nconst o = { port: 8080 };\nPORT=5173 npm run dev\nurl = 'http://localhost:8000/'\nnothing 9000 here\nx = 12:30\nserver_port = 4000\n\"port\": 7000";
        let ports: Vec<(u16, u32)> = find_ports(text).iter().map(|r| (r.port, r.line)).collect();
        assert_eq!(
            ports,
            vec![
                (3000, 0),
                (8080, 1),
                (5173, 2),
                (8000, 3),
                (4000, 6),
                (7000, 7)
            ]
        );
        let r = &find_ports("é listen(3000)")[0];
        assert_eq!((r.start, r.end), (9, 13));
    }
}
