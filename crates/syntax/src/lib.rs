//! The front end of the bpftrace language: source files and spans, diagnostics and their
//! rendering, the lexer, the parser and the AST.
//!
//! The parser always returns a tree; errors go to a [`Diagnostics`] list and the tree holds
//! `ExprKind::Error` where something could not be parsed, so the checker can keep going
//! without cascading errors. Name resolution and types are the compiler's business
//! (`bpfscope-compiler`), not this crate's.
#![forbid(unsafe_code)]

pub mod ast;
mod diagnostic;
pub mod lexer;
mod parser;
mod source;

pub use diagnostic::{Diagnostic, Diagnostics, Label, Severity};
pub use parser::parse;
pub use source::{SourceFile, Span};

/// Returns the candidate closest to `name` by edit distance, if one is close enough to be a
/// plausible typo (used for "did you mean" help).
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.len() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    #[test]
    fn suggestions() {
        assert_eq!(super::suggest("cout", ["count", "sum", "hist"]), Some("count"));
        assert_eq!(super::suggest("zzzzzz", ["count", "sum"]), None);
    }
}
