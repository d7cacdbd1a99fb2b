//! Where each value of a parsed document sits in its file, keyed by JSON pointer.

use std::collections::HashMap;
use std::ops::Range;

/// Source positions of one node: its value and, for a mapping entry, its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSpan {
    /// Byte range of the key, for values inside a mapping.
    pub key: Option<Range<usize>>,
    /// Byte range of the value.
    pub value: Range<usize>,
}

/// JSON pointer → source position, for every node of one document.
#[derive(Clone, Debug, Default)]
pub struct SpanMap {
    nodes: HashMap<String, NodeSpan>,
}

impl SpanMap {
    /// A map holding only the root, spanning `range`.
    pub fn whole(range: Range<usize>) -> SpanMap {
        let mut map = SpanMap::default();
        map.insert(String::new(), NodeSpan { key: None, value: range });
        map
    }

    /// Records the position of the node at `pointer`.
    pub fn insert(&mut self, pointer: String, span: NodeSpan) {
        self.nodes.insert(pointer, span);
    }

    /// The position of the node at `pointer`, if that node exists in the file.
    pub fn get(&self, pointer: &str) -> Option<&NodeSpan> {
        self.nodes.get(pointer)
    }

    /// The span to underline for a problem with the value at `pointer`: the value itself, or
    /// the nearest ancestor that exists when the value is missing.
    pub fn value_span(&self, pointer: &str) -> Range<usize> {
        self.nearest(pointer).value.clone()
    }

    /// The span to underline for a problem with the key at `pointer` (an unknown or misplaced
    /// field): the key when there is one, else as [`SpanMap::value_span`].
    pub fn key_span(&self, pointer: &str) -> Range<usize> {
        let node = self.nearest(pointer);
        node.key.clone().unwrap_or_else(|| node.value.clone())
    }

    fn nearest(&self, pointer: &str) -> &NodeSpan {
        let mut p = pointer;
        loop {
            if let Some(node) = self.nodes.get(p) {
                return node;
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => break,
            }
        }
        self.nodes.get("").expect("every document records its root span")
    }
}

/// Appends one reference token to a JSON pointer, escaping `~` and `/` (RFC 6901).
pub fn push_pointer(base: &str, token: &str) -> String {
    let mut out = String::with_capacity(base.len() + token.len() + 1);
    out.push_str(base);
    out.push('/');
    for ch in token.chars() {
        match ch {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
    out
}
