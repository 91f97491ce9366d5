//! The types of the language as the compiler sees them, and their byte layout in maps and
//! events. Integers are stored as 8 bytes in keys, values and events whatever their width,
//! which keeps layouts simple and matches what user space prints.
//!
//! Pointers, records (structs and unions) and arrays are the C types of the kernel's BTF
//! (resolved by [`crate::btf::Reader`]) and of written casts. A pointer is stored and
//! compared as a 64-bit address, so everywhere an integer goes a pointer goes too. Records
//! and arrays have no expression of their type yet: see [`Ty::size`] for their layout.

use std::sync::Arc;

/// A value type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Ty {
    /// An integer of `bits` width.
    Int {
        bits: u8,
        signed: bool,
    },
    Bool,
    /// A NUL-terminated string in a buffer of this many bytes.
    Str(u32),
    Tuple(Vec<Ty>),
    /// A stack: a frame count, for a user stack (`ustack`) the process id, then up to
    /// `frames` return addresses.
    Stack {
        frames: u8,
        mode: StackMode,
        user: bool,
    },
    /// An address printed as the symbol it falls in: `ksym(addr)`, or `usym(addr)` (which also
    /// carries the pid, for the process's symbols).
    Sym {
        user: bool,
    },
    /// `strftime(fmt, ns)`: a CLOCK_BOOTTIME timestamp printed as local time by `fmt`.
    Time(String),
    /// `ntop()`: an address family (8 bytes) and 16 address bytes, printed as `127.0.0.1`
    /// or `::1` by user space (bpftrace's `inet`).
    Inet,
    /// `macaddr()`: 6 bytes (in 8), printed as `aa:bb:cc:dd:ee:ff`.
    Mac,
    /// `buf(ptr, len)`: a length (8 bytes) and up to this many bytes, printed by `%r`.
    Buf(u32),
    /// An integer printed by user space as its name in a table: `syscall_name()`,
    /// `signal_name()`, `strerror()`.
    Named(NameTable),
    /// A C enum (from kernel BTF or the script): an integer everywhere (arithmetic, keys,
    /// values, `%d`), whose `printf("%s")` prints the enumerator's name.
    Enum(Arc<EnumTy>),
    /// A pointer to `to` (`Ty::None` for `void *`), into user memory when `user` (read with
    /// `probe_read_user`) or kernel memory. It behaves as a `uint64` wherever an integer is
    /// expected (arithmetic, comparisons, printf, keys and values, casts, `str()`).
    Ptr {
        to: Box<Ty>,
        user: bool,
    },
    /// A C struct or union.
    Record(Arc<Record>),
    /// A C array of `len` elements.
    Array {
        of: Box<Ty>,
        len: u32,
    },
    /// No value (statements, `printf`).
    None,
    /// Already reported; stays silent to avoid cascades.
    Error,
}

impl Ty {
    pub const U64: Ty = Ty::Int { bits: 64, signed: false };
    pub const I64: Ty = Ty::Int { bits: 64, signed: true };
    pub const U32: Ty = Ty::Int { bits: 32, signed: false };

    /// Bytes this type occupies in a key, value or event (8-byte aligned). Integers, booleans
    /// and pointers take 8 bytes whatever their width. Records and arrays would keep their C
    /// layout byte for byte (members not widened), padded to 8, as bpftrace stores them; no
    /// expression has such a type yet, so nothing stores them, and the runtime decodes them
    /// as no value: whoever adds one must also print them.
    pub fn size(&self) -> u32 {
        match self {
            Ty::Int { .. } | Ty::Bool | Ty::Ptr { .. } | Ty::Enum(_) => 8,
            Ty::Record(_) | Ty::Array { .. } => self.c_size().div_ceil(8) * 8,
            Ty::Str(n) => n.div_ceil(8) * 8,
            Ty::Tuple(items) => items.iter().map(Ty::size).sum(),
            Ty::Stack { frames, user, .. } => 8 + 8 * u32::from(*user) + 8 * *frames as u32,
            Ty::Sym { user } => 8 + 8 * u32::from(*user),
            Ty::Time(_) | Ty::Mac | Ty::Named(_) => 8,
            Ty::Inet => 24,
            Ty::Buf(n) => 8 + n.div_ceil(8) * 8,
            Ty::None | Ty::Error => 0,
        }
    }

