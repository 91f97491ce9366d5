//! `usdt:BINARY:PROVIDER:NAME` and `usdt:BINARY:NAME` (`U:`): statically defined user
//! probes, the `<sys/sdt.h>` probe points a program or library describes in its
//! `.note.stapsdt` ELF notes. Each note gives the probe's address, its semaphore (a counter
//! the program tests before doing the work of a probe's arguments) and its argument specs,
//! the assembler operands `-4@%eax`, `8@-8(%rbp)`, `-4@$5`, `1@g(%rip)`, which decide where
//! `arg0..argN` are read ([`UsdtArg`]). Every location of a probe (a probe in an inlined
//! function has several) is an attach point of its own, with its own argument specs.
//!
//! The notes come from [`Target::usdt_probes`], which finds the file (with `-p PID`, among
//! the files that process has mapped); the runtime half, a uprobe at the location with the
//! semaphore as its reference counter, is `bpfscope-runtime`'s `attach/usdt.rs`.

use bpfscope_syntax::{suggest, Diagnostic};

use super::{glob_match, pt_regs, ArgLoc, ExpandCx, ProbeSpec, ProbeType, ProgKind, Provider};
use crate::target::Target;

/// The most arguments `<sys/sdt.h>` gives a probe (`STAP_PROBE12`).
pub const MAX_ARGS: usize = 12;

/// One location of a USDT probe as its note describes it ([`Target::usdt_probes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsdtNote {
    /// The file the note is in.
    pub path: String,
    pub provider: String,
    pub name: String,
    /// The probe's link-time address (corrected by `.stapsdt.base` for a prelinked file).
    pub pc: u64,
    /// Where the probe's instruction is in the file, for the uprobe.
    pub file_offset: u64,
    /// Where the semaphore is in the file (the uprobe's `ref_ctr_offset`); 0 when none.
    pub semaphore: u64,
    /// The argument specs as the note writes them, separated by spaces.
    pub args: String,
}

/// A USDT probe at one location of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsdtSpec {
    /// The file, resolved (a path).
    pub path: String,
    pub provider: String,
    pub name: String,
    pub file_offset: u64,
    /// The semaphore's file offset, 0 when the probe has none.
    pub semaphore: u64,
    pub args: Vec<UsdtArg>,
}

/// Where one argument of a USDT probe is, and its size and sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsdtArg {
    /// 1, 2, 4 or 8 bytes.
    pub size: u8,
    pub signed: bool,
    pub value: UsdtValue,
}

/// What an argument operand reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsdtValue {
    /// `$5`: a constant.
    Const(i64),
    /// `%eax`: a register (its `pt_regs` offset), shifted right by `shift` bits (8 for
    /// `%ah`).
    Reg { off: i16, shift: u8 },
    /// `-8(%rbp)`, `(%rax)`, `16(%rax,%rbx,8)`, `g(%rip)`: user memory at `base + index *
    /// scale + disp` (registers by their `pt_regs` offsets; a `%rip` base is the probe's
    /// address, so `disp` is then the symbol's distance from the probe).
    Mem { base: Option<i16>, index: Option<(i16, u8)>, disp: i64 },
}

impl ProbeType for UsdtSpec {
    /// A uprobe program (`BPF_PROG_TYPE_KPROBE`).
    fn prog_kind(&self) -> ProgKind {
        ProgKind::Kprobe
    }

    fn section(&self) -> String {
        "usdt".into()
    }

    fn display(&self) -> String {
        format!("usdt:{}:{}:{}", self.path, self.provider, self.name)
    }

    fn arg(&self, index: u8) -> Option<ArgLoc> {
        self.args.get(usize::from(index)).map(|a| ArgLoc::Usdt(*a))
    }

    fn arg_count(&self) -> Option<usize> {
        Some(self.args.len())
    }

    fn traced_binary(&self) -> Option<&str> {
        Some(&self.path)
    }

    fn user_pointers(&self) -> bool {
        true
    }
}

/// `usdt`/`U`.
pub(super) struct Usdt;

