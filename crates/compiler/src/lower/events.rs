//! Async events: records sent through the ring buffer (`printf`, `print`, `clear`, `zero`,
//! `exit`, `time`, `join`), and the manifest's tables that give their ids a meaning.
//!
//! Every event record starts with a u64 id (see `manifest::event`), followed by 8-byte
//! aligned arguments. A failed `bpf_ringbuf_output` (ring full) is counted as a lost event.
//! The functions that send them are in `functions/output.rs` and `functions/maps.rs`; their
//! formats are added to [`Events`] here, as their code is generated.

use std::collections::HashMap;

use bpfscope_bpf::{AluOp, Helper, Insn, JmpOp, Reg, Size};
use bpfscope_syntax::{ast::Expr, Span};

use super::{Loc, Lower, Val};
use crate::{
    functions::{self, Placed},
    manifest::{
        event, wakeup_mark, FormatKind, HelperErrorSite, Manifest, MapLayout, Origin, PrintfDesc,
        CONTROL_RING_MAP, RINGBUF_MAP,
    },
    types::NameTable,
    Ty,
};

/// The helpers whose failures `-k` reports (bpftrace's: the `probe_read` family).
pub(crate) fn reports_errors(helper: Helper) -> bool {
    matches!(
        helper,
        Helper::ProbeRead
            | Helper::ProbeReadUser
            | Helper::ProbeReadKernel
            | Helper::ProbeReadUserStr
            | Helper::ProbeReadKernelStr
    )
}

/// `bpf_ringbuf_output` flags.
const RB_NO_WAKEUP: i32 = 1;
const RB_FORCE_WAKEUP: i32 = 2;

/// The manifest's tables of async events, filled while lowering: a call site gets its id
/// (its index in its table) where the code that sends it is generated. A call site lowered
/// again (for another attach point of its probe, or in an unrolled loop) keeps its id.
#[derive(Debug, Default)]
pub(crate) struct Events {
    /// `printf`, `cat` and `system` formats, by event id.
    printfs: Vec<PrintfDesc>,
    /// Types of `print(value)` values, by print id.
    prints: Vec<Ty>,
    /// `time()` formats, by time id.
    time_formats: Vec<String>,
    /// `join()` separators, by join id.
    join_separators: Vec<String>,
    /// `print_log2_hist()` and `print_rows()` layouts, by layout id.
    map_layouts: Vec<MapLayout>,
    /// Expression id of a call site → its index in its table.
    sites: HashMap<u32, usize>,
    /// `-k`: helper calls whose failures are counted, by site index.
    helper_errors: Vec<HelperErrorSite>,
    /// (source position, helper) of a counted helper call → its site index.
    helper_sites: HashMap<(u32, u32), usize>,
}

impl Events {
    /// The id of the `printf`-like call site `site`, whose format `desc` makes on first use.
    pub(crate) fn printf(&mut self, site: u32, desc: impl FnOnce() -> PrintfDesc) -> usize {
        slot(&mut self.sites, &mut self.printfs, site, desc)
    }

    /// The id of the `print(value)` call site `site`, of a value of type `ty`.
    pub(crate) fn print(&mut self, site: u32, ty: impl FnOnce() -> Ty) -> usize {
        slot(&mut self.sites, &mut self.prints, site, ty)
    }

    /// The id of the `time()` call site `site`.
    pub(crate) fn time(&mut self, site: u32, format: impl FnOnce() -> String) -> usize {
        slot(&mut self.sites, &mut self.time_formats, site, format)
    }

    /// The id of the `join()` call site `site`.
    pub(crate) fn join(&mut self, site: u32, separator: impl FnOnce() -> String) -> usize {
        slot(&mut self.sites, &mut self.join_separators, site, separator)
    }

    /// The id of the `print_log2_hist()` or `print_rows()` call site `site`.
    pub(crate) fn map_layout(&mut self, site: u32, layout: impl FnOnce() -> MapLayout) -> usize {
        slot(&mut self.sites, &mut self.map_layouts, site, layout)
    }

