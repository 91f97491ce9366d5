//! What the runtime needs to know about a compiled object besides its bytes: the probes and
//! how to attach them, the user maps and their types, and the format strings of async events.
//! Format strings never go to the kernel; events carry only an id and the arguments
//! (bpftrace's design, reference §3.2).

use crate::{providers::ProbeSpec, types::MapValue, Ty};

/// Event ids (the first u64 of every ring buffer record). `printf` ids are `0..EXIT`.
pub mod event {
    pub const EXIT: u64 = 30000;
    pub const PRINT_MAP: u64 = 30001;
    pub const CLEAR: u64 = 30002;
    pub const ZERO: u64 = 30003;
    pub const TIME: u64 = 30004;
    pub const PRINT_VALUE: u64 = 30005;
    pub const JOIN: u64 = 30006;
    /// `unwatch(addr)`: detach the watchpoints on `addr` (on the control ring).
    pub const UNWATCH: u64 = 30100;
    /// A `watchpoint:FUNC+argN` function was entered: attach program `field 1`'s breakpoint
    /// at address `field 2` (sent by the runtime's own uprobe program, on the control ring).
    pub const WATCH: u64 = 30101;
}

/// The BPF name of the ring buffer map.
pub const RINGBUF_MAP: &str = "ringbuf";
/// The BPF name of the small ring for events that must never be lost (`exit()`), separate
/// so that a flood of output cannot crowd them out.
pub const CONTROL_RING_MAP: &str = "ctlring";
/// The BPF name of the stop flag: a one-slot array whose value user space sets to 1 when the
/// trace ends. Every probe program first reads it and returns at once when it is set, so the
/// probes stop the moment the trace ends, before their perf events are closed (which the
/// kernel can take tens of milliseconds a probe to do).
pub const STOP_MAP: &str = "stop";
/// Bytes of the control ring.
pub const CONTROL_RING_SIZE: u32 = 16 << 10;
/// Unread bytes in the event ring above which a program wakes the reader at once (an eighth
/// of the ring: 128 KiB of the default 1 MiB); below it the reader finds records on its next
/// timed poll.
pub fn wakeup_mark(ring_bytes: u32) -> u32 {
    ring_bytes / 8
}
/// How often the reader polls the event ring when no wake-up comes, in milliseconds.
pub const POLL_INTERVAL_MS: i32 = 100;
/// The BPF name of the per-CPU scratch area: large strings, keys and records live there
/// instead of on the 512-byte stack.
pub const SCRATCH_MAP: &str = "scratch";
/// `join()` reads at most this many array elements...
pub const JOIN_MAX_ARGS: u32 = 16;
/// ...of at most this many bytes each.
pub const JOIN_ARG_SIZE: u32 = 128;
/// Bytes of a `join` record: id, separator slot, element count, then the elements.
pub const JOIN_RECORD_SIZE: u32 = 24 + JOIN_MAX_ARGS * JOIN_ARG_SIZE;

/// The BPF name of the internal counters array: slot 0 counts lost events, slot `1 + id`
/// counts failed updates (map full) of user map `id`; with `-k`, slots `1 + maps + 2 * site`
/// and the next count the failures of helper call site `site` and keep its last error
/// ([`Manifest::helper_error_slot`]).
pub const COUNTERS_MAP: &str = "counters";

/// Everything about one compiled script.
#[derive(Debug, Clone, Default)]
pub struct Manifest {
    pub maps: Vec<MapDesc>,
    pub programs: Vec<ProgramDesc>,
    pub printfs: Vec<PrintfDesc>,
    /// `-k`: the helper calls whose failures are counted, by site index.
    pub helper_errors: Vec<HelperErrorSite>,
    /// Types of the values sent by `print(value)`, by print id.
    pub prints: Vec<Ty>,
    pub time_formats: Vec<String>,
    /// Separators of `join` calls, by join id.
    pub join_separators: Vec<String>,
    /// BCC layouts of `print_log2_hist()` and `print_rows()`, by layout id (the `PRINT_MAP`
    /// event's fourth field, plus one; 0 is bpftrace's layout).
    pub map_layouts: Vec<MapLayout>,
    pub ringbuf_size: u32,
    /// Bytes of the per-CPU scratch area (large strings and records); 0 when unused.
    pub scratch_size: u32,
    /// The config variables the runtime acts on.
    pub config: ScriptConfig,
    /// How stacks and code addresses are named (`cpp_demangle`, `show_debug_info`).
    pub symbols: SymbolConfig,
}