    /// Bytes this type occupies in C memory (a struct member, an array element, what a
    /// pointer points to): integers their width, a record its size, an array its elements.
    /// Types that C does not have take their [`Ty::size`].
    pub fn c_size(&self) -> u32 {
        match self {
            Ty::Int { bits, .. } => u32::from(*bits) / 8,
            Ty::Enum(e) => u32::from(e.bits) / 8,
            Ty::Bool => 1,
            Ty::Ptr { .. } => 8,
            Ty::Record(record) => record.size,
            Ty::Array { of, len } => of.c_size().saturating_mul(*len),
            Ty::Str(n) => *n,
            other => other.size(),
        }
    }

    /// The type of a record literal `(a = 1, b = "x")` with these fields: a record whose
    /// fields sit where a tuple of the same types has its elements.
    pub fn record_literal(fields: Vec<(String, Ty)>) -> Ty {
        let tys: Vec<Ty> = fields.iter().map(|(_, t)| t.clone()).collect();
        let size = Ty::Tuple(tys.clone()).size();
        let fields = fields
            .into_iter()
            .zip(Ty::tuple_offsets(&tys))
            .map(|((name, ty), off)| Field { name, ty, offset_bits: off * 8, bitfield_size: None })
            .collect();
        Ty::Record(Arc::new(Record {
            name: String::new(),
            kind: RecordKind::Literal,
            size,
            fields: Some(fields),
            btf_id: None,
        }))
    }

    /// Byte offsets of each element of a tuple.
    pub fn tuple_offsets(items: &[Ty]) -> Vec<u32> {
        let mut off = 0;
        items
            .iter()
            .map(|t| {
                let here = off;
                off += t.size();
                here
            })
            .collect()
    }

    /// True for integers, booleans and pointers (which are integers to every rule that
    /// takes one: arithmetic, comparisons, conditions, printf's `%d`, casts, `str()`).
    pub fn is_integer(&self) -> bool {
        matches!(self, Ty::Int { .. } | Ty::Bool | Ty::Ptr { .. } | Ty::Enum(_))
    }

    /// True for pointers.
    pub fn is_pointer(&self) -> bool {
        matches!(self, Ty::Ptr { .. })
    }

    /// Whether arithmetic and comparisons of a `self` and an `other` are signed: as C's usual
    /// conversions on 64-bit values, signed when either is, unless the other is an unsigned
    /// 64-bit value (`uint64`, a pointer), which makes both unsigned. So `$u64 > 0` and
    /// `ptr != 0` hold for an address with its top bit set (a kernel address).
    pub fn signed_with(&self, other: &Ty) -> bool {
        let wide_unsigned =
            |t: &Ty| matches!(t, Ty::Int { bits: 64, signed: false } | Ty::Ptr { .. });
        (self.is_signed() || other.is_signed()) && !wide_unsigned(self) && !wide_unsigned(other)
    }

    /// True for signed integers.
    pub fn is_signed(&self) -> bool {
        matches!(self, Ty::Int { signed: true, .. }) || matches!(self, Ty::Enum(e) if e.signed)
    }

    /// The name users see in messages (bpftrace's spelling).
    pub fn name(&self) -> String {
        match self {
            Ty::Int { bits, signed: true } => format!("int{bits}"),
            Ty::Int { bits, signed: false } => format!("uint{bits}"),
            Ty::Bool => "bool".into(),
            Ty::Str(n) => format!("string[{n}]"),
            Ty::Tuple(items) => {
                format!("({})", items.iter().map(Ty::name).collect::<Vec<_>>().join(", "))
            }
            Ty::Stack { user: false, .. } => "kstack".into(),
            Ty::Stack { user: true, .. } => "ustack".into(),
            Ty::Sym { user: false } => "ksym".into(),
            Ty::Sym { user: true } => "usym".into(),
            Ty::Time(_) => "timestamp".into(),
            Ty::Inet => "inet".into(),
            Ty::Mac => "macaddr".into(),
            Ty::Buf(n) => format!("buffer[{n}]"),
            Ty::Named(table) => table.type_name().into(),
            Ty::Enum(e) => format!("enum {}", e.name),
            Ty::Ptr { to, .. } if **to == Ty::None => "void *".into(),
            Ty::Ptr { to, .. } => format!("{} *", to.name()),
            Ty::Record(record) => record.name(),
            Ty::Array { of, len } => format!("{}[{len}]", of.name()),
            Ty::None => "none".into(),
            Ty::Error => "<error>".into(),
        }
    }