impl Provider for Usdt {
    fn names(&self) -> &'static [&'static str] {
        &["usdt", "U"]
    }

    fn expand(&self, cx: &ExpandCx<'_>) -> Result<Vec<ProbeSpec>, Diagnostic> {
        let (binary, provider, name) = match cx.parts[..] {
            [_, binary, provider, name] => (binary, provider, name),
            [_, binary, name] => (binary, "*", name),
            _ => {
                let p = cx.provider();
                return Err(cx.error(
                    format!("`{p}` needs a binary and a probe: `{p}:/usr/bin/python3:function__entry` or `{p}:BINARY:PROVIDER:NAME`"),
                    "expected BINARY:[PROVIDER:]NAME",
                ));
            }
        };
        if binary.is_empty() || name.is_empty() || provider.is_empty() {
            return Err(cx.error("a USDT probe needs a binary and a probe name", "empty part"));
        }
        let notes = cx.target.usdt_probes(binary).map_err(|e| cx.error(e, "no such binary"))?;
        let Some(path) = notes.first().map(|n| n.path.clone()) else {
            return Err(cx.error(
                format!("`{binary}` has no USDT probes (no .note.stapsdt section)"),
                "no USDT probes",
            ));
        };
        let wanted: Vec<&UsdtNote> = notes
            .iter()
            .filter(|n| glob_match(provider, &n.provider) && glob_match(name, &n.name))
            .collect();
        if wanted.is_empty() {
            let full = |n: &UsdtNote| format!("{}:{}", n.provider, n.name);
            let mut known: Vec<String> = notes.iter().map(full).collect();
            known.sort();
            known.dedup();
            let (asked, names): (String, Vec<&str>) = if provider == "*" {
                (name.to_string(), notes.iter().map(|n| n.name.as_str()).collect())
            } else {
                (format!("{provider}:{name}"), known.iter().map(String::as_str).collect())
            };
            return Err(cx
                .error(format!("no USDT probe `{asked}` in {path}"), "no such probe")
                .with_suggestion(suggest(&asked, names))
                .with_note(format!("its probes: {}", known.join(", "))));
        }
        wanted.into_iter().map(|note| spec(note, cx)).collect()
    }

    fn example(&self) -> &'static str {
        "usdt:/usr/bin/fixture:demo:two"
    }
}

/// The attach point of one location, its argument specs decoded.
fn spec(note: &UsdtNote, cx: &ExpandCx<'_>) -> Result<ProbeSpec, Diagnostic> {
    let args = parse_args(note, cx.target).map_err(|e| {
        cx.error(
            format!("USDT probe {}:{} in {}: {e}", note.provider, note.name, note.path),
            "argument not supported",
        )
    })?;
    Ok(ProbeSpec::Usdt(UsdtSpec {
        path: note.path.clone(),
        provider: note.provider.clone(),
        name: note.name.clone(),
        file_offset: note.file_offset,
        semaphore: note.semaphore,
        args,
    }))
}

/// The argument specs of a note, decoded.
pub fn parse_args(note: &UsdtNote, target: &dyn Target) -> Result<Vec<UsdtArg>, String> {
    let args: Vec<UsdtArg> = note
        .args
        .split_whitespace()
        .map(|spec| {
            parse_arg(spec, &|symbol| {
                let addr = target.user_symbol(&note.path, symbol)?;
                Ok(addr as i64 - note.pc as i64)
            })
        })
        .collect::<Result<_, _>>()?;
    if args.len() > MAX_ARGS {
        return Err(format!("{} arguments, more than the {MAX_ARGS} of <sys/sdt.h>", args.len()));
    }
    Ok(args)
}

