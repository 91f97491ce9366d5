//! `watchpoint:ADDR:LEN:MODE` (`w`) and `asyncwatchpoint` (`aw`): a hardware breakpoint
//! (`perf_event_open` with `PERF_TYPE_BREAKPOINT`) that runs a `PERF_EVENT` program each time
//! the `LEN` bytes at `ADDR` are read (`r`), written (`w`) or executed (`x`), as bpftrace's.
//! With `-p PID` or `-c CMD` the address is the process's (the event follows that task on
//! every CPU); without, it is a kernel address watched on every CPU. The function-argument
//! form (`watchpoint:func+arg1:4:w`, which attaches at run time when `func` is entered) is a
//! located "not supported yet". The runtime half is `bpfscope-runtime`'s
//! `attach/watchpoint.rs`.

use bpfscope_syntax::Diagnostic;

use super::{ArgLoc, ExpandCx, ProbeSpec, ProbeType, ProgKind, Provider};

/// The function whose argument a watchpoint watches (`increment+arg1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchFunc {
    pub name: String,
    pub arg: u8,
    /// Where the argument is in the uprobe's context (`struct pt_regs`).
    pub ctx_offset: i16,
}

/// One watchpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchpointSpec {
    /// The address watched (0 for a function argument's, known at run time).
    pub addr: u64,
    /// `FUNC+argN`: the address is that argument's on each call of FUNC.
    pub func: Option<WatchFunc>,
    /// 1, 2, 4 or 8 bytes.
    pub len: u8,
    /// `HW_BREAKPOINT_R` (1) | `HW_BREAKPOINT_W` (2), or `HW_BREAKPOINT_X` (4) alone.
    pub bp_type: u32,
    /// Written as `asyncwatchpoint`.
    pub asynchronous: bool,
    /// The process whose address it is (`-p`, `-c`), set by the checker; `None`: a kernel
    /// address.
    pub pid: Option<u32>,
}

impl WatchpointSpec {
    /// The mode as bpftrace spells it (`rw`, `w`, `x`).
    pub fn mode(&self) -> String {
        [(1, 'r'), (2, 'w'), (4, 'x')]
            .iter()
            .filter(|(bit, _)| self.bp_type & bit != 0)
            .map(|(_, c)| *c)
            .collect()
    }
}

impl ProbeType for WatchpointSpec {
    fn prog_kind(&self) -> ProgKind {
        ProgKind::PerfEvent
    }

    fn section(&self) -> String {
        format!("perf_event/watchpoint_{:x}", self.addr)
    }

    fn display(&self) -> String {
        let provider = if self.asynchronous { "asyncwatchpoint" } else { "watchpoint" };
        match &self.func {
            Some(f) => format!("{provider}:{}+arg{}:{}:{}", f.name, f.arg, self.len, self.mode()),
            None => format!("{provider}:{}:{}:{}", self.addr, self.len, self.mode()),
        }
    }

    /// A process's address: its pointers are user pointers.
    fn user_pointers(&self) -> bool {
        self.pid.is_some()
    }

    fn name_tail(&self) -> String {
        match &self.func {
            Some(f) => format!("wp_{}", f.name),
            None => format!("wp_{:x}", self.addr),
        }
    }
}

/// `watchpoint`/`w` and `asyncwatchpoint`/`aw`.
pub(super) struct Watchpoint {
    pub(super) asynchronous: bool,
}

impl Provider for Watchpoint {
    fn names(&self) -> &'static [&'static str] {
        if self.asynchronous {
            &["asyncwatchpoint", "aw"]
        } else {
            &["watchpoint", "w"]
        }
    }

    fn expand(&self, cx: &ExpandCx<'_>) -> Result<Vec<ProbeSpec>, Diagnostic> {
        let example = "e.g. `watchpoint:0x10000000:8:w`";
        let [_, addr, len, mode] = cx.parts[..] else {
            let message = format!("{} needs an address, a length and a mode", cx.provider());
            return Err(cx.error(message, example));
        };
        let (addr, func) = match parse_int(addr) {
            Some(addr) => (addr, None),
            None => (0, Some(watch_func(cx, addr)?)),
        };
        let len = match parse_int(len) {
            Some(n @ (1 | 2 | 4 | 8)) => n as u8,
            _ => {
                return Err(cx.error(
                    format!("invalid watchpoint length `{len}`"),
                    "must be 1, 2, 4 or 8 bytes",
                ))
            }
        };
        let mut bp_type = 0;
        for c in mode.chars() {
            let bit = match c {
                'r' => 1,
                'w' => 2,
                'x' => 4,
                _ => 0,
            };
            if bit == 0 || bp_type & bit != 0 {
                return Err(cx.error(
                    format!("invalid watchpoint mode `{mode}`"),
                    "each of `r`, `w`, `x` at most once",
                ));
            }
            bp_type |= bit;
        }
        if bp_type == 0 || (bp_type & 4 != 0 && bp_type != 4) {
            return Err(cx
                .error(
                    format!("invalid watchpoint mode `{mode}`"),
                    "`x` cannot combine with `r` or `w`",
                )
                .with_note("the hardware watches execution or data access, not both"));
        }
        let asynchronous = self.asynchronous;
        let spec = WatchpointSpec { addr, func, len, bp_type, asynchronous, pid: None };
        Ok(vec![ProbeSpec::Watchpoint(spec)])
    }

    fn example(&self) -> &'static str {
        if self.asynchronous {
            "asyncwatchpoint:0x10000000:8:rw"
        } else {
            "watchpoint:0x10000000:8:w"
        }
    }
}