    /// The site index of the call of `helper` at `span` whose failures are counted.
    pub(crate) fn helper_error(&mut self, span: Span, helper: Helper) -> usize {
        let table = &mut self.helper_errors;
        *self.helper_sites.entry((span.start, helper as u32)).or_insert_with(|| {
            let name = helper.name().trim_start_matches("bpf_").to_string();
            let origin = Origin { span, ..Origin::default() };
            table.push(HelperErrorSite { helper: name, origin, text: String::new() });
            table.len() - 1
        })
    }

    /// Moves the tables into the manifest, where user space finds them by event id.
    pub(crate) fn fill(self, manifest: &mut Manifest) {
        let Events {
            printfs,
            prints,
            time_formats,
            join_separators,
            map_layouts,
            sites: _,
            helper_errors,
            helper_sites: _,
        } = self;
        manifest.helper_errors = helper_errors;
        manifest.printfs = printfs;
        manifest.prints = prints;
        manifest.time_formats = time_formats;
        manifest.join_separators = join_separators;
        manifest.map_layouts = map_layouts;
    }
}

/// The index of `site` in `table`, adding `make()` on its first use.
fn slot<T>(
    sites: &mut HashMap<u32, usize>,
    table: &mut Vec<T>,
    site: u32,
    make: impl FnOnce() -> T,
) -> usize {
    *sites.entry(site).or_insert_with(|| {
        table.push(make());
        table.len() - 1
    })
}

