//! The C-ish scanner the preprocessor shares between directive lines, macro expansion and
//! `#if` expressions: it splits text into identifiers, numbers, strings, comments, spaces and
//! punctuation, which is all the preprocessor needs to know to leave strings and comments
//! alone. The parser's own lexer (`lexer.rs`) runs later, on the preprocessed text.

/// What a piece of text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Piece {
    /// A C identifier: a macro name, a parameter, or just a word.
    Ident,
    /// A number, with its suffixes (`0x1f`, `10ms`, `1e6`, `2ul`).
    Number,
    /// A string or character literal, quotes included.
    Str,
    /// `// ...` (to the end of the line) or `/* ... */`.
    Comment,
    /// Whitespace, newlines included.
    Space,
    /// A bpftrace `$name` or `@name`: never a macro, whatever the name.
    Sigil,
    /// Any other single character.
    Punct,
}

/// The piece that starts at byte `at` of `s` and the byte where it ends.
pub(super) fn next_piece(s: &str, at: usize) -> (Piece, usize) {
    let bytes = s.as_bytes();
    let rest = &s[at..];
    let word_end = |from: usize| {
        from + s[from..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(s.len() - from)
    };
    let b = bytes[at];
    if rest.starts_with("//") {
        return (Piece::Comment, at + rest.find('\n').unwrap_or(rest.len()));
    }
    if let Some(body) = rest.strip_prefix("/*") {
        return (Piece::Comment, body.find("*/").map_or(s.len(), |i| at + 2 + i + 2));
    }
    match b {
        b'"' | b'\'' => (Piece::Str, string_end(s, at)),
        b'$' | b'@' => (Piece::Sigil, word_end(at + 1)),
        b'a'..=b'z' | b'A'..=b'Z' | b'_' => (Piece::Ident, word_end(at)),
        b'0'..=b'9' => {
            let end = at
                + rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
                    .unwrap_or(rest.len());
            (Piece::Number, end)
        }
        _ if b.is_ascii_whitespace() => {
            (Piece::Space, at + rest.find(|c: char| !c.is_ascii_whitespace()).unwrap_or(rest.len()))
        }
        _ => (Piece::Punct, at + rest.chars().next().map_or(1, char::len_utf8)),
    }
}

/// The end of the string or character literal whose quote is at `at`: after the closing
/// quote, or at the end of the line when there is none (the lexer reports that later).
fn string_end(s: &str, at: usize) -> usize {
    let bytes = s.as_bytes();
    let quote = bytes[at];
    let mut i = at + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'\n' => return i,
            c if c == quote => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// Every piece of `s`, with its byte range.
pub(super) fn pieces(s: &str) -> impl Iterator<Item = (Piece, std::ops::Range<usize>)> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= s.len() {
            return None;
        }
        let (piece, end) = next_piece(s, at);
        let end = end.max(at + 1).min(s.len());
        let range = at..end;
        at = end;
        Some((piece, range))
    })
}

/// Whether a block comment is still open after `line`, given whether one was open before it.
pub(super) fn in_comment_after(line: &str, mut in_comment: bool) -> bool {
    let mut at = 0;
    if in_comment {
        match line.find("*/") {
            Some(end) => {
                at = end + 2;
                in_comment = false;
            }
            None => return true,
        }
    }
    while at < line.len() {
        let (piece, end) = next_piece(line, at);
        if piece == Piece::Comment && line[at..].starts_with("/*") && !line[at + 2..].contains("*/")
        {
            return true;
        }
        at = end.max(at + 1);
    }
    in_comment
}

/// `s` with its comments replaced by one space each (a directive's text), and where a block
/// comment that does not close in `s` starts, if one does.
pub(super) fn strip_comments(s: &str) -> (String, Option<usize>) {
    let mut out = String::with_capacity(s.len());
    for (piece, range) in pieces(s) {
        if piece != Piece::Comment {
            out.push_str(&s[range]);
            continue;
        }
        if s[range.clone()].starts_with("/*") && !s[range.clone()].ends_with("*/") {
            return (out, Some(range.start));
        }
        out.push(' ');
    }
    (out, None)
}
