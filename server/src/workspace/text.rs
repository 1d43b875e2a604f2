//! Positions in a file's text, with LSP's semantics but none of its types.
//!
//! `line` is zero-based; `character` is a zero-based offset in UTF-16 code
//! units within the line (what LSP means by a position unless another
//! encoding is negotiated). Lines end at `\n`, `\r\n` or a lone `\r`.

use std::ops::Range as Span;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    pub line: u32,
    /// UTF-16 code units from the start of the line.
    pub character: u32,
}

/// Half-open: `end` is just past the last character.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Range {
    pub start: Pos,
    pub end: Pos,
}

impl Range {
    pub fn contains(&self, p: Pos) -> bool {
        self.start <= p && p <= self.end
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in a workspace file: what `listServices` reports and what
/// becomes a diagnostic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub message: String,
    pub range: Option<Range>,
    pub severity: Severity,
}

impl Problem {
    pub fn error(message: impl Into<String>, range: Option<Range>) -> Problem {
        Problem {
            message: message.into(),
            range,
            severity: Severity::Error,
        }
    }

    pub fn warning(message: impl Into<String>, range: Option<Range>) -> Problem {
        Problem {
            message: message.into(),
            range,
            severity: Severity::Warning,
        }
    }
}

/// Converts between byte offsets and [`Pos`] for one text.
#[derive(Debug, Clone)]
pub struct LineIndex<'t> {
    text: &'t str,
    /// Byte offset where each line starts.
    starts: Vec<usize>,
}

impl<'t> LineIndex<'t> {
    pub fn new(text: &'t str) -> LineIndex<'t> {
        let mut starts = vec![0];
        let b = text.as_bytes();
        for (i, &c) in b.iter().enumerate() {
            if c == b'\n' || (c == b'\r' && b.get(i + 1) != Some(&b'\n')) {
                starts.push(i + 1);
            }
        }
        LineIndex { text, starts }
    }

    pub fn text(&self) -> &'t str {
        self.text
    }

    /// The position of byte `offset` (clamped to the text; an offset inside
    /// a character counts as that character's start).
    pub fn pos(&self, offset: usize) -> Pos {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let start = self.starts[line];
        let character = self.text[start..offset]
            .chars()
            .map(char::len_utf16)
            .sum::<usize>();
        Pos {
            line: line as u32,
            character: character as u32,
        }
    }

    pub fn range(&self, span: Span<usize>) -> Range {
        Range {
            start: self.pos(span.start),
            end: self.pos(span.end),
        }
    }

    /// The byte offset of `pos`; a line past the end gives the text's end,
    /// a character past the line's end gives the line's end.
    pub fn offset(&self, pos: Pos) -> usize {
        let Some(&start) = self.starts.get(pos.line as usize) else {
            return self.text.len();
        };
        let end = self
            .starts
            .get(pos.line as usize + 1)
            .copied()
            .unwrap_or(self.text.len());
        let line = self.text[start..end].trim_end_matches(['\n', '\r']);
        let mut units = 0u32;
        for (i, c) in line.char_indices() {
            if units >= pos.character {
                return start + i;
            }
            units += c.len_utf16() as u32;
        }
        start + line.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_columns_and_line_endings() {
        let text = "a = 1\r\nb = \"é😀x\"\rc\n";
        let idx = LineIndex::new(text);
        assert_eq!(
            idx.pos(0),
            Pos {
                line: 0,
                character: 0
            }
        );
        let x = text.find('x').unwrap();
        // `b = "` is 5 units, é is 1, 😀 is 2.
        assert_eq!(
            idx.pos(x),
            Pos {
                line: 1,
                character: 8
            }
        );
        assert_eq!(
            idx.offset(Pos {
                line: 1,
                character: 8
            }),
            x
        );
        let c = text.find('c').unwrap();
        assert_eq!(
            idx.pos(c),
            Pos {
                line: 2,
                character: 0
            }
        );
        assert_eq!(
            idx.offset(Pos {
                line: 0,
                character: 99
            }),
            5
        );
        assert_eq!(
            idx.offset(Pos {
                line: 9,
                character: 0
            }),
            text.len()
        );
        assert_eq!(
            idx.pos(text.len()),
            Pos {
                line: 3,
                character: 0
            }
        );
    }
}
