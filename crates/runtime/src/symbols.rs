//! The runtime's [`Symbolizer`]: kernel addresses through `/proc/kallsyms` (module symbols
//! included; see [`crate::kallsyms`] for when it is read for the addresses at hand and when
//! held whole), and user addresses through blazesym, from the ELF symbols (and, when asked,
//! the DWARF line tables) of the files a process maps, or its `/tmp/perf-PID.map` for JIT
//! code.
//! Names are demangled (Rust and C++) unless `config = { cpp_demangle = 0 }`.
//!
//! A process's stacks usually print after it has exited (`-c CMD`, maps printed at exit),
//! when `/proc/PID/maps` is gone. So [`Processes`] captures each process when it is first
//! seen — its executable mappings and an open handle on each mapped file, which keeps even
//! a deleted or replaced file readable — while the trace runs: the session scans the keys of
//! maps that hold user stacks on every poll, and a lookup of a live process captures it too.
//! Addresses are then named against the capture, never against what the pid is now.
//!
//! Nothing is read before the first lookup (the blazesym symbolizer included): a trace
//! without stacks or symbols pays nothing. Each (pid, address) is resolved once.

use std::{
    collections::{HashMap, HashSet},
    fs::File,
    os::{fd::AsRawFd, unix::fs::MetadataExt},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use blazesym::symbolize::{
    source::{Elf, Source},
    Input, Symbolized, Symbolizer as Blaze,
};
use bpfscope_compiler::manifest::SymbolConfig;
use bpfscope_output::Symbolizer;

use crate::kallsyms::{self, Kallsyms};

/// How many times `/proc/kallsyms` is read for the addresses at hand before the whole table
/// is held instead (a trace that keeps naming new addresses).
const KALLSYMS_READINGS: u32 = 3;

/// How many batches of user addresses are named file by file with each file's symbols let
/// go after it (the peak is then one file's, not all of them at once) before blazesym keeps
/// what it has read (a trace that keeps naming new addresses).
const USER_BATCHES: u32 = 3;

/// A name and the offset of an address into it, as resolved once.
struct Named {
    name: Box<str>,
    offset: u64,
    /// `file:line`, when lines were asked for and DWARF has them.
    location: Option<Box<str>>,
}

impl Named {
    fn new(name: &str, offset: u64) -> Named {
        Named { name: name.into(), offset, location: None }
    }
}

/// Names code addresses from the live system and the processes captured during the run.
pub struct Symbols {
    config: SymbolConfig,
    processes: Processes,
    /// Built on the first lookup.
    blaze: Option<Blaze>,
    /// The whole table, read after [`KALLSYMS_READINGS`] readings for the addresses at hand
    /// (or at once when `/proc/kallsyms` cannot be read: `None` inside).
    kallsyms: Option<Option<Kallsyms>>,
    /// Readings of `/proc/kallsyms` for the addresses at hand so far.
    kallsyms_readings: u32,
    /// Batches of user addresses named so far.
    user_batches: u32,
    kernel: HashMap<u64, Option<Named>>,
    user: HashMap<(u32, u64), Option<Named>>,
    /// `/tmp/perf-PID.map` of each process asked about, read once.
    perf_maps: HashMap<u32, Option<PerfMap>>,
}

impl Default for Symbols {
    fn default() -> Self {
        Symbols::new(SymbolConfig::default(), Processes::default())
    }
}

impl Symbols {
    /// A symbolizer that has read nothing yet; it names user addresses through `processes`,
    /// which the session fills while the trace runs.
    pub fn new(config: SymbolConfig, processes: Processes) -> Symbols {
        Symbols {
            config,
            processes,
            blaze: None,
            kallsyms: None,
            kallsyms_readings: 0,
            user_batches: 0,
            kernel: HashMap::new(),
            user: HashMap::new(),
            perf_maps: HashMap::new(),
        }
    }

    fn blaze(&mut self) -> &Blaze {
        let config = self.config;
        self.blaze.get_or_insert_with(|| {
            Blaze::builder()
                .enable_demangling(!config.mangled)
                .enable_code_info(config.lines)
                .enable_inlined_fns(false)
                .enable_auto_reload(false)
                .build()
        })
    }

    /// Names `addrs` (sorted, without repeats, none named yet) into `self.kernel`.
    fn name_kernel(&mut self, addrs: &[u64]) {
        if self.kallsyms.is_none() && self.kallsyms_readings < KALLSYMS_READINGS {
            self.kallsyms_readings += 1;
            if let Some(names) = kallsyms::name_each(addrs) {
                for (&addr, named) in addrs.iter().zip(names) {
                    self.kernel.insert(addr, named.map(|(name, offset)| Named::new(&name, offset)));
                }
                return;
            }
        }
        let table = self.kallsyms.get_or_insert_with(Kallsyms::load).as_ref();
        for &addr in addrs {
            let found = table.and_then(|table| table.find(addr));
            self.kernel.insert(addr, found.map(|(name, offset)| Named::new(name, offset)));
        }
    }

    /// Names `addrs` (none named yet) into `self.user`, a mapped file at a time.
    fn name_user(&mut self, addrs: &[(u32, u64)]) {
        // Each file with its (pid, address, offset in the file)s.
        let mut by_file: HashMap<*const File, (Arc<File>, Vec<Wanted>)> = HashMap::new();
        for &(pid, addr) in addrs {
            let image = self.processes.get(pid, addr);
            let Some(mapping) = image.as_ref().and_then(|image| image.find(addr)) else {
                let named = self.perf_map_name(pid, addr);
                self.user.insert((pid, addr), named);
                continue;
            };
            let (_, wanted) = by_file
                .entry(Arc::as_ptr(&mapping.file))
                .or_insert_with(|| (mapping.file.clone(), Vec::new()));
            wanted.push((pid, addr, addr - mapping.start + mapping.offset));
        }
        let forget = self.user_batches < USER_BATCHES;
        self.user_batches += 1;
        let lines = self.config.lines;
        for (file, wanted) in by_file.into_values() {
            let path = format!("/proc/self/fd/{}", file.as_raw_fd());
            let source = Source::Elf(Elf { debug_syms: lines, ..Elf::new(path) });
            let offsets: Vec<u64> = wanted.iter().map(|&(_, _, offset)| offset).collect();
            let found = self.blaze().symbolize(&source, Input::FileOffset(&offsets));
            let mut names: Vec<Option<Named>> = match found {
                Ok(found) => found.into_iter().map(|s| named(s, lines)).collect(),
                Err(_) => Vec::new(),
            };
            names.resize_with(wanted.len(), || None);
            if forget {
                // The file's symbol tables and mapping go with the symbolizer.
                self.blaze = None;
            }
            for (&(pid, addr, _), named) in wanted.iter().zip(names) {
                let named = named.or_else(|| self.perf_map_name(pid, addr));
                self.user.insert((pid, addr), named);
            }
        }
    }

    /// `addr` named from the process's `/tmp/perf-PID.map` (JIT code), read once.
    fn perf_map_name(&mut self, pid: u32, addr: u64) -> Option<Named> {
        let perf_map = self.perf_maps.entry(pid).or_insert_with(|| PerfMap::read(pid));
        let (name, offset) = perf_map.as_ref()?.find(addr)?;
        Some(Named::new(name, offset))
    }
}

/// A user address to name: (pid, address, offset in its mapped file).
type Wanted = (u32, u64, u64);

/// A blazesym answer as a name, offset and (with `lines`) source location.
fn named(found: Symbolized<'_>, lines: bool) -> Option<Named> {
    let Symbolized::Sym(sym) = found else { return None };
    let location = sym.code_info.as_ref().filter(|_| lines).map(|info| {
        let file = info.to_path();
        match info.line {
            Some(line) => format!("{}:{line}", file.display()).into_boxed_str(),
            None => file.display().to_string().into_boxed_str(),
        }
    });
    Some(Named { name: sym.name.into(), offset: sym.offset as u64, location })
}

impl Symbolizer for Symbols {
    fn kernel(&mut self, addr: u64) -> Option<(&str, u64)> {
        if !self.kernel.contains_key(&addr) {
            self.name_kernel(&[addr]);
        }
        self.kernel[&addr].as_ref().map(|n| (&*n.name, n.offset))
    }

    fn prepare_kernel(&mut self, addrs: &[u64]) {
        let new: Vec<u64> =
            addrs.iter().copied().filter(|a| !self.kernel.contains_key(a)).collect();
        if !new.is_empty() {
            self.name_kernel(&new);
        }
    }

    fn user(&mut self, pid: u32, addr: u64) -> Option<(&str, u64)> {
        if !self.user.contains_key(&(pid, addr)) {
            self.name_user(&[(pid, addr)]);
        }
        self.user[&(pid, addr)].as_ref().map(|n| (&*n.name, n.offset))
    }

    fn prepare_user(&mut self, addrs: &[(u32, u64)]) {
        let new: Vec<(u32, u64)> =
            addrs.iter().copied().filter(|a| !self.user.contains_key(a)).collect();
        if !new.is_empty() {
            self.name_user(&new);
        }
    }

    fn user_location(&mut self, pid: u32, addr: u64) -> Option<&str> {
        self.user(pid, addr)?;
        self.user.get(&(pid, addr))?.as_ref()?.location.as_deref()
    }
}

/// The processes seen in stacks so far, each captured at first sight; shared by the session
/// (which feeds it pids while the trace runs) and the symbolizer (which reads it at print
/// time).
#[derive(Clone, Default)]
pub struct Processes(Arc<Mutex<Captured>>);

#[derive(Default)]
struct Captured {
    /// `None` for a pid that had already gone at first sight.
    images: HashMap<u32, Option<Arc<Image>>>,
    /// Open mapped files by (device, inode): one handle per file, whatever the processes.
    files: HashMap<(u64, u64), Arc<File>>,
    /// (pid, address) pairs that a capture did not cover and that were looked for again.
    looked_for: HashSet<(u32, u64)>,
    /// When each process was last read again.
    recaptured: HashMap<u32, Instant>,
}

/// The least time between two reads of one process's mappings.
const RECAPTURE_EVERY: Duration = Duration::from_millis(50);

impl Processes {
    /// Captures `pid` unless it has been seen already, or again (while it runs) when `addr`
    /// is in none of its captured mappings: a process maps libraries after it starts (the
    /// dynamic loader, `dlopen`). An address is looked for at most once per process.
    pub fn observe(&self, pid: u32, addr: u64) {
        let Ok(mut captured) = self.0.lock() else { return };
        let Captured { images, files, looked_for, recaptured } = &mut *captured;
        if pid == 0 {
            return;
        }
        // Stacks walked without frame pointers end in junk addresses: a process is read
        // again at most every 50 ms, however many of those there are.
        let due = recaptured.get(&pid).is_none_or(|at| at.elapsed() >= RECAPTURE_EVERY);
        let image = match images.get(&pid) {
            None => Image::capture(pid, files),
            Some(Some(image))
                if due && image.find(addr).is_none() && looked_for.insert((pid, addr)) =>
            {
                recaptured.insert(pid, Instant::now());
                match Image::capture(pid, files) {
                    Some(mut fresh) => {
                        // Mappings since removed (`dlclose`) still name older stacks.
                        let old = image.mappings.iter().filter(|m| fresh.find(m.start).is_none());
                        let old: Vec<Mapping> = old.cloned().collect();
                        fresh.mappings.extend(old);
                        Some(fresh)
                    }
                    None => return,
                }
            }
            Some(_) => return,
        };
        images.insert(pid, image.map(Arc::new));
    }

    /// The capture of `pid` that covers `addr` if there is one (captured now if need be).
    fn get(&self, pid: u32, addr: u64) -> Option<Arc<Image>> {
        self.observe(pid, addr);
        self.0.lock().ok()?.images.get(&pid)?.clone()
    }

    /// How many processes have been captured (for tests).
    pub fn len(&self) -> usize {
        self.0.lock().map_or(0, |c| c.images.values().flatten().count())
    }

    /// True when no process has been captured.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The executable file mappings of one process.
struct Image {
    mappings: Vec<Mapping>,
}

#[derive(Clone)]
struct Mapping {
    start: u64,
    end: u64,
    offset: u64,
    file: Arc<File>,
}

impl Image {
    /// Reads `/proc/PID/maps` and opens each executable mapped file through
    /// `/proc/PID/map_files` (the very inode mapped, even when deleted), else by its path.
    fn capture(pid: u32, files: &mut HashMap<(u64, u64), Arc<File>>) -> Option<Image> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
        let mut mappings = Vec::new();
        for line in text.lines() {
            let Some(entry) = MapsLine::parse(line) else { continue };
            let key = (entry.dev, entry.inode);
            let file = match files.get(&key) {
                Some(file) => file.clone(),
                None => {
                    let by_range = format!("/proc/{pid}/map_files/{}", entry.range);
                    let Ok(file) = File::open(by_range).or_else(|_| File::open(entry.path)) else {
                        continue;
                    };
                    // Keyed by what was opened: a path may name a newer file than was mapped.
                    let key = file.metadata().map_or(key, |m| (m.dev(), m.ino()));
                    files.entry(key).or_insert_with(|| Arc::new(file)).clone()
                }
            };
            mappings.push(Mapping {
                start: entry.start,
                end: entry.end,
                offset: entry.offset,
                file,
            });
        }
        Some(Image { mappings })
    }

    fn find(&self, addr: u64) -> Option<&Mapping> {
        self.mappings.iter().find(|m| m.start <= addr && addr < m.end)
    }
}

/// One executable, file-backed line of `/proc/PID/maps`.
struct MapsLine<'a> {
    range: &'a str,
    start: u64,
    end: u64,
    offset: u64,
    dev: u64,
    inode: u64,
    path: &'a str,
}

