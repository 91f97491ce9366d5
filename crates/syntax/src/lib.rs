//! The front end of the bpftrace language: source files and spans, diagnostics and their
//! rendering, the C preprocessor pass (run before the lexer), the lexer, the parser and the
//! AST.
//!
//! The parser always returns a tree; errors go to a [`Diagnostics`] list and the tree holds
//! `ExprKind::Error` where something could not be parsed, so the checker can keep going
//! without cascading errors. Name resolution and types are the compiler's business
//! (`bpfscope-compiler`), not this crate's.
#![forbid(unsafe_code)]

pub mod ast;
mod diagnostic;
pub mod format;
pub mod lexer;
mod macros;
mod parser;
pub mod preprocess;
mod source;

pub use diagnostic::{Diagnostic, Diagnostics, Label, Severity};
pub use parser::{parse, parse_with};
pub use preprocess::ParseOptions;
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

/// Optimal-string-alignment distance: insertions, deletions, substitutions and adjacent
/// transpositions (`pdi` → `pid`) each cost one.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    #[test]
    fn suggestions() {
        assert_eq!(super::suggest("cout", ["count", "sum", "hist"]), Some("count"));
        assert_eq!(super::suggest("zzzzzz", ["count", "sum"]), None);
    }
}
