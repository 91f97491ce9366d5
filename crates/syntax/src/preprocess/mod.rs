//! The C preprocessor pass, run on the source text before the lexer, as bpftrace runs its
//! scripts' C part through clang's — without clang and without headers: types come from
//! the kernel's BTF, so `#include` is accepted, recorded and otherwise ignored.
//!
//! What it does: `#define` (object-like and function-like macros, expanded in the script's
//! tokens but never in strings, comments, `$vars` or `@maps`), `#undef`, the conditionals
//! `#if`/`#ifdef`/`#ifndef`/`#elif`/`#else`/`#endif` (integer constant expressions with
//! `defined`), `#error`/`#warning`, and `#pragma`/`#line` accepted and ignored.
//! `BPFTRACE_HAVE_BTF` is defined when the caller says the kernel has BTF. A few headers
//! define the kernel `#define`s scripts use (`TASK_RUNNING`, `AF_INET`: `headers.rs`).
//!
//! Positions survive: a directive line and every line of a skipped group become spaces of
//! the same length (newlines kept), so text that is not a macro use keeps its byte offset up
//! to the first expansion; each expansion is recorded in a [`SpanMap`], which takes a span in
//! the output back to the script (a span inside an expansion becomes the macro use's span).
//! The parser runs on the output and its spans are mapped back (`parser::parse_with`).

mod eval;
mod headers;
mod macros;
mod scan;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use self::macros::{Expander, Macro};
use crate::{ast::Include, Diagnostic, Diagnostics, Span};

/// What the caller knows that the script's C part may test.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// The kernel has BTF (`/sys/kernel/btf/vmlinux`): `BPFTRACE_HAVE_BTF` is defined.
    pub have_btf: bool,
}

/// The preprocessed text and what was learned on the way.
#[derive(Debug, Clone, Default)]
pub struct Preprocessed {
    pub text: String,
    /// The `#include`s of active groups, in order.
    pub includes: Vec<Include>,
    pub map: SpanMap,
}

/// Takes spans in the preprocessed text back to the script's text.
#[derive(Debug, Clone, Default)]
pub struct SpanMap {
    /// Each macro use replaced: (start, end) in the output, and the use in the script, in
    /// output order.
    expansions: Vec<(u32, u32, Span)>,
}

impl SpanMap {
    /// True when no macro was expanded: output offsets are script offsets.
    pub fn is_identity(&self) -> bool {
        self.expansions.is_empty()
    }

    /// The script span of an output span.
    pub fn map(&self, span: Span) -> Span {
        if self.is_identity() {
            return span;
        }
        let start = self.offset(span.start, true);
        // An empty span at an expansion that produced nothing would map backwards (found by
        // fuzzing): never end before the start.
        Span { start, end: self.offset(span.end, false).max(start) }
    }

    /// The script offset of an output offset: inside an expansion, the use's start (or end,
    /// for the end of a span); elsewhere shifted as the expansions before it shift text.
    fn offset(&self, at: u32, start: bool) -> u32 {
        let before = self.expansions.partition_point(|(s, _, _)| *s <= at);
        let Some(&(out_start, out_end, use_span)) =
            before.checked_sub(1).map(|i| &self.expansions[i])
        else {
            return at;
        };
        if at < out_end || (!start && at == out_end) {
            return if start || at == out_start { use_span.start } else { use_span.end };
        }
        at - out_end + use_span.end
    }
}

/// Preprocesses `text`. Errors go to `diags` with spans in `text`; the output is always
/// usable (a bad directive is dropped, a failed expansion keeps the macro's name).
pub fn preprocess(text: &str, options: &ParseOptions, diags: &mut Diagnostics) -> Preprocessed {
    let mut pp = Pp {
        text,
        diags,
        out: String::with_capacity(text.len()),
        done: 0,
        macros: predefined(options),
        conds: Vec::new(),
        includes: Vec::new(),
        map: SpanMap::default(),
    };
    pp.run();
    Preprocessed { text: pp.out, includes: pp.includes, map: pp.map }
}

