//! Stacks and code addresses as values, and the [`Symbolizer`] a sink asks to name them.
//!
//! Decoding keeps `kstack`/`ustack` as frame addresses (with the pid, for user stacks) and
//! `ksym`/`usym` as one address: naming them takes the kernel's symbol table or the
//! process's mappings and ELF files, which only the runtime may read. A sink that writes
//! text names them when it writes, through [`resolve`]; a sink that exports stacks (a flame
//! graph) can walk [`Stack::frames`] itself. The runtime's symbolizer (kallsyms,
//! `/proc/PID/maps`, ELF symbol tables, cached for the run) is `bpfscope_runtime::symbols`.

use crate::{Aggregate, MapOutput, Value};

/// How a stack prints (`kstack(perf)`, `kstack(raw)`; bpftrace `StackMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackMode {
    /// `        symbol+offset` per frame.
    Bpftrace,
    /// `\t<address> symbol+offset` per frame (as `perf script`).
    Perf,
    /// `        <address>` per frame.
    Raw,
}

/// A kernel or user stack, innermost frame first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack {
    /// Return addresses.
    pub frames: Vec<u64>,
    /// The process of a user stack; `None` for a kernel stack.
    pub pid: Option<u32>,
    pub mode: StackMode,
}

/// A code address to name (`ksym`, `usym`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeAddress {
    pub addr: u64,
    /// The process of a user address; `None` for a kernel address.
    pub pid: Option<u32>,
}

/// Names code addresses. Implementations cache what they read, so lookups take `&mut self`.
pub trait Symbolizer {
    /// The kernel function containing `addr`, and the offset of `addr` into it.
    fn kernel(&mut self, addr: u64) -> Option<(&str, u64)>;
    /// The function containing `addr` in process `pid`, and the offset into it.
    fn user(&mut self, pid: u32, addr: u64) -> Option<(&str, u64)>;
    /// The source location (`file:line`) of `addr` in process `pid`, when source lines
    /// were asked for (`--symbols=lines`, `config = { show_debug_info = 1 }`).
    fn user_location(&mut self, _pid: u32, _addr: u64) -> Option<&str> {
        None
    }
    /// Told, before a batch of lookups (a map, a `printf`), every kernel address the batch
    /// holds (sorted, without repeats): a symbolizer may then read the kernel's symbols once
    /// for all of them rather than hold the whole table.
    fn prepare_kernel(&mut self, _addrs: &[u64]) {}
    /// As [`Symbolizer::prepare_kernel`], for the (pid, address) pairs of user code: a
    /// symbolizer may then read each file's symbols once, and let them go after.
    fn prepare_user(&mut self, _addrs: &[(u32, u64)]) {}
}

/// Tells `symbols` the kernel and user addresses of `values` (see
/// [`Symbolizer::prepare_kernel`]).
pub fn prepare<'a>(values: impl IntoIterator<Item = &'a Value>, symbols: &mut dyn Symbolizer) {
    fn addresses(value: &Value, kernel: &mut Vec<u64>, user: &mut Vec<(u32, u64)>) {
        match value {
            Value::Stack(stack) => match stack.pid {
                None => kernel.extend(&stack.frames),
                Some(pid) => user.extend(stack.frames.iter().map(|&addr| (pid, addr))),
            },
            Value::Symbol(CodeAddress { addr, pid: None }) => kernel.push(*addr),
            Value::Symbol(CodeAddress { addr, pid: Some(pid) }) => user.push((*pid, *addr)),
            Value::Tuple(items) => items.iter().for_each(|item| addresses(item, kernel, user)),
            _ => {}
        }
    }
    let (mut kernel, mut user) = (Vec::new(), Vec::new());
    values.into_iter().for_each(|value| addresses(value, &mut kernel, &mut user));
    if !kernel.is_empty() {
        kernel.sort_unstable();
        kernel.dedup();
        symbols.prepare_kernel(&kernel);
    }
    if !user.is_empty() {
        user.sort_unstable();
        user.dedup();
        symbols.prepare_user(&user);
    }
}

/// A symbolizer that names nothing: every address prints in hex, as bpftrace prints an
/// address no symbol covers.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoSymbols;

impl Symbolizer for NoSymbols {
    fn kernel(&mut self, _addr: u64) -> Option<(&str, u64)> {
        None
    }