impl<'a> MapsLine<'a> {
    /// `7f00-7f80 r-xp 00001000 fd:01 1234   /usr/lib/libc.so.6`; `None` for other lines.
    fn parse(line: &'a str) -> Option<MapsLine<'a>> {
        let mut parts = line.split_whitespace();
        let range = parts.next()?;
        let perms = parts.next()?;
        let offset = u64::from_str_radix(parts.next()?, 16).ok()?;
        let (major, minor) = parts.next()?.split_once(':')?;
        let inode: u64 = parts.next()?.parse().ok()?;
        let path = parts.next()?;
        if !perms.contains('x') || !path.starts_with('/') || inode == 0 {
            return None;
        }
        let (start, end) = range.split_once('-')?;
        let dev =
            (u64::from_str_radix(major, 16).ok()? << 32) | u64::from_str_radix(minor, 16).ok()?;
        Some(MapsLine {
            range,
            start: u64::from_str_radix(start, 16).ok()?,
            end: u64::from_str_radix(end, 16).ok()?,
            offset,
            dev,
            inode,
            path,
        })
    }
}

/// A JIT runtime's `/tmp/perf-PID.map`: `START SIZE name` per line, in hex.
struct PerfMap {
    /// (start, size, name), sorted by start.
    entries: Vec<(u64, u64, Box<str>)>,
}

impl PerfMap {
    fn read(pid: u32) -> Option<PerfMap> {
        let text = std::fs::read_to_string(format!("/tmp/perf-{pid}.map")).ok()?;
        Some(PerfMap::parse(&text))
    }

