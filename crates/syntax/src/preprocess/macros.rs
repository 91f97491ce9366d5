//! Macros: `#define` parsing and expansion, token by token (strings, comments and
//! `$var`/`@map` names are never expanded).
//!
//! Expansion follows C's rules where scripts can tell: the arguments of a function-like macro
//! are expanded before they are substituted, the result is rescanned, and a macro is not
//! expanded again inside its own expansion. Not done: `#` (stringizing) and `##` (token
//! pasting), which `#define` refuses with a located error.

use std::collections::HashMap;

use super::scan::{next_piece, pieces, Piece};

/// How deep macros may expand inside each other before expansion gives up.
const MAX_DEPTH: usize = 64;

/// A `#define`d macro.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Macro {
    /// `Some(params)` for a function-like macro (`#define MAX(a, b) ...`).
    pub params: Option<Vec<String>>,
    /// Whether the last parameter is `...` (`__VA_ARGS__` in the body).
    pub variadic: bool,
    pub body: String,
}

/// Parses the text of a `#define` after the word `define`: the name, then for a
/// function-like macro the parameters (a `(` right after the name), then the body.
pub(super) fn parse_define(text: &str) -> Result<(String, Macro), String> {
    let text = text.trim_start();
    let (piece, name_end) = if text.is_empty() { (Piece::Space, 0) } else { next_piece(text, 0) };
    if piece != Piece::Ident {
        return Err("expected a macro name after `#define`".into());
    }
    let name = text[..name_end].to_string();
    let rest = &text[name_end..];
    let (params, variadic, body) = match rest.strip_prefix('(') {
        Some(after) => {
            let close = after.find(')').ok_or("unclosed parameter list in `#define`")?;
            let (params, variadic) = parse_params(&after[..close])?;
            (Some(params), variadic, &after[close + 1..])
        }
        None => (None, false, rest),
    };
    let body = body.trim().to_string();
    if params.is_some() && pieces(&body).any(|(p, r)| p == Piece::Punct && &body[r] == "#") {
        return Err("`#` and `##` in macro bodies are not supported yet".into());
    }
    Ok((name, Macro { params, variadic, body }))
}

/// `a, b, ...` → the names, and whether the list ends in `...`.
fn parse_params(list: &str) -> Result<(Vec<String>, bool), String> {
    if list.trim().is_empty() {
        return Ok((vec![], false));
    }
    let mut names = Vec::new();
    let items: Vec<&str> = list.split(',').map(str::trim).collect();
    for (i, item) in items.iter().enumerate() {
        if *item == "..." && i == items.len() - 1 {
            return Ok((names, true));
        }
        let valid = item.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && item.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!("`{item}` is not a macro parameter name"));
        }
        names.push(item.to_string());
    }
    Ok((names, false))
}

/// A macro that could not be expanded, and why; `at` is the byte range of the use in the
/// text being expanded.
#[derive(Debug, Clone)]
pub(super) struct ExpandError {
    pub at: std::ops::Range<usize>,
    pub message: String,
    pub label: String,
}

/// One top-level macro use replaced: its range in the input and in the output.
#[derive(Debug, Clone)]
pub(super) struct Replaced {
    pub input: std::ops::Range<usize>,
    pub output: std::ops::Range<usize>,
}

/// Expands macros in text, with the macro table as it stands at that point of the file.
pub(super) struct Expander<'a> {
    pub macros: &'a HashMap<String, Macro>,
    pub errors: Vec<ExpandError>,
    pub replaced: Vec<Replaced>,
}