impl Lower<'_> {
    /// Sends an event made of an id and integer fields.
    /// `-k`: right after a call of `helper`, when it failed (r0 < 0), sends a warning with
    /// the source location, "Failed to probe_read_user_str: Bad address (-14)" as bpftrace
    /// words it; r0 is kept for the code that follows.
    pub(crate) fn report_helper_error(&mut self, helper: Helper) {
        let Some(slots) = self.helper_slots else { return };
        let (result, record) = (slots, slots + 8);
        let ok = self.label();
        self.jump(Insn::jmp_imm(JmpOp::Jsge, Reg::R0, 0, 0), ok);
        self.stx(Size::DW, result, Reg::R0);
        self.stx(Size::DW, record + 16, Reg::R0);
        self.insn(Insn::alu64_imm(AluOp::Neg, Reg::R0, 0));
        self.stx(Size::DW, record + 8, Reg::R0);
        let span = self.span;
        let name = helper.name().trim_start_matches("bpf_");
        // One warning format per source position and helper, kept apart from expression ids.
        let site = 0x8000_0000 | span.start << 6 | (helper as u32 & 63);
        let slot = self.events.printf(site, || PrintfDesc {
            format: format!("Failed to {name}: %s (%d)"),
            args: vec![Ty::Named(NameTable::Errno), Ty::I64],
            kind: FormatKind::Warnf,
            origin: Some(Origin { span, ..Origin::default() }),
        });
        self.mov_imm(Reg::R1, slot as i64);
        self.stx(Size::DW, record, Reg::R1);
        self.output_sized(record, 24, None, false);
        // Counted too, for the report at exit: a flood of warnings can overflow the ring,
        // the count cannot. The record's second field is the error as a positive errno; its
        // first, sent already, is free for the counters' key.
        self.count_helper_failure(helper, record + 8, record);
        self.ldx(Size::DW, Reg::R0, result);
        self.place(ok);
    }

    /// `-k`, on a failure of the call of `helper` at the current span: counts it in its call
    /// site's slot of the counters and keeps the 8-byte positive errno at `errno` as the
    /// site's last error, for the report at exit. `key`: 8 free bytes (in the `-k` slots,
    /// so that a program's stack does not grow with its call sites).
    pub(crate) fn count_helper_failure(&mut self, helper: Helper, errno: Loc, key: Loc) {
        let site = self.events.helper_error(self.span, helper);
        let count = Manifest::helper_error_slot(self.checked.maps.len(), site);
        self.bump_counter_with(count, key);
        self.set_counter(count + 1, errno, key);
    }

    pub(crate) fn send_fixed(&mut self, id: u64, fields: &[Val]) {
        let size = 8 + 8 * fields.len() as u32;
        let buf = self.alloc_buffer(size);
        self.mov_imm(Reg::R1, id as i64);
        self.stx(Size::DW, buf, Reg::R1);
        for (i, f) in fields.iter().enumerate() {
            self.load_reg(f, Reg::R1);
            self.stx(Size::DW, buf + 8 + 8 * i as i16, Reg::R1);
        }
        let control = matches!(id, event::EXIT | event::UNWATCH);
        self.output_sized(buf, size, None, control);
    }

    /// Sends an event made of an id and typed arguments (printf). A `str()` argument is read
    /// straight into its place in the record.
    pub(crate) fn send_event(&mut self, id: u64, args: &[Expr], tys: &[Ty]) {
        let size = 8 + tys.iter().map(Ty::size).sum::<u32>();
        let buf = self.alloc_buffer(size);
        self.mov_imm(Reg::R1, id as i64);
        self.stx(Size::DW, buf, Reg::R1);
        let mut off = 8;
        let mut sent = None;
        for (i, (arg, ty)) in args.iter().zip(tys).enumerate() {
            let at = buf + off as i16;
            // The argument's own span, for its instructions (verifier messages, `-k`).
            let saved_span = std::mem::replace(&mut self.span, arg.span);
            let placed = functions::lower_into(self, arg, at, ty, false);
            self.span = saved_span;
            if placed == Placed::No {
                let v = self.expr(arg);
                self.write_event_value(&v, ty, at);
            } else if let (true, Ty::Str(cap)) =
                (i + 1 == args.len() && placed == Placed::Counted, ty)
            {
                // The record ends with a string just read from memory: send only its bytes
                // (r0: their count with the NUL; on error the helper zeroed the buffer).
                let (positive, within) = (self.label(), self.label());
                self.jump(Insn::jmp_imm(JmpOp::Jsgt, Reg::R0, 0, 0), positive);
                self.insn(Insn::mov64_imm(Reg::R0, 1));
                self.place(positive);
                self.jump(Insn::jmp_imm(JmpOp::Jle, Reg::R0, *cap as i32, 0), within);
                self.insn(Insn::mov64_imm(Reg::R0, *cap as i32));
                self.place(within);
                self.insn(Insn::alu64_imm(AluOp::Add, Reg::R0, off as i32));
                sent = Some(self.spill(Reg::R0));
            }
            off += ty.size();
        }
        match sent {
            Some(Val::Mem(bytes)) => self.output_sized(buf, size, Some(bytes), false),
            _ => self.output(buf, size),
        }
    }

    /// Sends the `size`-byte record at `buf` to the event ring (see [`Self::output_sized`]).
    pub(crate) fn output(&mut self, buf: Loc, size: u32) {
        self.output_sized(buf, size, None, false);
    }

    /// Sends the record at `buf`, of at most `size` bytes (exactly the count in the stack
    /// slot `bytes` when given), to the event ring without waking the reader, which polls on
    /// a timer; only the record that fills the ring past [`wakeup_mark`] wakes it at once.
    /// Waking the reader for every record (the kernel's default) costs microseconds per
    /// event. With `control`, it goes to the small control ring instead, with a wake-up, so
    /// that a flood of output never loses it (`exit()`). A record the ring has no room for is
    /// counted as lost.
    fn output_sized(&mut self, buf: Loc, size: u32, bytes: Option<Loc>, control: bool) {
        let ring = if control { CONTROL_RING_MAP } else { RINGBUF_MAP };
        if control {
            self.insn(Insn::mov64_imm(Reg::R4, 0));
        } else {
            self.load_map(Reg::R1, RINGBUF_MAP);
            self.insn(Insn::mov64_imm(Reg::R2, 0)); // BPF_RB_AVAIL_DATA
            self.call(Helper::RingbufQuery);
            // Wake the reader only when this record takes the unread bytes across the
            // threshold: once woken, it polls again at once while records remain, so
            // waking it for every record above the threshold would only add cost.
            self.insn(Insn::mov64_imm(Reg::R4, RB_NO_WAKEUP));
            let quiet = self.label();
            let mark = wakeup_mark(self.checked.ringbuf_size) as i32;
            self.jump(Insn::jmp_imm(JmpOp::Jge, Reg::R0, mark, 0), quiet);
            // What the record adds to the unread bytes: its 8-byte header and its size
            // rounded up to 8, as the kernel lays it out.
            let footprint = 8 + size.div_ceil(8) * 8;
            self.insn(Insn::alu64_imm(AluOp::Add, Reg::R0, footprint as i32));
            self.jump(Insn::jmp_imm(JmpOp::Jlt, Reg::R0, mark, 0), quiet);
            self.insn(Insn::mov64_imm(Reg::R4, RB_FORCE_WAKEUP));
            self.place(quiet);
        }
        self.stack_addr(Reg::R2, buf);
        self.load_map(Reg::R1, ring);
        match bytes {
            Some(slot) => self.ldx(Size::DW, Reg::R3, slot),
            None => self.insn(Insn::mov64_imm(Reg::R3, size as i32)),
        }
        self.call(Helper::RingbufOutput);
        let ok = self.label();
        self.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R0, 0, 0), ok);
        self.bump_counter(0);
        self.place(ok);
    }
}