/// One argument spec, `SIZE@OPERAND` (x86-64 AT&T syntax); `symbol` gives a symbol's
/// distance from the probe, for `%rip`-relative operands.
pub fn parse_arg(
    spec: &str,
    symbol: &dyn Fn(&str) -> Result<i64, String>,
) -> Result<UsdtArg, String> {
    let bad = |why: &str| format!("argument spec `{spec}`: {why}");
    let (size, operand) = match spec.split_once('@') {
        Some((size, operand)) => (size.parse::<i8>().map_err(|_| bad("bad size"))?, operand),
        // Old notes write only the operand: a signed long.
        None => (-8, spec),
    };
    let signed = size < 0;
    let size = size.unsigned_abs();
    if ![1, 2, 4, 8].contains(&size) {
        return Err(bad("the size must be 1, 2, 4 or 8 bytes"));
    }
    let value = if let Some(imm) = operand.strip_prefix('$') {
        UsdtValue::Const(parse_int(imm).ok_or_else(|| bad("the constant is not a number"))?)
    } else if let Some(reg) = operand.strip_prefix('%') {
        let (off, shift) = register(reg).ok_or_else(|| bad("unknown register"))?;
        UsdtValue::Reg { off, shift }
    } else if let Some((disp, regs)) = operand.strip_suffix(')').and_then(|o| o.split_once('(')) {
        let mut regs = regs.split(',').map(str::trim);
        let base = regs.next().unwrap_or("");
        let index = regs.next();
        let scale = regs.next();
        if regs.next().is_some() {
            return Err(bad("too many parts in the memory operand"));
        }
        let full = |r: &str| {
            let r = r.strip_prefix('%')?;
            register(r).filter(|(_, shift)| *shift == 0).map(|(off, _)| off)
        };
        let index = match (index, scale) {
            (None, _) => None,
            (Some(index), scale) => {
                let scale = scale.map_or(Some(1), |s| s.parse::<u8>().ok());
                let scale = scale.filter(|s| [1, 2, 4, 8].contains(s));
                let scale = scale.ok_or_else(|| bad("the scale must be 1, 2, 4 or 8"))?;
                Some((full(index).ok_or_else(|| bad("unknown index register"))?, scale))
            }
        };
        if base == "%rip" {
            if index.is_some() {
                return Err(bad("%rip with an index register"));
            }
            if !disp_name(disp) {
                return Err(bad("a %rip-relative operand without a symbol"));
            }
            let (name, off) = split_symbol(disp);
            let off = parse_int(off).ok_or_else(|| bad("bad displacement"))?;
            let distance = symbol(name).map_err(|e| bad(&e))?;
            let ip = pt_regs::register("ip").expect("pt_regs has ip");
            UsdtValue::Mem { base: Some(ip), index: None, disp: distance + off }
        } else {
            let base = match base {
                "" => None,
                base => Some(full(base).ok_or_else(|| bad("unknown base register"))?),
            };
            let disp =
                match disp {
                    "" => 0,
                    _ if disp_name(disp) => return Err(bad(
                        "a symbol as displacement is only supported with %rip (not supported yet)",
                    )),
                    _ => parse_int(disp).ok_or_else(|| bad("bad displacement"))?,
                };
            UsdtValue::Mem { base, index, disp }
        }
    } else if let Some(addr) = parse_int(operand) {
        UsdtValue::Mem { base: None, index: None, disp: addr }
    } else {
        return Err(bad("not an operand this reader knows"));
    };
    Ok(UsdtArg { size, signed, value })
}

/// True when a displacement names a symbol.
fn disp_name(disp: &str) -> bool {
    disp.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '.')
}

/// `sym+8` → (`sym`, `+8`); `sym` → (`sym`, `0`).
fn split_symbol(disp: &str) -> (&str, &str) {
    match disp.find(['+', '-']) {
        Some(i) => (&disp[..i], &disp[i..]),
        None => (disp, "0"),
    }
}

/// A decimal or `0x` hexadecimal integer with an optional sign.
fn parse_int(text: &str) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let value = match digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok()? as i64,
        None => digits.parse::<u64>().ok()? as i64,
    };
    Some(if negative { value.wrapping_neg() } else { value })
}