    fn user(&mut self, _pid: u32, _addr: u64) -> Option<(&str, u64)> {
        None
    }
}

/// `name+offset`, or the address in hex when no symbol covers it.
fn frame_symbol(symbols: &mut dyn Symbolizer, addr: u64, pid: Option<u32>) -> String {
    let found = match pid {
        Some(pid) => symbols.user(pid, addr),
        None => symbols.kernel(addr),
    };
    let text = match found {
        Some((name, offset)) => format!("{name}+{offset}"),
        None => return format!("0x{addr:x}"),
    };
    match pid.and_then(|pid| symbols.user_location(pid, addr)) {
        Some(location) => format!("{text} ({location})"),
        None => text,
    }
}

impl Stack {
    /// The stack as bpftrace prints it: a newline, then one line per frame.
    pub fn text(&self, symbols: &mut dyn Symbolizer) -> String {
        let mut text = String::from("\n");
        for &addr in &self.frames {
            let line = match self.mode {
                StackMode::Bpftrace => {
                    format!("        {}\n", frame_symbol(symbols, addr, self.pid))
                }
                StackMode::Perf => {
                    format!("\t{addr:016x} {}\n", frame_symbol(symbols, addr, self.pid))
                }
                StackMode::Raw => format!("        {addr:x}\n"),
            };
            text.push_str(&line);
        }
        text
    }
}

impl CodeAddress {
    /// As bpftrace prints `ksym`/`usym`: the function's name without the offset, or the
    /// address in hex.
    pub fn text(&self, symbols: &mut dyn Symbolizer) -> String {
        let found = match self.pid {
            Some(pid) => symbols.user(pid, self.addr),
            None => symbols.kernel(self.addr),
        };
        found.map_or_else(|| format!("0x{:x}", self.addr), |(name, _)| name.to_string())
    }
}

impl Value {
    /// True when the value holds a stack or a code address (which [`resolve`] would name).
    pub fn has_symbols(&self) -> bool {
        match self {
            Value::Stack(_) | Value::Symbol(_) => true,
            Value::Tuple(items) => items.iter().any(Value::has_symbols),
            _ => false,
        }
    }
}

/// Replaces every stack and code address in `value` by its text (a [`Value::Str`]).
pub fn resolve(value: &mut Value, symbols: &mut dyn Symbolizer) {
    prepare([&*value], symbols);
    name(value, symbols);
}

/// [`resolve`] without [`prepare`].
fn name(value: &mut Value, symbols: &mut dyn Symbolizer) {
    match value {
        Value::Stack(stack) => *value = Value::Str(stack.text(symbols)),
        Value::Symbol(address) => *value = Value::Str(address.text(symbols)),
        Value::Tuple(items) => items.iter_mut().for_each(|item| name(item, symbols)),
        _ => {}
    }
}

/// [`resolve`] over the arguments of a `printf` that hold stacks or symbols.
pub fn resolve_args(args: &mut [Value], symbols: &mut dyn Symbolizer) {
    prepare(args.iter(), symbols);
    for arg in args.iter_mut().filter(|a| a.has_symbols()) {
        name(arg, symbols);
    }
}

/// The keys and the plain values of a map's entries.
pub(crate) fn map_values(map: &MapOutput) -> impl Iterator<Item = &Value> {
    map.entries.iter().flat_map(|(key, value)| {
        let value = match value {
            Aggregate::Value(value) => Some(value),
            _ => None,
        };
        std::iter::once(key).chain(value)
    })
}