    fn parse(text: &str) -> PerfMap {
        let mut entries: Vec<(u64, u64, Box<str>)> = text
            .lines()
            .filter_map(|line| {
                let mut parts = line.trim().splitn(3, ' ');
                let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok();
                let start = hex(parts.next()?)?;
                let size = hex(parts.next()?)?;
                Some((start, size, parts.next()?.trim().into()))
            })
            .collect();
        entries.sort_by_key(|e| e.0);
        PerfMap { entries }
    }

    /// The entry covering `addr` (the last one written wins where entries overlap).
    fn find(&self, addr: u64) -> Option<(&str, u64)> {
        let index = self.entries.partition_point(|e| e.0 <= addr).checked_sub(1)?;
        let (start, size, name) = &self.entries[index];
        (addr - start < (*size).max(1)).then(|| (&**name, addr - start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn a_function_of_this_test() -> u64 {
        std::hint::black_box(7)
    }

    /// Kernel addresses are named from readings of `/proc/kallsyms` for the addresses at
    /// hand, then, after [`KALLSYMS_READINGS`] of them, from the whole table: the same names.
    #[test]
    fn kernel_names_agree_before_and_after_the_whole_table_is_held() {
        let Some(table) = Kallsyms::load() else {
            eprintln!("SKIPPED: /proc/kallsyms hides its addresses here");
            return;
        };
        let mut stext = None;
        kallsyms::each(|addr, name| {
            if name == "_stext" {
                stext = Some(addr);
            }
        });
        let stext = stext.expect("_stext");
        let mut symbols = Symbols::default();
        let mut last = 0;
        for round in 0..KALLSYMS_READINGS + 2 {
            last = stext + u64::from(round) * 1_000_003;
            symbols.prepare_kernel(&[last]);
            let expected = table.find(last).map(|(n, o)| (n.to_string(), o));
            assert!(expected.is_some());
            let got = symbols.kernel(last).map(|(n, o)| (n.to_string(), o));
            assert_eq!(got, expected, "round {round}");
            let held = symbols.kallsyms.is_some();
            assert_eq!(held, round >= KALLSYMS_READINGS, "round {round}");
        }
        // Named once: asked again, no reading.
        assert!(symbols.kernel(last).is_some());
    }

    /// The test binary itself, captured through its own mappings: a function of ours is
    /// named, demangled, with an offset into it.
    #[test]
    fn names_a_function_of_this_process() {
        std::hint::black_box(a_function_of_this_test());
        let addr = a_function_of_this_test as *const () as u64 + 1;
        let processes = Processes::default();
        let mut symbols = Symbols::new(SymbolConfig::default(), processes.clone());
        let found = symbols.user(std::process::id(), addr).map(|(n, o)| (n.to_string(), o));
        let (name, offset) = found.expect("named");
        assert!(name.ends_with("tests::a_function_of_this_test"), "{name}");
        assert_eq!(offset, 1);
        assert_eq!(processes.len(), 1);
        let mangled = SymbolConfig { mangled: true, lines: false };
        let mut symbols = Symbols::new(mangled, Processes::default());
        let name = symbols.user(std::process::id(), addr).map(|(n, _)| n.to_string());
        assert!(name.as_ref().is_some_and(|n| n.starts_with("_ZN")), "{name:?}");
    }

    #[inline(never)]
    fn another_function_of_this_test() -> u64 {
        std::hint::black_box(9)
    }

    /// A batch of user addresses is named file by file, each file's symbols let go after it,
    /// for the first [`USER_BATCHES`] batches; the names are those of single lookups.
    #[test]
    fn a_batch_of_user_addresses_is_named_as_single_lookups_name_them() {
        std::hint::black_box(another_function_of_this_test());
        let pid = std::process::id();
        let a = a_function_of_this_test as *const () as u64 + 1;
        let b = another_function_of_this_test as *const () as u64 + 2;
        let stranger = 0x10; // in no mapping, no perf map: unnamed
        let mut batch = Symbols::new(SymbolConfig::default(), Processes::default());
        let mut single = Symbols::new(SymbolConfig::default(), Processes::default());
        for round in 0..USER_BATCHES + 1 {
            let addrs = [(pid, a + u64::from(round)), (pid, b), (pid, stranger)];
            batch.prepare_user(&addrs);
            assert_eq!(batch.blaze.is_none(), round < USER_BATCHES, "round {round}");
            for (pid, addr) in addrs {
                let got = batch.user(pid, addr).map(|(n, o)| (n.to_string(), o));
                let want = single.user(pid, addr).map(|(n, o)| (n.to_string(), o));
                assert_eq!(got, want, "{addr:x}");
            }
        }
        let named = batch.user(pid, b).map(|(n, o)| (n.to_string(), o)).expect("named");
        assert!(named.0.ends_with("tests::another_function_of_this_test"), "{named:?}");
        assert_eq!(named.1, 2);
        assert!(batch.user(pid, stranger).is_none());
    }

    #[test]
    fn parses_maps_lines() {
        let line = "7f12a000-7f12b000 r-xp 00001000 fd:01 1234    /usr/lib/libc.so.6";
        let entry = MapsLine::parse(line).unwrap();
        assert_eq!((entry.start, entry.end, entry.offset), (0x7f12a000, 0x7f12b000, 0x1000));
        assert_eq!(
            (entry.dev, entry.inode, entry.path),
            (0xfd_0000_0001, 1234, "/usr/lib/libc.so.6")
        );
        assert!(MapsLine::parse("7f12a000-7f12b000 rw-p 00000000 fd:01 1234 /x").is_none());
        assert!(MapsLine::parse("7f12a000-7f12b000 r-xp 00000000 00:00 0 [vdso]").is_none());
    }

    #[test]
    fn perf_maps_name_jit_ranges() {
        let map =
            PerfMap::parse("1000 100 jitted_fn\n0x2000 0x10 LazyCompile:*foo bar.js:1\nbad\n");
        assert_eq!(map.find(0x1010), Some(("jitted_fn", 0x10)));
        assert_eq!(map.find(0x2004), Some(("LazyCompile:*foo bar.js:1", 4)));
        assert_eq!(map.find(0x1100), None);
        assert_eq!(map.find(0x10), None);
    }
}
