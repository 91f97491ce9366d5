//! Fuzzing on the stable toolchain: a mutator of our own (byte flips, span deletes and
//! copies, splices of two inputs, token-level replacement from a per-target dictionary,
//! interesting integers in binary inputs) over a corpus kept in the repository
//! (`fuzz/corpus/TARGET/`), with a per-input watchdog. No coverage instrumentation (that
//! needs nightly's sanitizer coverage); a cheap feedback instead: an input whose outcome
//! has a signature not seen before (its first diagnostic's message, digits removed) joins
//! the in-memory corpus.
//!
//! Every input must finish without a panic within the target's deadline, and each target
//! checks its own properties (a rejected script has a located error). A failure is saved to
//! `fuzz/crashes/TARGET-HASH` (add it to `fuzz/corpus/TARGET/` with the fix: the corpus is
//! replayed first by every run, so it is the regression test).
//!
//! Adding a target: one file in `src/targets/` defining `pub const TARGET: Target`, one line
//! in the `targets!` list of `src/targets/mod.rs`, one line in `tests/targets.rs`.

pub mod targets;

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One fuzz target.
pub struct Target {
    /// The name the runner and the corpus directory use.
    pub name: &'static str,
    /// Seeds found at run time (the live kernel's BTF, tracefs formats), besides the corpus.
    pub seeds: fn() -> Vec<Vec<u8>>,
    /// Tokens the mutator inserts (keywords, builtins, probe names).
    pub dict: &'static [&'static str],
    /// Whether inputs are text (token mutations) or binary (integer mutations).
    pub binary: bool,
    /// Runs one input: `Ok(signature)` of its outcome, or the property it broke.
    pub run: fn(&[u8]) -> Result<u64, String>,
    /// Longest an input may take, in ms (for a debug build, ten times this).
    pub deadline_ms: u64,
}

/// How long to run.
#[derive(Clone, Copy, Debug)]
pub enum Budget {
    Iterations(u64),
    Seconds(u64),
}

/// What a run found.
#[derive(Debug, Default)]
pub struct Report {
    pub inputs: u64,
    pub elapsed: Duration,
    pub panics: Vec<(PathBuf, String)>,
    pub failures: Vec<(PathBuf, String)>,
    pub slowest: Duration,
    /// Inputs over the deadline once but not when timed again (the machine's stalls).
    pub stalls: u64,
    pub corpus: usize,
}

impl Report {
    pub fn rate(&self) -> f64 {
        self.inputs as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// xorshift64*, seeded: runs are reproducible.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

/// The repository's `fuzz/` directory.
pub fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The committed corpus of `target`, in name order.
pub fn corpus(target: &Target) -> Vec<Vec<u8>> {
    let dir = fuzz_dir().join("corpus").join(target.name);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    paths.sort();
    paths.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

/// FNV-1a, for file names and outcome signatures.
pub fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ *b as u64).wrapping_mul(0x100_0000_01b3))
}

/// A signature of a message: its text without digits (offsets, ids, lengths vary).
pub fn signature(text: &str) -> u64 {
    let kept: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_digit()).take(120).collect();
    hash(&kept)
}

const PUNCT: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "/",
    "\"",
    "'",
    "@",
    "$",
    ";",
    ",",
    ":",
    "::",
    "\\",
    "*",
    "->",
    ".",
    "#",
    "\n",
    " ",
    "é",
    "\0",
    "0",
    "-1",
    "0xffffffffffffffff",
    "18446744073709551616",
    "999999999999",
    "//",
    "/*",
    "*/",
    "\\n",
    "%",
    "..",
    "=",
];

const INTERESTING: &[u64] =
    &[0, 1, 2, 3, 4, 7, 8, 16, 0x7f, 0x80, 0xff, 0xffff, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff];