/// [`resolve`] over every key and value of a map. Sinks call it before sorting, so that
/// entries with stack keys sort by their text, as bpftrace sorts them.
pub fn resolve_map(map: &mut MapOutput, symbols: &mut dyn Symbolizer) {
    prepare(map_values(map), symbols);
    for (key, value) in &mut map.entries {
        name(key, symbols);
        if let Aggregate::Value(value) = value {
            name(value, symbols);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Two kernel functions and one user function in process 7.
    pub(crate) struct FakeSymbols;

    impl Symbolizer for FakeSymbols {
        fn kernel(&mut self, addr: u64) -> Option<(&str, u64)> {
            match addr {
                0x1000..0x1100 => Some(("do_syscall_64", addr - 0x1000)),
                0x2000..0x2100 => Some(("vfs_read", addr - 0x2000)),
                _ => None,
            }
        }

        fn user(&mut self, pid: u32, addr: u64) -> Option<(&str, u64)> {
            (pid == 7 && (0x400000..0x400100).contains(&addr)).then(|| ("main", addr - 0x400000))
        }
    }

    fn stack(mode: StackMode, pid: Option<u32>, frames: &[u64]) -> Stack {
        Stack { frames: frames.to_vec(), pid, mode }
    }

    #[test]
    fn stacks_print_in_bpftrace_perf_and_raw_modes() {
        let frames = [0x2010, 0x1005, 0xdead];
        let text = stack(StackMode::Bpftrace, None, &frames).text(&mut FakeSymbols);
        assert_eq!(text, "\n        vfs_read+16\n        do_syscall_64+5\n        0xdead\n");
        let text = stack(StackMode::Perf, None, &frames[..1]).text(&mut FakeSymbols);
        assert_eq!(text, "\n\t0000000000002010 vfs_read+16\n");
        let text = stack(StackMode::Raw, None, &frames[..2]).text(&mut FakeSymbols);
        assert_eq!(text, "\n        2010\n        1005\n");
        let user = stack(StackMode::Bpftrace, Some(7), &[0x400010, 0x2010]);
        assert_eq!(user.text(&mut FakeSymbols), "\n        main+16\n        0x2010\n");
    }

    #[test]
    fn code_addresses_print_the_name_without_offset() {
        let kernel = CodeAddress { addr: 0x2004, pid: None };
        assert_eq!(kernel.text(&mut FakeSymbols), "vfs_read");
        let unknown = CodeAddress { addr: 0x9999, pid: None };
        assert_eq!(unknown.text(&mut FakeSymbols), "0x9999");
        let user = CodeAddress { addr: 0x400001, pid: Some(7) };
        assert_eq!(user.text(&mut FakeSymbols), "main");
        assert_eq!(user.text(&mut NoSymbols), "0x400001");
    }

    /// Records what it is told to prepare, names nothing.
    #[derive(Default)]
    struct Prepared(Vec<Vec<u64>>, Vec<Vec<(u32, u64)>>);

    impl Symbolizer for Prepared {
        fn kernel(&mut self, _addr: u64) -> Option<(&str, u64)> {
            None
        }
        fn user(&mut self, _pid: u32, _addr: u64) -> Option<(&str, u64)> {
            None
        }
        fn prepare_kernel(&mut self, addrs: &[u64]) {
            self.0.push(addrs.to_vec());
        }
        fn prepare_user(&mut self, addrs: &[(u32, u64)]) {
            self.1.push(addrs.to_vec());
        }
    }

    #[test]
    fn a_map_s_addresses_are_prepared_once_sorted_without_repeats() {
        let key = |frames: &[u64]| {
            Value::Tuple(vec![
                Value::Stack(Box::new(stack(StackMode::Bpftrace, None, frames))),
                Value::Stack(Box::new(stack(StackMode::Bpftrace, Some(7), &[0x400000]))),
            ])
        };
        let ksym = Value::Symbol(CodeAddress { addr: 0x1500, pid: None });
        let mut map = MapOutput {
            name: "@".into(),
            keyed: true,
            histogram: false,
            entries: vec![
                (key(&[0x2010, 0x1005]), Aggregate::Value(Value::Int(1))),
                (key(&[0x2010, 0x1000]), Aggregate::Value(ksym)),
            ],
        };
        let mut symbols = Prepared::default();
        resolve_map(&mut map, &mut symbols);
        assert_eq!(symbols.0, [vec![0x1000, 0x1005, 0x1500, 0x2010]]);
        assert_eq!(symbols.1, [vec![(7, 0x400000)]]);
        // Nothing to prepare: no call.
        resolve_args(&mut [Value::Int(1)], &mut symbols);
        assert_eq!((symbols.0.len(), symbols.1.len()), (1, 1));
    }

    #[test]
    fn resolve_names_nested_values_in_place() {
        let mut value = Value::Tuple(vec![
            Value::Int(1),
            Value::Symbol(CodeAddress { addr: 0x1000, pid: None }),
            Value::Stack(Box::new(stack(StackMode::Bpftrace, None, &[0x2000]))),
        ]);
        assert!(value.has_symbols());
        resolve(&mut value, &mut FakeSymbols);
        assert!(!value.has_symbols());
        assert_eq!(value.to_text(), "(1, do_syscall_64, \n        vfs_read+0\n)");
    }
}
