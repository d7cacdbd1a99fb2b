//! A loaded file's text with a line index, so byte offsets become `line:column`.

use std::ops::Range;
use std::path::Path;

/// How a path is shown in findings: as given, without a leading `./` (which reads worse and
/// links worse in terminals).
pub fn display_path(path: &Path) -> String {
    path.strip_prefix(".").unwrap_or(path).display().to_string()
}

/// The text of one input file (or stdin), kept for error snippets.
#[derive(Debug)]
pub struct SourceFile {
    /// The path as shown to users (as given on the command line, joined with what was found).
    pub name: String,
    /// The file's contents.
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    /// Wraps `text` read from `name`.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> SourceFile {
        let text = text.into();
        let line_starts =
            std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        SourceFile { name: name.into(), text, line_starts }
    }

    /// 1-based line and column (counted in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = self.clamp(offset);
        let line = self.line_starts.partition_point(|&start| start <= offset) - 1;
        let column = self.text[self.line_starts[line]..offset].chars().count() + 1;
        (line + 1, column)
    }

    /// The byte range moved onto character boundaries inside the text.
    pub fn clamp_range(&self, range: Range<usize>) -> Range<usize> {
        let start = self.clamp(range.start);
        start..self.clamp(range.end.max(start))
    }

    fn clamp(&self, mut offset: usize) -> usize {
        offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_characters_not_bytes() {
        let f = SourceFile::new("x", "a: 1\nname: \"é\" x\n");
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(5), (2, 1));
        let x = f.text.rfind('x').unwrap();
        assert_eq!(f.line_col(x), (2, 11));
        assert_eq!(f.line_col(10_000), (3, 1));
    }
}