/// The script's symbolization options; the default is bpftrace's: names demangled, no
/// source lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SymbolConfig {
    /// `config = { cpp_demangle = 0 }`: C++ and Rust names print mangled.
    pub mangled: bool,
    /// `config = { show_debug_info = 1 }`: user frames add `(file:line)` from DWARF.
    pub lines: bool,
}

/// How `print_log2_hist()` or `print_rows()` prints a map (`bpfscope_output::bcc`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapLayout {
    /// BCC's log2 histogram: the unit in the header, the section name before each key.
    Log2Hist { unit: String, section: String },
    /// One row per entry, largest value first, through this printf format.
    Rows { format: String },
}

/// One user map.
#[derive(Debug, Clone)]
pub struct MapDesc {
    /// As written, with the `@` (`@`, `@bytes`).
    pub name: String,
    /// The kernel's name (`AT_bytes`), at most 15 bytes.
    pub bpf_name: String,
    /// `None` for a scalar map (`@x = ...`), which still uses an 8-byte zero key.
    pub key: Option<Ty>,
    pub value: MapValue,
    pub max_entries: u32,
    /// Kept in a per-CPU array rather than a hash: a scalar `count()` (one slot) or `hist`/
    /// `lhist` (a slot a bucket, the key is the bucket index) that no `delete`, `has_key`,
    /// `len` or `for` touches. The verifier inlines array lookups and nothing is hashed,
    /// which makes `@ = count()` cost a few ns over an empty program. Zero slots print as
    /// absent entries, as a hash map would have none.
    pub array: bool,
    /// The kind given by a `let @m = KIND(N);` declaration, if any.
    pub declared: Option<MapKind>,
    /// A `hist()`/`lhist()` compiled with `Options::hist_sums` (`bpfscope exporter`): each
    /// bucket's value is (count, sum of the values counted there), so the exact sum of a
    /// key's values is known beside its buckets, for no lookup more than the count's.
    pub hist_sums: bool,
}

/// The kinds of map a declaration (`let @m = lruhash(100);`) can ask for, with bpftrace's
/// names and kernel map types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapKind {
    Hash,
    LruHash,
    PercpuHash,
    PercpuLruHash,
}

impl MapKind {
    /// Every kind with its name as written.
    pub const ALL: [(&'static str, MapKind); 4] = [
        ("hash", MapKind::Hash),
        ("lruhash", MapKind::LruHash),
        ("percpuhash", MapKind::PercpuHash),
        ("percpulruhash", MapKind::PercpuLruHash),
    ];

    pub fn from_name(name: &str) -> Option<MapKind> {
        MapKind::ALL.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
    }

    pub fn name(self) -> &'static str {
        MapKind::ALL.iter().find(|(_, k)| *k == self).map_or("hash", |(n, _)| n)
    }

    /// Per-CPU kinds hold aggregations (`count()`, `sum()`, ...); the others plain values.
    pub fn is_percpu(self) -> bool {
        matches!(self, MapKind::PercpuHash | MapKind::PercpuLruHash)
    }

    /// The kernel's map type number.
    pub fn map_type(self) -> u32 {
        use crate::object::map_type;
        match self {
            MapKind::Hash => map_type::HASH,
            MapKind::LruHash => map_type::LRU_HASH,
            MapKind::PercpuHash => map_type::PERCPU_HASH,
            MapKind::PercpuLruHash => map_type::LRU_PERCPU_HASH,
        }
    }
}

impl MapDesc {
    /// Key bytes in the kernel (user key, or 8 for scalar, plus 8 for a bucket index; 4 for
    /// an array index).
    pub fn key_size(&self) -> u32 {
        if self.array {
            return 4;
        }
        let user = self.key.as_ref().map_or(8, |k| k.size().max(8));
        user + if self.value.has_bucket() { 8 } else { 0 }
    }

    /// Value bytes (one CPU's) in the kernel map: the value's, and 8 more for the sum of a
    /// `hist_sums` histogram.
    pub fn value_size(&self) -> u32 {
        self.value.value_size() + if self.hist_sums { 8 } else { 0 }
    }

    /// Bytes between consecutive CPUs' values in a per-CPU lookup (8-byte aligned).
    pub fn cpu_stride(&self) -> u32 {
        self.value_size().div_ceil(8) * 8
    }

    /// Bytes of the user part of the key (none in an array, whose key is the bucket).
    pub fn user_key_size(&self) -> u32 {
        if self.array {
            return 0;
        }
        self.key.as_ref().map_or(8, |k| k.size().max(8))
    }
}