    /// Whether a value of type `other` may be stored where `self` is expected (maps and
    /// variables keep the type of their first assignment; integers widen, strings fit; a
    /// pointer of any type and an integer go where either goes, as they always have; a
    /// record or array takes only its own type).
    pub fn accepts(&self, other: &Ty) -> bool {
        match (self, other) {
            (Ty::Error, _) | (_, Ty::Error) => true,
            (a, b) if a.is_integer() && b.is_integer() => true,
            (Ty::Str(_), Ty::Str(_)) => true,
            (Ty::Tuple(a), Ty::Tuple(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.accepts(y))
            }
            // Records with the same fields in any order: a value is written field by field,
            // into the order of the place it goes to.
            (Ty::Record(a), Ty::Record(b)) if a.kind == RecordKind::Literal && b.kind == a.kind => {
                let (a, b) =
                    (a.fields.as_deref().unwrap_or(&[]), b.fields.as_deref().unwrap_or(&[]));
                a.len() == b.len()
                    && a.iter().all(|x| b.iter().any(|y| x.name == y.name && x.ty.accepts(&y.ty)))
            }
            (a, b) => a == b,
        }
    }

    /// The common type of two types stored in one place (the wider string, the wider int).
    /// Two pointers of one type stay that pointer; a pointer with anything else is the
    /// `uint64` it was before pointers had types (so a mix keeps its old type and output).
    pub fn unify(&self, other: &Ty) -> Ty {
        match (self, other) {
            (Ty::Error, t) | (t, Ty::Error) => t.clone(),
            (Ty::Enum(_), _) | (_, Ty::Enum(_)) if self == other => self.clone(),
            (Ty::Enum(e), _) => e.int().unify(other),
            (_, Ty::Enum(e)) => self.unify(&e.int()),
            (Ty::Ptr { .. }, _) | (_, Ty::Ptr { .. }) if self == other => self.clone(),
            (Ty::Ptr { .. }, _) => Ty::U64.unify(other),
            (_, Ty::Ptr { .. }) => self.unify(&Ty::U64),
            (Ty::Str(a), Ty::Str(b)) => Ty::Str(*a.max(b)),
            (Ty::Tuple(a), Ty::Tuple(b)) if a.len() == b.len() => {
                Ty::Tuple(a.iter().zip(b).map(|(x, y)| x.unify(y)).collect())
            }
            (Ty::Record(a), Ty::Record(b))
                if a.kind == RecordKind::Literal && b.kind == a.kind && self.accepts(other) =>
            {
                let (a, b) =
                    (a.fields.as_deref().unwrap_or(&[]), b.fields.as_deref().unwrap_or(&[]));
                let other = |x: &Field| b.iter().find(|y| y.name == x.name).map(|y| y.ty.clone());
                Ty::record_literal(
                    a.iter()
                        .map(|x| (x.name.clone(), x.ty.unify(&other(x).unwrap_or(Ty::Error))))
                        .collect(),
                )
            }
            (Ty::Int { bits: a, signed: sa }, Ty::Int { bits: b, signed: sb }) => {
                Ty::Int { bits: (*a).max(*b), signed: *sa || *sb }
            }
            (a, _) => a.clone(),
        }
    }
}

/// A C enum's integer type and enumerators.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EnumTy {
    /// The enum's name (empty for an anonymous enum).
    pub name: String,
    pub bits: u8,
    pub signed: bool,
    /// The enumerators, in declaration order.
    pub values: Vec<(String, i64)>,
}

impl EnumTy {
    /// The integer type the enum is to arithmetic and to the generated code.
    pub fn int(&self) -> Ty {
        Ty::Int { bits: self.bits, signed: self.signed }
    }

    /// What `printf("%s")` prints: the first enumerator of value `n`, or `n` when none has it.
    pub fn name_of(&self, n: i64) -> String {
        self.values.iter().find(|(_, v)| *v == n).map_or_else(|| n.to_string(), |(s, _)| s.clone())
    }
}

/// The table a [`Ty::Named`] integer is printed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NameTable {
    /// System call numbers of the machine's architecture (`getppid`).
    Syscall,
    /// Signal numbers (`SIGKILL`).
    Signal,
    /// errno values, as `strerror(3)` describes them.
    Errno,
    /// Cgroup ids, printed as their paths in the mounted cgroup hierarchies whose names
    /// match the glob (`cgroup_path(id, "unified")`; every hierarchy when `None`).
    CgroupPath(Option<&'static str>),
    /// User ids, by their name in `/etc/passwd` (`username`).
    User,
    /// Block device numbers as the block tracepoints give them (`major << 20 | minor`), by
    /// the disk's name (`disk_name`).
    Disk,
    /// The cookie of a uprobe attached with a uprobe_multi link: the runtime numbers the
    /// functions it attaches and names them back (`func` of a uprobe wildcard).
    UprobeFunction,
}