/// One mutated input from `pool` (the seeds and what the run found).
pub fn mutate(rng: &mut Rng, target: &Target, pool: &[Vec<u8>]) -> Vec<u8> {
    let mut data = pool[rng.below(pool.len())].clone();
    let rounds = 1 + rng.below(if target.binary { 3 } else { 5 });
    for _ in 0..rounds {
        let len = data.len();
        let at = rng.below(len + 1);
        let span = (1 + rng.below(16)).min(len.saturating_sub(at));
        match rng.below(if target.binary { 9 } else { 10 }) {
            0 if len > 0 => {
                data.drain(at..at + span);
            }
            1 if len > 0 => {
                let piece = data[at..at + span].to_vec();
                let to = rng.below(data.len() + 1);
                data.splice(to..to, piece);
            }
            2 if len > 0 && at < len => data[at] ^= 1 << rng.below(8),
            3 if len > 0 && at < len => data[at] = rng.next_u64() as u8,
            4 => {
                // Splice: our head, another input's tail.
                let other = &pool[rng.below(pool.len())];
                let from = rng.below(other.len() + 1);
                data.truncate(at);
                data.extend_from_slice(&other[from..]);
            }
            5 => {
                let p = PUNCT[rng.below(PUNCT.len())];
                data.splice(at..at, p.bytes());
            }
            6 | 7 if !target.dict.is_empty() => {
                let word = target.dict[rng.below(target.dict.len())];
                if target.binary {
                    data.splice(at..at, word.bytes());
                } else {
                    replace_token(rng, &mut data, word);
                }
            }
            8 if target.binary && len >= 4 => {
                // An interesting integer, aligned, at a random place; bias to the front,
                // where headers are.
                let at = if rng.below(2) == 0 { rng.below(len.min(64)) } else { at.min(len - 1) };
                let at = at & !3;
                let value = INTERESTING[rng.below(INTERESTING.len())];
                let value = if rng.below(4) == 0 { value.wrapping_neg() } else { value };
                let width = [1, 2, 4, 8][rng.below(4)].min(len - at);
                let bytes = value.to_le_bytes();
                data[at..at + width].copy_from_slice(&bytes[..width]);
            }
            9 if len > 0 => {
                // Duplicate a line (text): repeats, nested blocks, redefinitions.
                let start = data[..at].iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
                let end = data[at..].iter().position(|b| *b == b'\n').map_or(len, |p| at + p + 1);
                let line = data[start..end].to_vec();
                data.splice(start..start, line);
            }
            _ => {}
        }
    }
    data.truncate(1 << 24);
    data
}

/// Replaces a random identifier-like token of `data` with `word` (or inserts it).
fn replace_token(rng: &mut Rng, data: &mut Vec<u8>, word: &str) {
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let starts: Vec<usize> = (0..data.len())
        .filter(|i| is_word(data[*i]) && (*i == 0 || !is_word(data[i - 1])))
        .collect();
    if starts.is_empty() {
        data.extend_from_slice(word.as_bytes());
        return;
    }
    let start = starts[rng.below(starts.len())];
    let end = (start..data.len()).find(|i| !is_word(data[*i])).unwrap_or(data.len());
    data.splice(start..end, word.bytes());
}

