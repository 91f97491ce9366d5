//! Script diagnostics and the one renderer that turns them into text.
//!
//! The format follows rustc/gleam: `error: message`, then `--> file:line:col`, the source line
//! and a caret line under the span, then `help:` and `note:` lines.

use std::fmt::Write;

use crate::{SourceFile, Span};

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// A span with a short text saying what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub text: String,
}

/// One message about the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    pub labels: Vec<Label>,
    pub help: Option<String>,
    pub note: Option<String>,
}

impl Diagnostic {
    /// An error with a primary label.
    pub fn error(message: impl Into<String>, span: Span, label: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            labels: vec![Label { span, text: label.into() }],
            help: None,
            note: None,
        }
    }

    /// A warning with a primary label.
    pub fn warning(message: impl Into<String>, span: Span, label: impl Into<String>) -> Diagnostic {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(message, span, label) }
    }

    /// Adds `help:` text.
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Adds a `help: did you mean ...?` when there is a suggestion.
    pub fn with_suggestion(self, suggestion: Option<&str>) -> Diagnostic {
        match suggestion {
            Some(s) => self.with_help(format!("did you mean `{s}`?")),
            None => self,
        }
    }

    /// Adds `note:` text.
    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.note = Some(note.into());
        self
    }

    /// Renders the diagnostic against its source file.
    pub fn render(&self, file: &SourceFile) -> String {
        let mut out = String::new();
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(out, "{kind}: {}", self.message);
        for label in &self.labels {
            let (line, col) = file.line_col(label.span.start);
            let (end_line, end_col) = file.line_col(label.span.end);
            let text = file.line_text(line);
            let width = line.to_string().len();
            let _ = writeln!(out, "{:width$}--> {}:{line}:{col}", "", file.name);
            let _ = writeln!(out, "{:width$} |", "");
            let _ = writeln!(out, "{line} | {text}");
            let carets = if end_line == line { (end_col.saturating_sub(col)).max(1) } else { 1 };
            let _ = writeln!(
                out,
                "{:width$} | {:pad$}{} {}",
                "",
                "",
                "^".repeat(carets),
                label.text,
                pad = col - 1
            );
        }
        if let Some(help) = &self.help {
            let _ = writeln!(out, "help: {help}");
        }
        if let Some(note) = &self.note {
            let _ = writeln!(out, "note: {note}");
        }
        out
    }
}

/// The diagnostics of one compilation, in the order found.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Records a diagnostic.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    /// True when at least one error (not warning) was recorded.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    /// Renders all diagnostics.
    pub fn render(&self, file: &SourceFile) -> String {
        self.items.iter().map(|d| d.render(file)).collect::<Vec<_>>().join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_caret_under_span() {
        let file = SourceFile::new("stdin", "BEGIN { @ = cout(); }");
        let d = Diagnostic::error("unknown function `cout`", Span::new(12, 16), "not a function")
            .with_suggestion(Some("count"));
        assert_eq!(
            d.render(&file),
            "error: unknown function `cout`\n --> stdin:1:13\n  |\n1 | BEGIN { @ = cout(); }\n  |             ^^^^ not a function\nhelp: did you mean `count`?\n"
        );
    }
}