#[cfg(test)]
mod tests {
    use bpfscope_syntax::{Diagnostics, SourceFile};

    use crate::{compile, manifest::COUNTERS_MAP, map_defs, target::Fixture, Options};

    fn sites(text: &str, helper_warnings: bool) -> (Vec<(String, usize, usize, String)>, u32) {
        let file = SourceFile::new("a.bt", text);
        let mut diags = Diagnostics::default();
        let options = Options { helper_warnings, ..Options::default() };
        let compiled = compile(&file, &Fixture, &options, &mut diags).expect("compiles");
        let counters = map_defs(&compiled.manifest).into_iter().find(|d| d.name == COUNTERS_MAP);
        let sites = compiled.manifest.helper_errors.iter();
        let sites = sites.map(|s| (s.helper.clone(), s.origin.line, s.origin.col, s.text.clone()));
        (sites.collect(), counters.expect("the counters").max_entries)
    }

    #[test]
    fn k_gives_each_failing_call_its_counters_slots() {
        let text = "tracepoint:syscalls:sys_enter_getppid {\n  @s = str(uptr(0));\n  @t = str(kptr(8));\n}\n";
        let (found, counters) = sites(text, true);
        assert_eq!(
            found,
            [
                ("probe_read_user_str".into(), 2, 8, "str(uptr(0))".into()),
                // The string's copy into the map's value is a read of its own.
                ("probe_read_kernel_str".into(), 2, 3, "@s = str(uptr(0))".into()),
                ("map_update_elem".into(), 2, 3, "@s = str(uptr(0))".into()),
                ("probe_read_kernel_str".into(), 3, 8, "str(kptr(8))".into()),
                ("probe_read_kernel_str".into(), 3, 3, "@t = str(kptr(8))".into()),
                ("map_update_elem".into(), 3, 3, "@t = str(kptr(8))".into()),
            ]
        );
        // Slot 0, two per map (two: full, failed otherwise), two per site (six).
        assert_eq!(counters, 1 + 2 * 2 + 2 * 6);
        // Without -k: nothing counted, the counters as before.
        assert_eq!(sites(text, false), (vec![], 5));
    }
}