/// Replays the corpus, then runs mutated inputs until `budget` is spent. `seed` makes the
/// run reproducible; `crash_dir` is where failures go (`None`: nowhere, tests).
pub fn run(target: &Target, budget: Budget, seed: u64, crash_dir: Option<&Path>) -> Report {
    let deadline =
        Duration::from_millis(target.deadline_ms * if cfg!(debug_assertions) { 10 } else { 1 });
    let mut pool = corpus(target);
    pool.extend((target.seeds)());
    if pool.is_empty() {
        pool.push(Vec::new());
    }
    let seeds = pool.len();

    // The watchdog: the input running, since when, and whether it is done.
    let current: Arc<Mutex<Vec<u8>>> = Arc::default();
    let started = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let epoch = Instant::now();
    let watchdog = {
        let (current, started, stop) = (current.clone(), started.clone(), stop.clone());
        let crash_dir = crash_dir.map(Path::to_path_buf);
        let name = target.name;
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20));
                let since = started.load(Ordering::Relaxed);
                if since == 0 {
                    continue;
                }
                let running = epoch.elapsed().saturating_sub(Duration::from_nanos(since));
                // A hang: far over the deadline (a slow input that finishes is a failure
                // the main loop reports; this catches the ones that never do).
                if running > deadline * 20 + Duration::from_secs(2) {
                    let input = current.lock().map(|c| c.clone()).unwrap_or_default();
                    let path = save(crash_dir.as_deref(), name, "hang", &input);
                    eprintln!(
                        "bpfscope-fuzz: {name}: an input has run for {running:?} (deadline {deadline:?}): a hang; saved to {}",
                        path.display()
                    );
                    std::process::exit(3);
                }
            }
        })
    };

    let quiet = Arc::new(AtomicBool::new(true));
    let hook = std::panic::take_hook();
    {
        let quiet = quiet.clone();
        std::panic::set_hook(Box::new(move |info| {
            if !quiet.load(Ordering::Relaxed) {
                eprintln!("{info}");
            }
            PANIC.with(|p| *p.borrow_mut() = info.to_string());
        }));
    }

    let mut rng = Rng(seed | 1);
    let mut seen: HashSet<u64> = HashSet::new();
    let mut report = Report::default();
    let begin = Instant::now();
    let mut i: u64 = 0;
    loop {
        match budget {
            Budget::Iterations(n) if i >= n.max(seeds as u64) => break,
            Budget::Seconds(s) if i >= seeds as u64 && begin.elapsed().as_secs() >= s => break,
            _ => {}
        }
        let input = if (i as usize) < seeds {
            pool[i as usize].clone()
        } else {
            mutate(&mut rng, target, &pool)
        };
        i += 1;
        if let Ok(mut c) = current.lock() {
            c.clear();
            c.extend_from_slice(&input);
        }
        if let (Some(dir), true) = (crash_dir, SAVE_CURRENT.load(Ordering::Relaxed)) {
            // For crashes no unwinding catches (a stack overflow aborts the process).
            let _ = std::fs::create_dir_all(dir);
            let _ = std::fs::write(dir.join(format!("{}-current", target.name)), &input);
        }
        let t0 = Instant::now();
        started.store((t0 - epoch).as_nanos().max(1) as u64, Ordering::Relaxed);
        let outcome = catch_unwind(AssertUnwindSafe(|| (target.run)(&input)));
        started.store(0, Ordering::Relaxed);
        let took = t0.elapsed();
        report.slowest = report.slowest.max(took);
        match outcome {
            Err(_) => {
                let message = PANIC.with(|p| p.borrow().clone());
                let path = save(crash_dir, target.name, "panic", &input);
                report.panics.push((path, message));
            }
            Ok(Err(broken)) => {
                let path = save(crash_dir, target.name, "fail", &input);
                report.failures.push((path, broken));
            }
            Ok(Ok(_)) if took > deadline => {
                // Timed again: on a shared machine at `nice 19` the process may simply not
                // have run (a stall); slow twice is the input's doing.
                let again = Instant::now();
                let _ = catch_unwind(AssertUnwindSafe(|| (target.run)(&input)));
                if again.elapsed() > deadline {
                    let path = save(crash_dir, target.name, "slow", &input);
                    let message = format!("took {took:?}, over the {deadline:?} deadline");
                    report.failures.push((path, message));
                } else {
                    report.stalls += 1;
                }
            }
            Ok(Ok(sig)) => {
                if seen.insert(sig) && (i as usize) > seeds && pool.len() < seeds + 4096 {
                    pool.push(input);
                }
            }
        }
        if report.panics.len() + report.failures.len() >= 20 {
            break;
        }
    }
    report.inputs = i;
    report.elapsed = begin.elapsed();
    report.corpus = pool.len();
    stop.store(true, Ordering::Relaxed);
    let _ = watchdog.join();
    quiet.store(false, Ordering::Relaxed);
    drop(std::panic::take_hook());
    std::panic::set_hook(hook);
    report
}

/// Write each input to `crashes/TARGET-current` before running it (`--save-current`): slow,
/// for finding the input of a crash that aborts the process.
pub static SAVE_CURRENT: AtomicBool = AtomicBool::new(false);

thread_local! {
    static PANIC: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

fn save(dir: Option<&Path>, target: &str, what: &str, input: &[u8]) -> PathBuf {
    let Some(dir) = dir else { return PathBuf::from(format!("<{what} not saved>")) };
    let _ = std::fs::create_dir_all(dir);
    let path = dir.join(format!("{target}-{what}-{:016x}", hash(input)));
    let _ = std::fs::write(&path, input);
    path
}

/// The CI slice of one target: `n` inputs (the corpus first), no panic, no failure.
pub fn check(target: &Target, n: u64) {
    let n = std::env::var("BPFSCOPE_FUZZ_INPUTS").ok().and_then(|v| v.parse().ok()).unwrap_or(n);
    let report =
        run(target, Budget::Iterations(n), 0x5eed_f022 ^ hash(target.name.as_bytes()), None);
    let mut problems = String::new();
    for (_, message) in report.panics.iter().chain(&report.failures) {
        problems.push_str(message);
        problems.push('\n');
    }
    assert!(
        report.panics.is_empty() && report.failures.is_empty(),
        "{}: {} panics, {} failures in {} inputs:\n{problems}(run `cargo run --profile fuzz -p bpfscope-fuzz -- {} --iterations {n}` to save them)",
        target.name,
        report.panics.len(),
        report.failures.len(),
        report.inputs,
        target.name
    );
    eprintln!(
        "{}: {} inputs in {:.1?} ({:.0}/s), slowest {:?}, 0 panics",
        target.name,
        report.inputs,
        report.elapsed,
        report.rate(),
        report.slowest
    );
}
