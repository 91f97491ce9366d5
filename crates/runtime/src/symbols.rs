//! The runtime's [`Symbolizer`]: kernel addresses through `/proc/kallsyms`, user addresses
//! through `/proc/PID/maps` and the mapped files' ELF symbols. Each [`Symbols`] reads what
//! it needs on first use and keeps it for the run; a sink owns one (decoding never names
//! anything), and so does the event handler for `cat`/`system` arguments, which are used
//! here rather than printed.

use bpfscope_output::Symbolizer;

use crate::{ksyms::KernelSymbols, usyms::UserSymbols};

/// Names code addresses from the live system, caching what it reads.
#[derive(Default)]
pub struct Symbols {
    /// Read on the first kernel lookup: a trace without `kstack`/`ksym` never reads it.
    kernel: Option<KernelSymbols>,
    user: UserSymbols,
}

impl Symbols {
    /// A symbolizer that has read nothing yet.
    pub fn new() -> Symbols {
        Symbols::default()
    }
}

impl Symbolizer for Symbols {
    fn kernel(&mut self, addr: u64) -> Option<(&str, u64)> {
        self.kernel.get_or_insert_with(KernelSymbols::read).find(addr)
    }

    fn user(&mut self, pid: u32, addr: u64) -> Option<(&str, u64)> {
        self.user.find(pid, addr)
    }
}