/// Macros defined before the script starts.
fn predefined(options: &ParseOptions) -> HashMap<String, Macro> {
    let mut macros = HashMap::new();
    let mut define = |name: &str| {
        let body = "1".to_string();
        macros.insert(name.to_string(), Macro { params: None, variadic: false, body });
    };
    if options.have_btf {
        define("BPFTRACE_HAVE_BTF");
    }
    // Scripts written for clang may test the architecture, which is the host's.
    if cfg!(target_arch = "x86_64") {
        define("__x86_64__");
    } else if cfg!(target_arch = "aarch64") {
        define("__aarch64__");
    }
    define("__linux__");
    macros
}

/// One open conditional group.
struct Cond {
    /// The `#if`/`#ifdef`/`#ifndef` line, for "unterminated" errors.
    span: Span,
    /// Whether the enclosing group is active.
    parent: bool,
    /// Whether the current branch is active.
    taking: bool,
    /// Whether some branch was taken already.
    taken: bool,
    seen_else: bool,
}

struct Pp<'a, 'd> {
    text: &'a str,
    diags: &'d mut Diagnostics,
    out: String,
    /// The script text before this offset is in `out` already.
    done: usize,
    macros: HashMap<String, Macro>,
    conds: Vec<Cond>,
    includes: Vec<Include>,
    map: SpanMap,
}

impl Pp<'_, '_> {
    fn active(&self) -> bool {
        self.conds.last().is_none_or(|c| c.taking)
    }

    /// Walks the text line by line: directive lines (not inside a block comment) are run and
    /// blanked, lines of skipped groups blanked, other lines collected for expansion.
    fn run(&mut self) {
        let text = self.text;
        let mut line_start = 0;
        let mut in_comment = false;
        while line_start < text.len() {
            let line_end = text[line_start..].find('\n').map_or(text.len(), |i| line_start + i + 1);
            let line = &text[line_start..line_end];
            let shebang = line_start == 0 && line.starts_with("#!");
            if !in_comment && !shebang && line.trim_start().starts_with('#') {
                let end = directive_end(text, line_start);
                self.flush(line_start);
                in_comment = self.directive(line_start, end);
                line_start = end;
                continue;
            }
            if !self.active() {
                self.flush(line_start);
                self.blank(line_end);
            }
            in_comment = scan::in_comment_after(line, in_comment);
            line_start = line_end;
        }
        self.flush(text.len());
        for cond in std::mem::take(&mut self.conds) {
            self.diags.push(
                Diagnostic::error(
                    "unterminated conditional directive",
                    cond.span,
                    "this group has no `#endif`",
                )
                .with_help("add `#endif` where the group ends"),
            );
        }
    }

    /// Expands macros in the script text from `done` to `to` into the output.
    fn flush(&mut self, to: usize) {
        if to <= self.done {
            return;
        }
        let base = self.done;
        let chunk = &self.text[base..to];
        let mut expander = Expander { macros: &self.macros, errors: vec![], replaced: vec![] };
        let expanded = expander.expand(chunk);
        let out_base = self.out.len() as u32;
        for r in &expander.replaced {
            let use_span = Span::new(base + r.input.start, base + r.input.end);
            self.map.expansions.push((
                out_base + r.output.start as u32,
                out_base + r.output.end as u32,
                use_span,
            ));
        }
        for error in expander.errors {
            let span = Span::new(base + error.at.start, base + error.at.end);
            self.diags.push(Diagnostic::error(error.message, span, error.label));
        }
        self.out.push_str(&expanded);
        self.done = to;
    }

    /// Writes the script text from `done` to `to` as spaces (newlines kept): same length.
    fn blank(&mut self, to: usize) {
        let bytes = &self.text.as_bytes()[self.done..to];
        self.out.extend(bytes.iter().map(|b| if *b == b'\n' { '\n' } else { ' ' }));
        self.done = to;
    }