impl NameTable {
    /// The type's name in messages.
    pub fn type_name(self) -> &'static str {
        match self {
            NameTable::Syscall => "syscall_name",
            NameTable::Signal => "signal_name",
            NameTable::Errno => "strerror",
            NameTable::CgroupPath(_) => "cgroup_path",
            NameTable::User => "username",
            NameTable::Disk => "disk_name",
            NameTable::UprobeFunction => "func",
        }
    }
}

/// How a stack prints (bpftrace's `stack_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum StackMode {
    /// `        symbol+offset` per frame.
    #[default]
    Bpftrace,
    /// `\t<address> symbol+offset` per frame (as `perf script`).
    Perf,
    /// `        <address>` per frame.
    Raw,
}

/// Whether a record is a struct or a union.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    Struct,
    Union,
    /// A script's record (named tuple) `(a = 1, b = "x")`: its fields laid out as a tuple's
    /// elements.
    Literal,
}

/// A C struct or union, from the kernel's BTF (or, later, from a script's definitions).
#[derive(Debug, Clone)]
pub struct Record {
    /// The tag without `struct `/`union `; empty for an anonymous record.
    pub name: String,
    pub kind: RecordKind,
    /// Bytes, as C's `sizeof`.
    pub size: u32,
    /// The members in declaration order, or `None` when they are not known here: a record
    /// reached through a pointer (the reader resolves those lazily, by `btf_id`) or a C
    /// forward declaration.
    pub fields: Option<Vec<Field>>,
    /// The BTF type id it was read from, for resolving its fields later.
    pub btf_id: Option<u32>,
}

impl Record {
    /// `struct task_struct`, `union (anonymous)`: bpftrace's spelling.
    pub fn name(&self) -> String {
        let kind = match self.kind {
            RecordKind::Struct => "struct",
            RecordKind::Union => "union",
            RecordKind::Literal => {
                let fields: Vec<String> = (self.fields.as_deref().unwrap_or(&[]).iter())
                    .map(|f| format!("{}={}", f.name, f.ty.name()))
                    .collect();
                return format!("({})", fields.join(", "));
            }
        };
        match self.name.as_str() {
            "" => format!("{kind} (anonymous)"),
            name => format!("{kind} {name}"),
        }
    }

    /// The bytes no member covers (holes between members and tail padding, also inside
    /// nested records), in order: what a read of the record must zero so that two equal
    /// values are one map key. Empty when the fields are not known.
    pub fn padding(&self) -> Vec<u32> {
        let mut covered = vec![false; self.size as usize];
        self.cover(0, &mut covered);
        let holes = covered.iter().enumerate().filter(|(_, c)| !**c);
        holes.map(|(at, _)| at as u32).collect()
    }

    /// Marks the bytes the members cover, this record starting at byte `at`.
    fn cover(&self, at: u32, covered: &mut [bool]) {
        let Some(fields) = &self.fields else {
            covered.iter_mut().skip(at as usize).take(self.size as usize).for_each(|c| *c = true);
            return;
        };
        for field in fields {
            let start = at + field.offset_bits / 8;
            match (&field.ty, field.bitfield_size) {
                (Ty::Record(inner), None) => inner.cover(start, covered),
                (ty, bits) => {
                    let bits = bits.map_or(ty.c_size() * 8, u32::from) + field.offset_bits % 8;
                    let bytes =
                        covered.iter_mut().skip(start as usize).take(bits.div_ceil(8) as usize);
                    bytes.for_each(|c| *c = true);
                }
            }
        }
    }

    /// The member named `name`, if the fields are known (anonymous members are not looked
    /// into).
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.as_ref()?.iter().find(|f| f.name == name)
    }
}

/// Records are the same type when they have the same kind, name and size and, where both
/// are known, the same BTF id (else the same fields): a record seen through a pointer equals
/// the full one.
impl PartialEq for Record {
    fn eq(&self, other: &Record) -> bool {
        let same_origin = match ((self.btf_id, &self.fields), (other.btf_id, &other.fields)) {
            ((Some(a), _), (Some(b), _)) => a == b,
            ((_, Some(a)), (_, Some(b))) => a == b,
            _ => true,
        };
        self.kind == other.kind && self.name == other.name && self.size == other.size && same_origin
    }
}

impl Eq for Record {}

