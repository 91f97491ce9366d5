//! `tracepoint:CATEGORY:NAME` (`t:`): the kernel's static tracepoints, with `args.FIELD`
//! read from the record whose layout tracefs describes (through [`Target`], so the compiler
//! reads no files). Wildcards expand against the target's list. The runtime half is
//! `bpfscope-runtime`'s `attach/tracepoint.rs`.

use bpfscope_syntax::{suggest, Diagnostic};

use super::{glob_match, ArgsStruct, ExpandCx, ProbeSpec, ProbeType, ProgKind, Provider};

/// One tracepoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracepointSpec {
    pub category: String,
    pub name: String,
}

impl ProbeType for TracepointSpec {
    fn prog_kind(&self) -> ProgKind {
        ProgKind::Tracepoint
    }

    fn section(&self) -> String {
        format!("tracepoint/{}/{}", self.category, self.name)
    }

    fn display(&self) -> String {
        format!("tracepoint:{}:{}", self.category, self.name)
    }

    fn args_struct(&self) -> Option<ArgsStruct<'_>> {
        Some(ArgsStruct::TracepointFormat { category: &self.category, name: &self.name })
    }

    /// System call arguments are user-space pointers (`args.filename`).
    fn user_pointers(&self) -> bool {
        self.category == "syscalls"
    }

    fn name_tail(&self) -> String {
        self.name.clone()
    }
}

/// `tracepoint`, `t`.
pub(super) struct Tracepoint;

impl Provider for Tracepoint {
    fn names(&self) -> &'static [&'static str] {
        &["tracepoint", "t"]
    }

    fn expand(&self, cx: &ExpandCx<'_>) -> Result<Vec<ProbeSpec>, Diagnostic> {
        let [_, category, name] = cx.parts[..] else {
            return Err(cx.error(
                "tracepoint needs a category and a name",
                "expected `tracepoint:CATEGORY:NAME`",
            ));
        };
        if !category.contains(['*', '?']) && !name.contains(['*', '?']) {
            return exact(cx, category, name).map(|spec| vec![spec]);
        }
        let matches: Vec<ProbeSpec> = cx
            .target
            .tracepoints()
            .iter()
            .filter_map(|tp| tp.split_once(':'))
            .filter(|(c, n)| glob_match(category, c) && glob_match(name, n))
            .map(|(c, n)| spec(c, n))
            .collect();
        if matches.is_empty() {
            return Err(cx.error(
                format!("no tracepoint matches `{}`", cx.ap.raw),
                super::NO_TRACEPOINT_MATCHES,
            ));
        }
        Ok(matches)
    }

    fn example(&self) -> &'static str {
        "tracepoint:syscalls:sys_enter_*"
    }
}

fn spec(category: &str, name: &str) -> ProbeSpec {
    ProbeSpec::Tracepoint(TracepointSpec { category: category.into(), name: name.into() })
}

/// A tracepoint without wildcards: it must exist (with a suggestion when it does not).
fn exact(cx: &ExpandCx<'_>, category: &str, name: &str) -> Result<ProbeSpec, Diagnostic> {
    if cx.target.tracepoint_format(category, name).is_some() {
        return Ok(spec(category, name));
    }
    let all = cx.target.tracepoints();
    let full = format!("{category}:{name}");
    let mut diagnostic = cx.error(format!("tracepoint `{full}` not found"), "no such tracepoint");
    if let Some(s) = suggest(&full, all.iter().map(String::as_str)) {
        diagnostic = diagnostic.with_help(format!("did you mean `tracepoint:{s}`?"));
    }
    Err(diagnostic)
}

#[cfg(test)]
mod tests {
    use super::super::{expand, tests::ap};
    use crate::target::Fixture;

    #[test]
    fn expands_wildcards_and_suggests_names() {
        let t = &Fixture;
        // One attach point per fixture tracepoint of the wildcard's kind (counted here, so
        // that fixture additions keep it true), and at least the 7 it began with.
        let entries = crate::target::Target::tracepoints(t)
            .iter()
            .filter(|name| name.starts_with("syscalls:sys_enter_"))
            .count();
        assert!(entries >= 7);
        assert_eq!(expand(&ap("t:syscalls:sys_enter_*"), t).unwrap().len(), entries);
        assert!(expand(&ap("t:syscalls:sys_enter_reed"), t)
            .unwrap_err()
            .help
            .unwrap()
            .contains("sys_enter_read"));
        assert_eq!(
            expand(&ap("t:nomatch:*zz"), t).unwrap_err().message,
            "no tracepoint matches `t:nomatch:*zz`"
        );
        assert!(expand(&ap("t:syscalls"), t).is_err());
    }
}