    /// Runs the directive at `start..end` (continuation lines included) and blanks it,
    /// keeping a block comment that it opens; returns whether one is left open.
    fn directive(&mut self, start: usize, end: usize) -> bool {
        let raw = &self.text[start..end];
        let (code, open_comment) = scan::strip_comments(raw);
        let code = code.replace("\\\r\n", "  ").replace("\\\n", " ");
        let hash = start + (raw.len() - raw.trim_start().len());
        let first_line_end = start + raw.find('\n').unwrap_or(raw.len());
        let line_span = Span::new(hash, first_line_end.max(hash + 1));
        let body = code.trim_start().trim_start_matches('#').trim_start();
        let name_len =
            body.find(|c: char| !c.is_ascii_alphanumeric() && c != '_').unwrap_or(body.len());
        let (name, rest) = body.split_at(name_len);
        let name_at =
            hash + raw[hash - start..].find(name).filter(|_| !name.is_empty()).unwrap_or(0);
        let name_span = Span::new(hash, (name_at + name.len()).max(hash + 1));
        let rest_at = (name_at + name.len()).min(first_line_end);
        let rest_span = Span::new(rest_at, first_line_end.max(rest_at)).trimmed(self.text);
        let d = Directive { name, rest: rest.trim(), name_span, line_span, rest_span };
        self.run_directive(&d);
        match open_comment {
            Some(comment) => {
                self.blank(start + comment);
                self.done = start + comment;
                self.flush(end);
                true
            }
            None => {
                self.blank(end);
                false
            }
        }
    }

    fn run_directive(&mut self, d: &Directive<'_>) {
        match d.name {
            "if" | "ifdef" | "ifndef" => self.open_group(d),
            "elif" | "else" | "endif" => self.continue_group(d),
            _ if !self.active() => {}
            "include" => self.include(d),
            "define" => match macros::parse_define(d.rest) {
                Ok((name, found)) => {
                    self.macros.insert(name, found);
                }
                Err(message) => {
                    self.error(Diagnostic::error(message, d.line_span, "in this `#define`"))
                }
            },
            "undef" => {
                self.macros.remove(d.rest.split_whitespace().next().unwrap_or(""));
            }
            "error" => self.error(Diagnostic::error(
                format!("#error {}", d.rest),
                d.line_span,
                "the script stops here",
            )),
            "warning" => self.diags.push(Diagnostic::warning(
                format!("#warning {}", d.rest),
                d.line_span,
                "from the script",
            )),
            "pragma" | "line" | "" => {}
            other => self.error(
                Diagnostic::error(
                    format!("unknown preprocessor directive `#{other}`"),
                    d.name_span,
                    "not a directive",
                )
                .with_suggestion(crate::suggest(other, DIRECTIVES.iter().copied())),
            ),
        }
    }

    fn error(&mut self, diagnostic: Diagnostic) {
        self.diags.push(diagnostic);
    }

    /// `#if`, `#ifdef`, `#ifndef`: a new group, taken when its condition holds (conditions
    /// inside a skipped group are not evaluated).
    fn open_group(&mut self, d: &Directive<'_>) {
        let parent = self.active();
        let value = parent && self.condition(d);
        self.conds.push(Cond {
            span: d.line_span,
            parent,
            taking: value,
            taken: value,
            seen_else: false,
        });
    }