/// One BPF program and where it attaches.
#[derive(Debug, Clone)]
pub struct ProgramDesc {
    /// The ELF symbol (and kernel program name).
    pub name: String,
    pub probe: ProbeSpec,
    /// The probe as the user wrote it after expansion (`tracepoint:syscalls:sys_enter_read`).
    pub display: String,
    /// Byte span of the probe header in the source.
    pub span: bpfscope_syntax::Span,
    /// Source span of each instruction slot, for mapping verifier errors back.
    pub insn_spans: Vec<bpfscope_syntax::Span>,
}

/// `-k`: a helper call whose failures are counted and reported at exit with where it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HelperErrorSite {
    /// The helper without its `bpf_` prefix (`probe_read_user_str`).
    pub helper: String,
    pub origin: Origin,
    /// The source text of the expression that made the call (filled with `origin`).
    pub text: String,
}

/// The counters map: slot 0 the events the ring had no room for; then, for each user map,
/// its updates refused because it was full (E2BIG); then, for each, its updates that failed
/// otherwise (ENOMEM: no preallocated entry and none ready in the kernel's cache); then two
/// slots per `-k` helper call site.
impl Manifest {
    /// The counters slot of map `map`'s updates refused because it was full.
    pub fn full_slot(map: usize) -> u32 {
        (1 + map) as u32
    }

    /// The counters slot of map `map`'s updates that failed for another reason, of `maps`.
    pub fn failed_slot(maps: usize, map: usize) -> u32 {
        (1 + maps + map) as u32
    }

    /// The counters slot of helper call site `site`'s failure count; the next slot holds
    /// its last error (a positive errno).
    pub fn helper_error_slot(maps: usize, site: usize) -> u32 {
        (1 + 2 * maps + 2 * site) as u32
    }

    /// How many counters slots there are.
    pub fn counter_slots(maps: usize, sites: usize) -> u32 {
        (1 + 2 * maps + 2 * sites) as u32
    }
}

/// A `printf`, `cat` or `system` call site: a format and its argument types.
#[derive(Debug, Clone)]
pub struct PrintfDesc {
    pub format: String,
    pub args: Vec<Ty>,
    pub kind: FormatKind,
    /// For `errorf`/`warnf`: where the call is, for the message.
    pub origin: Option<Origin>,
}

/// Where a call is in the script: lowering records the span, [`crate::compile`] the
/// file name, line and columns (lowering does not see the source text).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub span: bpfscope_syntax::Span,
    pub file: String,
    /// 1-based line, and the first and last columns of the call on it.
    pub line: usize,
    pub col: usize,
    pub end_col: usize,
}

impl Origin {
    /// Fills the file, line and columns of the span from the source.
    pub fn locate(&mut self, file: &bpfscope_syntax::SourceFile) {
        let (line, col) = file.line_col(self.span.start);
        let (_, end_col) = file.line_col(self.span.end.saturating_sub(1));
        (self.file, self.line, self.col, self.end_col) = (file.name.clone(), line, col, end_col);
    }
}

/// What user space does with a formatted string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatKind {
    /// Print it.
    Printf,
    /// Print the contents of the file it names (`cat`).
    Cat,
    /// Run it as a shell command and print its output (`system`, needs `--unsafe`).
    System,
    /// Print it on standard error as an error (`errorf`) with where the call is.
    Errorf,
    /// The same, as a warning (`warnf`).
    Warnf,
}

/// What happens when a probe cannot be attached (`missing_probes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingProbes {
    /// The run fails (bpftrace's default).
    #[default]
    Error,
    /// A warning, and the run goes on without the probe.
    Warn,
    /// The run goes on without the probe, silently.
    Ignore,
}

/// The config variables the runtime acts on (set in the script's `config = { ... }` block
/// or by `BPFTRACE_*` environment variables, which win), with bpftrace's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptConfig {
    /// Print every non-empty map at exit.
    pub print_maps_on_exit: bool,
    /// Appended to `printf`/`cat`/`system` string arguments that filled `max_strlen`.
    pub str_trunc_trailer: String,
    /// Bytes `cat()` reads at most.
    pub max_cat_bytes: u32,
    pub missing_probes: MissingProbes,
    /// The license the programs are loaded with.
    pub license: String,
    /// Bytes of the verifier log buffer asked for when a program is rejected.
    pub log_size: u32,
    /// The string buffer size (`max_strlen`), which the trailer rule compares against.
    pub max_strlen: u32,
}

impl Default for ScriptConfig {
    fn default() -> Self {
        ScriptConfig {
            print_maps_on_exit: true,
            str_trunc_trailer: "..".into(),
            max_cat_bytes: 10240,
            missing_probes: MissingProbes::Error,
            license: "GPL".into(),
            log_size: 1_000_000,
            max_strlen: 1024,
        }
    }
}