/// `FUNC+argN`, with N one of the register arguments.
fn watch_func(cx: &ExpandCx<'_>, text: &str) -> Result<WatchFunc, Diagnostic> {
    let example = "e.g. `watchpoint:0x10000000:8:w` or `watchpoint:increment+arg1:4:w`";
    let Some((name, arg)) = text.split_once("+arg") else {
        return Err(cx.error(format!("invalid watchpoint address `{text}`"), example));
    };
    let arg: Option<u8> = arg.parse().ok();
    let Some((arg, ArgLoc::CtxOffset(ctx_offset))) =
        arg.and_then(|n| Some((n, super::pt_regs::arg(n)?)))
    else {
        return Err(cx.error(
            format!("invalid watchpoint argument in `{text}`"),
            "arg0 to arg5: the arguments passed in registers",
        ));
    };
    if name.is_empty() || name.contains(['*', '?']) {
        return Err(cx.error(format!("invalid watchpoint function in `{text}`"), example));
    }
    Ok(WatchFunc { name: name.to_string(), arg, ctx_offset })
}

/// A number as C writes it: decimal, `0x` hex or `0` octal.
fn parse_int(text: &str) -> Option<u64> {
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()
    } else if text.len() > 1 && text.starts_with('0') {
        u64::from_str_radix(&text[1..], 8).ok()
    } else {
        text.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{providers::tests::ap, target::Fixture};

    fn expand(raw: &str) -> Result<Vec<ProbeSpec>, Diagnostic> {
        crate::providers::expand(&ap(raw), &Fixture)
    }

    #[test]
    fn addresses_lengths_and_modes() {
        let [ProbeSpec::Watchpoint(spec)] = &expand("watchpoint:0x10000000:8:rw").unwrap()[..]
        else {
            panic!()
        };
        assert_eq!((spec.addr, spec.len, spec.bp_type, spec.pid), (0x1000_0000, 8, 3, None));
        assert_eq!(spec.func, None);
        assert_eq!(spec.display(), "watchpoint:268435456:8:rw");
        let [ProbeSpec::Watchpoint(spec)] = &expand("w:increment+arg1:4:w").unwrap()[..] else {
            panic!()
        };
        let func = WatchFunc { name: "increment".into(), arg: 1, ctx_offset: 104 };
        assert_eq!(spec.func.as_ref(), Some(&func));
        assert_eq!(spec.display(), "watchpoint:increment+arg1:4:w");
        let [ProbeSpec::Watchpoint(spec)] = &expand("aw:4096:4:wr").unwrap()[..] else { panic!() };
        assert_eq!(spec.display(), "asyncwatchpoint:4096:4:rw");
        assert_eq!(spec.prog_kind(), ProgKind::PerfEvent);
        let [ProbeSpec::Watchpoint(spec)] = &expand("w:0x10:1:x").unwrap()[..] else { panic!() };
        assert_eq!(spec.bp_type, 4);
    }

    #[test]
    fn bad_watchpoints_are_located_errors() {
        let message = |raw: &str| expand(raw).unwrap_err().message;
        assert_eq!(message("watchpoint:0x10:3:w"), "invalid watchpoint length `3`");
        assert_eq!(message("watchpoint:0x10:8:rx"), "invalid watchpoint mode `rx`");
        assert_eq!(message("watchpoint:0x10:8:ww"), "invalid watchpoint mode `ww`");
        assert_eq!(message("watchpoint:0x10:8:q"), "invalid watchpoint mode `q`");
        assert_eq!(message("watchpoint:zz:8:w"), "invalid watchpoint address `zz`");
        assert_eq!(
            message("watchpoint:0x10:8"),
            "watchpoint needs an address, a length and a mode"
        );
        assert_eq!(
            message("watchpoint:increment+arg9:4:w"),
            "invalid watchpoint argument in `increment+arg9`"
        );
        assert_eq!(message("watchpoint:+arg1:4:w"), "invalid watchpoint function in `+arg1`");
    }
}