    /// `#elif`, `#else`, `#endif`.
    fn continue_group(&mut self, d: &Directive<'_>) {
        let Some(cond) = self.conds.last() else {
            let what = format!("`#{}` without `#if`", d.name);
            return self.error(Diagnostic::error(what, d.name_span, "no open `#if` group"));
        };
        if cond.seen_else && d.name != "endif" {
            let what = format!("`#{}` after `#else`", d.name);
            return self.error(Diagnostic::error(
                what,
                d.name_span,
                "the group already had its `#else`",
            ));
        }
        let (parent, taken) = (cond.parent, cond.taken);
        match d.name {
            "endif" => {
                self.conds.pop();
            }
            "else" => {
                let cond = self.conds.last_mut().expect("checked above");
                (cond.taking, cond.taken, cond.seen_else) = (parent && !taken, true, true);
            }
            _ => {
                let value = parent && !taken && self.condition(d);
                let cond = self.conds.last_mut().expect("checked above");
                (cond.taking, cond.taken) = (value, taken || value);
            }
        }
    }

    /// The truth of a conditional directive's condition; an error counts as false.
    fn condition(&mut self, d: &Directive<'_>) -> bool {
        let name = d.rest.split_whitespace().next().unwrap_or("");
        let result = match d.name {
            "ifdef" | "ifndef" if name.is_empty() => Err("expected a macro name".to_string()),
            "ifdef" => Ok(self.macros.contains_key(name)),
            "ifndef" => Ok(!self.macros.contains_key(name)),
            _ => eval::condition(d.rest, &self.macros).map(|v| v != 0),
        };
        result.unwrap_or_else(|message| {
            let span = if d.rest_span.start < d.rest_span.end { d.rest_span } else { d.line_span };
            self.error(Diagnostic::error(
                format!("invalid `#{}` condition: {message}", d.name),
                span,
                "in this condition",
            ));
            false
        })
    }

    /// `#include <path>` or `#include "path"`: recorded, nothing read.
    fn include(&mut self, d: &Directive<'_>) {
        let rest = d.rest;
        let path = match (rest.chars().next(), rest.chars().last()) {
            (Some('<'), Some('>')) | (Some('"'), Some('"')) if rest.len() >= 3 => {
                &rest[1..rest.len() - 1]
            }
            _ => {
                return self.error(
                    Diagnostic::error(
                        "expected `<file>` or `\"file\"` after `#include`",
                        d.line_span,
                        "not an include",
                    )
                    .with_help("write `#include <linux/sched.h>`"),
                )
            }
        };
        for (name, value) in headers::constants(path) {
            let body = value.to_string();
            self.macros.entry(name.into()).or_insert(Macro { params: None, variadic: false, body });
        }
        let system = rest.starts_with('<');
        self.includes.push(Include { path: path.to_string(), system, span: d.line_span });
    }
}

/// The directives there are, for "did you mean".
const DIRECTIVES: &[&str] = &[
    "include", "define", "undef", "if", "ifdef", "ifndef", "elif", "else", "endif", "error",
    "warning", "pragma", "line",
];

/// A directive's parts.
struct Directive<'a> {
    /// `include`, `define`, ... (empty for a lone `#`).
    name: &'a str,
    /// What follows the name, comments removed and continuation lines joined.
    rest: &'a str,
    /// `#name` in the script.
    name_span: Span,
    /// The directive's first line.
    line_span: Span,
    /// What follows the name on the first line.
    rest_span: Span,
}

/// The end of the directive that starts at `start`: after its line, and after the lines it
/// continues onto with a `\` at the end.
fn directive_end(text: &str, start: usize) -> usize {
    let mut end = start;
    loop {
        end = text[end..].find('\n').map_or(text.len(), |i| end + i + 1);
        let line = text[..end].trim_end_matches('\n').trim_end_matches('\r');
        if end >= text.len() || !line.ends_with('\\') {
            return end;
        }
    }
}

impl Span {
    /// The span without the whitespace at either end of its text.
    fn trimmed(self, text: &str) -> Span {
        let s = &text[self.start as usize..self.end as usize];
        let start = self.start as usize + (s.len() - s.trim_start().len());
        let end = (self.end as usize - (s.len() - s.trim_end().len())).max(start);
        Span::new(start, end)
    }
}
