//! A small regular expression matcher for `--probe-filter` (no dependency): literals, `.`,
//! classes `[a-z]`/`[^...]`, groups `( )`, alternation `|`, repetition `*` `+` `?` `{n,m}`,
//! anchors `^` `$` and `\` escapes (`\d`, `\w`, `\s` too). Matching is a search, as
//! `std::regex_search` in bpftrace: the expression may match anywhere in the text.

/// A parsed expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Regex {
    source: String,
    alt: Alt,
}

type Alt = Vec<Seq>;
type Seq = Vec<(Atom, Rep)>;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Atom {
    Char(char),
    Any,
    /// (negated, ranges)
    Class(bool, Vec<(char, char)>),
    Group(Alt),
    Start,
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rep {
    One,
    Star,
    Plus,
    Opt,
}

impl Regex {
    /// Parses `source`; the error says what is wrong and where.
    pub fn new(source: &str) -> Result<Regex, String> {
        let chars: Vec<char> = source.chars().collect();
        let mut pos = 0;
        let alt = parse_alt(&chars, &mut pos)?;
        if pos < chars.len() {
            return Err(format!("unmatched `)` at offset {pos}"));
        }
        Ok(Regex { source: source.to_string(), alt })
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the expression matches somewhere in `text`.
    pub fn is_match(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        (0..=text.len()).any(|start| match_alt(&self.alt, &text, start, &mut |_| true))
    }
}

impl Default for Regex {
    fn default() -> Self {
        Regex::new("").expect("the empty expression")
    }
}

fn parse_alt(c: &[char], pos: &mut usize) -> Result<Alt, String> {
    let mut alt = vec![parse_seq(c, pos)?];
    while *pos < c.len() && c[*pos] == '|' {
        *pos += 1;
        alt.push(parse_seq(c, pos)?);
    }
    Ok(alt)
}

fn parse_seq(c: &[char], pos: &mut usize) -> Result<Seq, String> {
    let mut seq = Vec::new();
    while *pos < c.len() && c[*pos] != '|' && c[*pos] != ')' {
        let at = *pos;
        let atom = match c[*pos] {
            '.' => Atom::Any,
            '^' => Atom::Start,
            '$' => Atom::End,
            '(' => {
                *pos += 1;
                let inner = parse_alt(c, pos)?;
                if *pos >= c.len() || c[*pos] != ')' {
                    return Err(format!("unclosed `(` at offset {at}"));
                }
                Atom::Group(inner)
            }
            '[' => parse_class(c, pos)?,
            '\\' => {
                *pos += 1;
                let Some(&e) = c.get(*pos) else {
                    return Err("trailing `\\`".into());
                };
                escape(e)
            }
            '*' | '+' | '?' => {
                return Err(format!("`{}` with nothing to repeat at offset {at}", c[at]))
            }
            ch => Atom::Char(ch),
        };
        *pos += 1;
        if c.get(*pos) == Some(&'{') {
            // `{n}`, `{n,}`, `{n,m}`: n copies, then m - n optional ones (or a star).
            let (min, max) = parse_counts(c, pos)?;
            for _ in 0..min {
                seq.push((atom.clone(), Rep::One));
            }
            match max {
                Some(max) => (min..max).for_each(|_| seq.push((atom.clone(), Rep::Opt))),
                None => seq.push((atom, Rep::Star)),
            }
            continue;
        }
        let rep = match c.get(*pos) {
            Some('*') => Rep::Star,
            Some('+') => Rep::Plus,
            Some('?') => Rep::Opt,
            _ => Rep::One,
        };
        if rep != Rep::One {
            *pos += 1;
        }
        seq.push((atom, rep));
    }
    Ok(seq)
}

/// `{n}`, `{n,}` or `{n,m}` from `c[*pos] == '{'`; leaves `pos` after the `}`.
fn parse_counts(c: &[char], pos: &mut usize) -> Result<(usize, Option<usize>), String> {
    let at = *pos;
    let close = c[at..].iter().position(|ch| *ch == '}').map(|i| at + i);
    let Some(close) = close else { return Err(format!("unclosed `{{` at offset {at}")) };
    let inner: String = c[at + 1..close].iter().collect();
    let number = |t: &str| t.trim().parse::<usize>().ok().filter(|n| *n <= 1000);
    let counts = match inner.split_once(',') {
        None => number(&inner).map(|n| (n, Some(n))),
        Some((lo, "")) => number(lo).map(|n| (n, None)),
        Some((lo, hi)) => {
            number(lo).zip(number(hi)).filter(|(l, h)| l <= h).map(|(l, h)| (l, Some(h)))
        }
    };
    *pos = close + 1;
    counts.ok_or_else(|| format!("bad repetition `{{{inner}}}` at offset {at}"))
}

fn escape(e: char) -> Atom {
    match e {
        'd' => Atom::Class(false, vec![('0', '9')]),
        'w' => Atom::Class(false, vec![('a', 'z'), ('A', 'Z'), ('0', '9'), ('_', '_')]),
        's' => Atom::Class(false, vec![(' ', ' '), ('\t', '\t'), ('\n', '\n'), ('\r', '\r')]),
        other => Atom::Char(other),
    }
}

/// `[...]` from `c[*pos] == '['`; leaves `pos` on the closing `]`.
fn parse_class(c: &[char], pos: &mut usize) -> Result<Atom, String> {
    let at = *pos;
    *pos += 1;
    let negated = c.get(*pos) == Some(&'^');
    if negated {
        *pos += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let Some(&ch) = c.get(*pos) else {
            return Err(format!("unclosed `[` at offset {at}"));
        };
        if ch == ']' && !first {
            break;
        }
        first = false;
        let lo = if ch == '\\' {
            *pos += 1;
            *c.get(*pos).ok_or("trailing `\\`")?
        } else {
            ch
        };
        if c.get(*pos + 1) == Some(&'-') && c.get(*pos + 2).is_some_and(|h| *h != ']') {
            ranges.push((lo, c[*pos + 2]));
            *pos += 3;
        } else {
            ranges.push((lo, lo));
            *pos += 1;
        }
    }
    Ok(Atom::Class(negated, ranges))
}

fn match_alt(alt: &Alt, t: &[char], i: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
    alt.iter().any(|seq| match_seq(seq, t, i, k))
}

fn match_seq(seq: &[(Atom, Rep)], t: &[char], i: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
    let Some(((atom, rep), rest)) = seq.split_first() else { return k(i) };
    match rep {
        Rep::One => match_atom(atom, t, i, &mut |j| match_seq(rest, t, j, k)),
        Rep::Opt => {
            match_atom(atom, t, i, &mut |j| match_seq(rest, t, j, k)) || match_seq(rest, t, i, k)
        }
        Rep::Star | Rep::Plus => {
            // Greedy: every position reachable by 1..n repetitions, longest first.
            let mut ends = vec![i];
            let mut frontier = vec![i];
            while let Some(from) = frontier.pop() {
                let mut next = Vec::new();
                match_atom(atom, t, from, &mut |j| {
                    if j > from && !ends.contains(&j) {
                        next.push(j);
                    }
                    false
                });
                for j in next {
                    ends.push(j);
                    frontier.push(j);
                }
            }
            let skip = usize::from(*rep == Rep::Plus);
            let mut candidates: Vec<usize> = ends.into_iter().skip(skip).collect();
            candidates.sort_unstable_by(|a, b| b.cmp(a));
            candidates.into_iter().any(|j| match_seq(rest, t, j, k))
        }
    }
}

fn match_atom(atom: &Atom, t: &[char], i: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
    match atom {
        Atom::Char(ch) => t.get(i) == Some(ch) && k(i + 1),
        Atom::Any => i < t.len() && k(i + 1),
        Atom::Class(negated, ranges) => {
            t.get(i)
                .is_some_and(|ch| ranges.iter().any(|(lo, hi)| (lo..=hi).contains(&ch)) != *negated)
                && k(i + 1)
        }
        Atom::Group(alt) => match_alt(alt, t, i, k),
        Atom::Start => i == 0 && k(i),
        Atom::End => i == t.len() && k(i),
    }
}

#[cfg(test)]
mod tests {
    use super::Regex;

    fn m(re: &str, text: &str) -> bool {
        Regex::new(re).expect("valid").is_match(text)
    }

    #[test]
    fn searches_like_regex_search() {
        assert!(m("uprobe", "uprobe:/bin/sh:main"));
        assert!(m("sys_enter", "tracepoint:syscalls:sys_enter_openat"));
        assert!(!m("^sys_enter", "tracepoint:syscalls:sys_enter_openat"));
        assert!(m("^tracepoint:.*openat$", "tracepoint:syscalls:sys_enter_openat"));
        assert!(!m("^tracepoint:.*open$", "tracepoint:syscalls:sys_enter_openat"));
        assert!(m("(u|k)probe.*", "kprobe:vfs_read"));
        assert!(m("(u|k)probe.*", "uprobe:/x:f"));
        assert!(!m("^(u|k)probe", "tracepoint:a:b"));
        assert!(m("sys_(enter|exit)_getp[a-z]+d$", "tracepoint:syscalls:sys_exit_getppid"));
        assert!(!m("sys_(enter|exit)_getp[a-z]+d$", "tracepoint:syscalls:sys_exit_getpid_x"));
        assert!(m("interval:s:\\d", "interval:s:1"));
        assert!(m("a?b+c*$", "xbbb"));
        assert!(m("[^a-z]", "abc1"));
        assert!(!m("[^a-z]", "abc"));
        assert!(m("", "anything"));
        assert!(m("a\\.b", "a.b") && !m("a\\.b", "axb"));
        assert!(m("^a{2}$", "aa") && !m("^a{2}$", "aaa") && !m("^a{2}$", "a"));
        assert!(m("^a{1,3}b", "aaab") && !m("^a{1,3}b", "aaaab") && !m("^a{1,3}b", "b"));
        assert!(m("^x[0-9]{2,}$", "x123") && !m("^x[0-9]{2,}$", "x1"));
    }

    #[test]
    fn bad_expressions_say_why() {
        assert_eq!(Regex::new("(ab").unwrap_err(), "unclosed `(` at offset 0");
        assert_eq!(Regex::new("ab)").unwrap_err(), "unmatched `)` at offset 2");
        assert_eq!(Regex::new("[ab").unwrap_err(), "unclosed `[` at offset 0");
        assert_eq!(Regex::new("*a").unwrap_err(), "`*` with nothing to repeat at offset 0");
        assert_eq!(Regex::new("a{2").unwrap_err(), "unclosed `{` at offset 1");
        assert_eq!(Regex::new("a{3,1}").unwrap_err(), "bad repetition `{3,1}` at offset 1");
    }
}