/// An x86-64 register by any of its names (`rax`, `eax`, `ax`, `al`, `ah`, `r8d`...): its
/// `pt_regs` offset and the right shift of its bits (8 for `ah`..`dh`).
fn register(name: &str) -> Option<(i16, u8)> {
    const NAMES: &[(&str, [&str; 4])] = &[
        ("ax", ["rax", "eax", "ax", "al"]),
        ("bx", ["rbx", "ebx", "bx", "bl"]),
        ("cx", ["rcx", "ecx", "cx", "cl"]),
        ("dx", ["rdx", "edx", "dx", "dl"]),
        ("si", ["rsi", "esi", "si", "sil"]),
        ("di", ["rdi", "edi", "di", "dil"]),
        ("bp", ["rbp", "ebp", "bp", "bpl"]),
        ("sp", ["rsp", "esp", "sp", "spl"]),
        ("ip", ["rip", "eip", "ip", "ip"]),
    ];
    let off = |reg: &str| pt_regs::register(reg);
    if let Some(high) = name.strip_suffix('h').filter(|h| ["a", "b", "c", "d"].contains(h)) {
        return Some((off(&format!("{high}x"))?, 8));
    }
    if let Some((reg, _)) = NAMES.iter().find(|(_, names)| names.contains(&name)) {
        return Some((off(reg)?, 0));
    }
    // r8..r15 and their r8d, r8w, r8b.
    let number = name.strip_prefix('r')?;
    let number = number.trim_end_matches(['d', 'w', 'b', 'l']);
    let n: u8 = number.parse().ok().filter(|n| (8..=15).contains(n))?;
    Some((off(&format!("r{n}"))?, 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{expand, tests::ap};
    use crate::target::Fixture;

    fn arg(spec: &str) -> UsdtArg {
        parse_arg(spec, &|s| if s == "g" { Ok(0x2000) } else { Err(format!("no `{s}`")) })
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn reg(name: &str) -> i16 {
        pt_regs::register(name).unwrap()
    }

    #[test]
    fn decodes_every_operand_form() {
        let r = |size, signed, off, shift| UsdtArg {
            size,
            signed,
            value: UsdtValue::Reg { off: reg(off), shift },
        };
        assert_eq!(arg("-4@%eax"), r(4, true, "ax", 0));
        assert_eq!(arg("8@%rdi"), r(8, false, "di", 0));
        assert_eq!(arg("1@%dl"), r(1, false, "dx", 0));
        assert_eq!(arg("1@%ah"), r(1, false, "ax", 8));
        assert_eq!(arg("-2@%r12w"), r(2, true, "r12", 0));
        assert_eq!(arg("4@%r9d"), r(4, false, "r9", 0));
        assert_eq!(arg("1@%sil"), r(1, false, "si", 0));
        let c = |size, signed, v| UsdtArg { size, signed, value: UsdtValue::Const(v) };
        assert_eq!(arg("-4@$5"), c(4, true, 5));
        assert_eq!(arg("-4@$-5"), c(4, true, -5));
        assert_eq!(arg("8@$0x10"), c(8, false, 16));
        let m = |size, signed, base: Option<&str>, index, disp| UsdtArg {
            size,
            signed,
            value: UsdtValue::Mem { base: base.map(reg), index, disp },
        };
        assert_eq!(arg("8@-8(%rbp)"), m(8, false, Some("bp"), None, -8));
        assert_eq!(arg("-8@8(%rsp)"), m(8, true, Some("sp"), None, 8));
        assert_eq!(arg("8@(%rax)"), m(8, false, Some("ax"), None, 0));
        assert_eq!(arg("2@16(%rax,%rbx,8)"), m(2, false, Some("ax"), Some((reg("bx"), 8)), 16));
        assert_eq!(arg("4@(,%rcx,4)"), m(4, false, None, Some((reg("cx"), 4)), 0));
        assert_eq!(arg("-2@g(%rip)"), m(2, true, Some("ip"), None, 0x2000));
        assert_eq!(arg("-2@g+4(%rip)"), m(2, true, Some("ip"), None, 0x2004));
        assert_eq!(arg("%rdi"), r(8, true, "di", 0));
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        let err = |spec: &str| parse_arg(spec, &|s| Err(format!("no symbol `{s}`"))).unwrap_err();
        assert_eq!(err("3@%eax"), "argument spec `3@%eax`: the size must be 1, 2, 4 or 8 bytes");
        assert_eq!(err("4@%xmm0"), "argument spec `4@%xmm0`: unknown register");
        assert_eq!(err("4@h(%rip)"), "argument spec `4@h(%rip)`: no symbol `h`");
        assert!(err("4@h(%rax)").contains("not supported yet"));
        assert!(err("4@8(%rax,%rbx,3)").contains("scale"));
    }

    #[test]
    fn expands_by_provider_and_name_with_wildcards() {
        let specs = |raw: &str| expand(&ap(raw), &Fixture);
        let two = specs("usdt:/usr/bin/fixture:demo:two").unwrap();
        assert_eq!(two.len(), 1);
        assert_eq!(two[0].display(), "usdt:/usr/bin/fixture:demo:two");
        // Two locations (an inlined probe): two attach points.
        assert_eq!(specs("U:/usr/bin/fixture:inlined").unwrap().len(), 2);
        assert_eq!(specs("usdt:/usr/bin/fixture:demo:*").unwrap().len(), 4);
        assert_eq!(specs("usdt:/usr/bin/fixture:*:t*").unwrap().len(), 2);
        let ProbeSpec::Usdt(spec) = &two[0] else { panic!() };
        assert_eq!(spec.semaphore, 0x3010);
        assert_eq!(two[0].probe_type().arg(1), Some(ArgLoc::Usdt(spec.args[1])));
        assert_eq!(two[0].probe_type().arg(2), None);
    }

    #[test]
    fn bad_attach_points_say_why() {
        let err = |raw: &str| expand(&ap(raw), &Fixture).unwrap_err();
        let d = err("usdt:/usr/bin/fixture:demo:tow");
        assert_eq!(d.message, "no USDT probe `demo:tow` in /usr/bin/fixture");
        assert_eq!(d.help.as_deref(), Some("did you mean `demo:two`?"));
        assert_eq!(
            err("usdt:/usr/bin/fixture:thre").help.as_deref(),
            Some("did you mean `three`?")
        );
        assert_eq!(err("usdt:/nope:a:b").message, "no binary or library `/nope`");
        assert!(err("usdt:/bin/bash:a:b").message.contains("has no USDT probes"));
        assert!(err("usdt:/usr/bin/fixture").message.contains("needs a binary and a probe"));
    }
}
