//! The types of the language as the compiler sees them, and their byte layout in maps and
//! events. Integers are stored as 8 bytes in keys, values and events whatever their width,
//! which keeps layouts simple and matches what user space prints.

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
    /// No value (statements, `printf`).
    None,
    /// Already reported; stays silent to avoid cascades.
    Error,
}

impl Ty {
    pub const U64: Ty = Ty::Int { bits: 64, signed: false };
    pub const I64: Ty = Ty::Int { bits: 64, signed: true };
    pub const U32: Ty = Ty::Int { bits: 32, signed: false };

    /// Bytes this type occupies in a key, value or event (8-byte aligned).
    pub fn size(&self) -> u32 {
        match self {
            Ty::Int { .. } | Ty::Bool => 8,
            Ty::Str(n) => n.div_ceil(8) * 8,
            Ty::Tuple(items) => items.iter().map(Ty::size).sum(),
            Ty::Stack { frames, user, .. } => 8 + 8 * u32::from(*user) + 8 * *frames as u32,
            Ty::Sym { user } => 8 + 8 * u32::from(*user),
            Ty::Time(_) => 8,
            Ty::None | Ty::Error => 0,
        }
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

    /// True for integers and booleans.
    pub fn is_integer(&self) -> bool {
        matches!(self, Ty::Int { .. } | Ty::Bool)
    }

    /// True for signed integers.
    pub fn is_signed(&self) -> bool {
        matches!(self, Ty::Int { signed: true, .. })
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
            Ty::None => "none".into(),
            Ty::Error => "<error>".into(),
        }
    }

    /// Whether a value of type `other` may be stored where `self` is expected (maps and
    /// variables keep the type of their first assignment; integers widen, strings fit).
    pub fn accepts(&self, other: &Ty) -> bool {
        match (self, other) {
            (Ty::Error, _) | (_, Ty::Error) => true,
            (a, b) if a.is_integer() && b.is_integer() => true,
            (Ty::Str(_), Ty::Str(_)) => true,
            (Ty::Tuple(a), Ty::Tuple(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.accepts(y))
            }
            (a, b) => a == b,
        }
    }

    /// The common type of two types stored in one place (the wider string, the wider int).
    pub fn unify(&self, other: &Ty) -> Ty {
        match (self, other) {
            (Ty::Str(a), Ty::Str(b)) => Ty::Str(*a.max(b)),
            (Ty::Tuple(a), Ty::Tuple(b)) if a.len() == b.len() => {
                Ty::Tuple(a.iter().zip(b).map(|(x, y)| x.unify(y)).collect())
            }
            (Ty::Int { bits: a, signed: sa }, Ty::Int { bits: b, signed: sb }) => {
                Ty::Int { bits: (*a).max(*b), signed: *sa || *sb }
            }
            (Ty::Error, t) | (t, Ty::Error) => t.clone(),
            (a, _) => a.clone(),
        }
    }
}

/// How a stack prints (bpftrace's `stack_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StackMode {
    /// `        symbol+offset` per frame.
    Bpftrace,
    /// `\t<address> symbol+offset` per frame (as `perf script`).
    Perf,
    /// `        <address>` per frame.
    Raw,
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
        }
    }

    /// Bytes between two CPUs' copies in a per-CPU lookup (the value rounded up to 8).
    pub fn cpu_stride(&self) -> u32 {
        self.value_size().div_ceil(8) * 8
    }

    /// True when the kernel key carries an extra 8-byte bucket index.
    pub fn has_bucket(&self) -> bool {
        matches!(self, MapValue::Hist { .. } | MapValue::Lhist { .. })
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