impl std::hash::Hash for Record {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (self.kind, &self.name, self.size).hash(state);
    }
}

/// A member of a record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Field {
    /// Empty for an anonymous struct or union member.
    pub name: String,
    pub ty: Ty,
    /// Bits from the start of the record.
    pub offset_bits: u32,
    /// The width in bits of a bitfield, `None` for an ordinary member.
    pub bitfield_size: Option<u8>,
}

/// The most frames a stack holds (the kernel's default `perf_event_max_stack`).
pub const MAX_STACK_FRAMES: u8 = 127;

/// What a map holds: a plain value, or an aggregation kept per CPU and merged in user space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapValue {
    Plain(Ty),
    Count,
    Sum {
        signed: bool,
    },
    Min {
        signed: bool,
    },
    Max {
        signed: bool,
    },
    Avg {
        signed: bool,
    },
    Stats {
        signed: bool,
    },
    /// `hist(n, k)`: log2 histogram with 2^k buckets per power of two.
    Hist {
        k: u8,
    },
    /// `lhist(n, min, max, step)`.
    Lhist {
        min: i64,
        max: i64,
        step: i64,
    },
    /// `tseries(n, interval_ns, num_intervals[, agg])`: per bucket (`epoch % num_intervals`,
    /// the epoch being CLOCK_TAI / interval) a value, a word whose meaning depends on `agg`
    /// (the time of the last write, the count of an average) and the epoch.
    Tseries {
        interval_ns: u64,
        num_intervals: u32,
        agg: TseriesAgg,
        signed: bool,
    },
}

/// How `tseries()` combines the values of one interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TseriesAgg {
    /// The last value written.
    Last,
    Avg,
    Max,
    Min,
    Sum,
}

impl MapValue {
    /// For a map without a key: the slots of a per-CPU array that can hold it, indexed by
    /// bucket (one slot for `count()`), or `None` when it needs a hash map (sums, min, max,
    /// avg and stats print even when zero, so their presence must be recorded).
    pub fn array_slots(&self) -> Option<u32> {
        match *self {
            MapValue::Count => Some(1),
            // The largest log2 bucket index (see `log2_bucket`) is (65 - k) << k.
            MapValue::Hist { k } => u32::try_from((65u64 - u64::from(k)) << k).ok()?.checked_add(1),
            // Below min, (max - min) / step buckets, at or above max.
            MapValue::Lhist { min, max, step } if step > 0 => {
                u32::try_from((max - min) / step).ok()?.checked_add(2)
            }
            _ => None,
        }
    }

    /// True for aggregations (stored in per-CPU maps).
    pub fn is_aggregate(&self) -> bool {
        !matches!(self, MapValue::Plain(_))
    }

    /// Value bytes per CPU in the kernel map.
    pub fn value_size(&self) -> u32 {
        match self {
            MapValue::Plain(ty) => ty.size().max(8),
            MapValue::Count
            | MapValue::Sum { .. }
            | MapValue::Hist { .. }
            | MapValue::Lhist { .. } => 8,
            MapValue::Min { .. }
            | MapValue::Max { .. }
            | MapValue::Avg { .. }
            | MapValue::Stats { .. } => 16,
            MapValue::Tseries { .. } => 24,
        }
    }

    /// Bytes between two CPUs' copies in a per-CPU lookup (the value rounded up to 8).
    pub fn cpu_stride(&self) -> u32 {
        self.value_size().div_ceil(8) * 8
    }

    /// True when the kernel key carries an extra 8-byte bucket index.
    pub fn has_bucket(&self) -> bool {
        matches!(self, MapValue::Hist { .. } | MapValue::Lhist { .. } | MapValue::Tseries { .. })
    }

    /// The function name that makes this aggregation (for messages).
    pub fn name(&self) -> String {
        match self {
            MapValue::Plain(ty) => ty.name(),
            MapValue::Count => "count".into(),
            MapValue::Sum { .. } => "sum".into(),
            MapValue::Min { .. } => "min".into(),
            MapValue::Max { .. } => "max".into(),
            MapValue::Avg { .. } => "avg".into(),
            MapValue::Stats { .. } => "stats".into(),
            MapValue::Hist { .. } => "hist".into(),
            MapValue::Lhist { .. } => "lhist".into(),
            MapValue::Tseries { .. } => "tseries".into(),
        }
    }