impl Expander<'_> {
    /// Expands every macro use in `text`; the top-level uses are recorded in `replaced`.
    pub fn expand(&mut self, text: &str) -> String {
        self.expand_in(text, &mut Vec::new(), true)
    }

    fn expand_in(&mut self, text: &str, disabled: &mut Vec<String>, top: bool) -> String {
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        // After an expansion, the next piece must not merge with its last character.
        let mut after_expansion = false;
        while at < text.len() {
            let (piece, end) = next_piece(text, at);
            let end = end.max(at + 1).min(text.len());
            let name = &text[at..end];
            let found = (piece == Piece::Ident && !disabled.iter().any(|d| d == name))
                .then(|| self.macros.get(name))
                .flatten();
            let Some(found) = found else {
                if after_expansion && would_merge(&out, name) {
                    out.push(' ');
                    if let Some(last) = self.replaced.last_mut().filter(|_| top) {
                        last.output.end += 1;
                    }
                }
                after_expansion = false;
                out.push_str(name);
                at = end;
                continue;
            };
            let (expansion, use_end) = match self.use_of(text, at, end, found, disabled) {
                Ok(Some(done)) => done,
                Ok(None) => (name.to_string(), end),
                Err(error) => {
                    self.errors.push(error);
                    (name.to_string(), end)
                }
            };
            let output_start = out.len();
            if would_merge(&out, &expansion) {
                out.push(' ');
            }
            out.push_str(&expansion);
            if top {
                self.replaced
                    .push(Replaced { input: at..use_end, output: output_start..out.len() });
            }
            after_expansion = true;
            at = use_end;
        }
        out
    }

    /// The expansion of the macro named at `start..name_end` and where its use ends;
    /// `None` for a function-like macro's name without a `(` after it (not a use).
    fn use_of(
        &mut self,
        text: &str,
        start: usize,
        name_end: usize,
        found: &Macro,
        disabled: &mut Vec<String>,
    ) -> Result<Option<(String, usize)>, ExpandError> {
        let name = text[start..name_end].to_string();
        if disabled.len() >= MAX_DEPTH {
            return Err(ExpandError {
                at: start..name_end,
                message: format!("macro `{name}` expands too deeply"),
                label: "expansion nests more than 64 macros".into(),
            });
        }
        let (body, end) = match &found.params {
            None => (found.body.clone(), name_end),
            Some(params) => {
                let Some((args, end)) = call_args(text, name_end) else {
                    return if text[name_end..].trim_start().starts_with('(') {
                        Err(ExpandError {
                            at: start..name_end,
                            message: format!("unterminated call of macro `{name}`"),
                            label: "no `)` closes this macro's arguments".into(),
                        })
                    } else {
                        Ok(None)
                    };
                };
                let args: Vec<String> =
                    args.iter().map(|a| self.expand_in(a.trim(), disabled, false)).collect();
                let body =
                    substitute(&name, found, params, args).map_err(|message| ExpandError {
                        at: start..end,
                        message,
                        label: "wrong number of arguments".into(),
                    })?;
                (body, end)
            }
        };
        disabled.push(name);
        let expanded = self.expand_in(&body, disabled, false);
        disabled.pop();
        Ok(Some((expanded, end)))
    }
}

/// The arguments of a macro call whose `(` follows `at` (after spaces, newlines and
/// comments), split at top-level commas, and the byte after the closing `)`.
fn call_args(text: &str, mut at: usize) -> Option<(Vec<&str>, usize)> {
    while at < text.len() {
        match next_piece(text, at) {
            (Piece::Space | Piece::Comment, end) => at = end,
            _ => break,
        }
    }
    if !text[at..].starts_with('(') {
        return None;
    }
    let (mut depth, mut args, mut arg_start) = (0usize, Vec::new(), at + 1);
    let mut i = at + 1;
    while i < text.len() {
        let (piece, end) = next_piece(text, i);
        if piece == Piece::Punct {
            match &text[i..end] {
                "(" | "[" | "{" => depth += 1,
                ")" if depth == 0 => {
                    args.push(&text[arg_start..i]);
                    return Some((args, end));
                }
                ")" | "]" | "}" => depth = depth.saturating_sub(1),
                "," if depth == 0 => {
                    args.push(&text[arg_start..i]);
                    arg_start = end;
                }
                _ => {}
            }
        }
        i = end.max(i + 1);
    }
    None
}

/// The body of `found` with each parameter replaced by its argument.
fn substitute(
    name: &str,
    found: &Macro,
    params: &[String],
    mut args: Vec<String>,
) -> Result<String, String> {
    // `F()` passes one empty argument, which is no argument for a macro without parameters.
    if params.is_empty() && args.len() == 1 && args[0].is_empty() {
        args.clear();
    }
    let arity_ok =
        if found.variadic { args.len() >= params.len() } else { args.len() == params.len() };
    if !arity_ok {
        let wanted = if found.variadic { "at least " } else { "" };
        return Err(format!(
            "macro `{name}` takes {wanted}{} argument{}, but {} {} given",
            params.len(),
            if params.len() == 1 { "" } else { "s" },
            args.len(),
            if args.len() == 1 { "was" } else { "were" },
        ));
    }
    let rest = args.split_off(params.len()).join(", ");
    let mut out = String::with_capacity(found.body.len());
    for (piece, range) in pieces(&found.body) {
        let word = &found.body[range];
        match params.iter().position(|p| p == word) {
            Some(i) if piece == Piece::Ident => out.push_str(&args[i]),
            _ if piece == Piece::Ident && word == "__VA_ARGS__" && found.variadic => {
                out.push_str(&rest)
            }
            _ => out.push_str(word),
        }
    }
    Ok(out)
}

/// Whether `next` written right after `out` would join its last token (`-` and `-1` making
/// `--1`, `a` and `b` making `ab`): C's preprocessor never pastes tokens by accident, so a
/// space goes between them.
fn would_merge(out: &str, next: &str) -> bool {
    let (Some(a), Some(b)) = (out.chars().next_back(), next.chars().next()) else {
        return false;
    };
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let joins = |c: char| "+-*/%&|^!=<>.:".contains(c);
    (word(a) && word(b)) || (joins(a) && joins(b))
}