    /// True when two uses of a map agree (same aggregation and parameters).
    pub fn compatible(&self, other: &MapValue) -> bool {
        match (self, other) {
            (MapValue::Plain(a), MapValue::Plain(b)) => a.accepts(b),
            (MapValue::Sum { .. }, MapValue::Sum { .. })
            | (MapValue::Min { .. }, MapValue::Min { .. })
            | (MapValue::Max { .. }, MapValue::Max { .. })
            | (MapValue::Avg { .. }, MapValue::Avg { .. })
            | (MapValue::Stats { .. }, MapValue::Stats { .. }) => true,
            (a, b) => a == b,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{Field, Record, RecordKind, Ty};

    const I32: Ty = Ty::Int { bits: 32, signed: true };

    fn ptr(to: Ty) -> Ty {
        Ty::Ptr { to: Box::new(to), user: false }
    }

    fn task(fields: Option<Vec<Field>>) -> Ty {
        Ty::Record(Arc::new(Record {
            name: "task_struct".into(),
            kind: RecordKind::Struct,
            size: 12,
            fields,
            btf_id: Some(7),
        }))
    }

    fn pid() -> Field {
        Field { name: "pid".into(), ty: I32, offset_bits: 64, bitfield_size: None }
    }

    #[test]
    fn sizes_in_storage_and_in_c() {
        assert_eq!((ptr(I32).size(), ptr(I32).c_size()), (8, 8));
        assert_eq!((I32.size(), I32.c_size()), (8, 4));
        let array = Ty::Array { of: Box::new(I32), len: 3 };
        assert_eq!((array.size(), array.c_size()), (16, 12));
        assert_eq!((task(None).size(), task(None).c_size()), (16, 12));
        let nested = Ty::Array { of: Box::new(task(None)), len: 2 };
        assert_eq!(nested.c_size(), 24);
        assert_eq!(Ty::Tuple(vec![ptr(Ty::None), Ty::Bool]).size(), 16);
    }

    #[test]
    fn names_as_bpftrace_spells_them() {
        assert_eq!(ptr(I32).name(), "int32 *");
        assert_eq!(ptr(ptr(Ty::U64)).name(), "uint64 * *");
        assert_eq!(ptr(Ty::None).name(), "void *");
        assert_eq!(ptr(task(None)).name(), "struct task_struct *");
        assert_eq!(Ty::Array { of: Box::new(I32), len: 4 }.name(), "int32[4]");
        let anonymous = Record {
            name: String::new(),
            kind: RecordKind::Union,
            size: 8,
            fields: Some(vec![]),
            btf_id: None,
        };
        assert_eq!(Ty::Record(Arc::new(anonymous)).name(), "union (anonymous)");
    }

    #[test]
    fn pointers_are_integers_to_every_rule() {
        let p = ptr(I32);
        assert!(p.is_integer() && p.is_pointer() && !p.is_signed());
        assert!(p.accepts(&Ty::I64) && Ty::I64.accepts(&p));
        assert!(p.accepts(&ptr(Ty::U64)));
        assert!(!p.accepts(&Ty::Str(8)));
        // Unified as the uint64 they were: with an integer, the integer rule decides.
        assert_eq!(p.unify(&p), p);
        assert_eq!(p.unify(&Ty::I64), Ty::I64);
        assert_eq!(Ty::U32.unify(&p), Ty::U64);
        assert_eq!(p.unify(&ptr(Ty::U64)), Ty::U64);
        assert_eq!(p.unify(&Ty::Error), p);
        assert_eq!(Ty::Error.unify(&p), p);
        assert_eq!(Ty::Bool.unify(&p), Ty::Bool);
        let tuple = Ty::Tuple(vec![p.clone(), Ty::Str(4)]);
        assert_eq!(tuple.unify(&Ty::Tuple(vec![Ty::I64, Ty::Str(8)])).name(), "(int64, string[8])");
    }

    #[test]
    fn records_and_arrays_take_only_their_own_type() {
        let full = task(Some(vec![pid()]));
        assert_eq!(full, task(None), "a record seen through a pointer is the same type");
        assert!(full.accepts(&task(None)) && !full.accepts(&Ty::U64));
        assert!(!Ty::U64.accepts(&full) && !full.is_integer());
        let array = Ty::Array { of: Box::new(I32), len: 4 };
        assert!(array.accepts(&array.clone()));
        assert!(!array.accepts(&Ty::Array { of: Box::new(I32), len: 5 }));
        assert_eq!(full.unify(&full), full);
        let Ty::Record(record) = &full else { unreachable!() };
        assert_eq!(record.field("pid"), Some(&pid()));
        assert_eq!(record.field("tgid"), None);
    }
}
