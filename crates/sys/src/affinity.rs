//! Running code on each CPU in turn, by moving the calling thread: for work whose effect is
//! per CPU, such as filling the kernel's per-CPU caches of map entries.

use crate::{last_error, SysResult};

/// Calls `each(cpu)` with the calling thread on each CPU it may run on, one after another,
/// then gives the thread back the CPUs it had.
pub fn on_each_cpu(mut each: impl FnMut(usize)) -> SysResult<()> {
    // SAFETY: cpu_set_t is plain data; zero is the empty set.
    let mut allowed: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: the kernel writes at most `size` bytes into the live local.
    if unsafe { libc::sched_getaffinity(0, size, &mut allowed) } != 0 {
        return Err(last_error("sched_getaffinity"));
    }
    let mut result = Ok(());
    for cpu in 0..libc::CPU_SETSIZE as usize {
        // SAFETY: `cpu` is below CPU_SETSIZE, the set's size.
        if !unsafe { libc::CPU_ISSET(cpu, &allowed) } {
            continue;
        }
        // SAFETY: as above.
        let mut one: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: `cpu` is below CPU_SETSIZE; `one` is a live local.
        unsafe { libc::CPU_SET(cpu, &mut one) };
        // SAFETY: the kernel reads `size` bytes of the live local.
        if unsafe { libc::sched_setaffinity(0, size, &one) } != 0 {
            // A CPU gone offline since: the others still get their turn.
            result = Err(last_error("sched_setaffinity"));
            continue;
        }
        each(cpu);
    }
    // SAFETY: as above.
    if unsafe { libc::sched_setaffinity(0, size, &allowed) } != 0 {
        return Err(last_error("sched_setaffinity"));
    }
    result
}

#[cfg(test)]
mod tests {
    #[test]
    fn visits_each_allowed_cpu_and_gives_the_thread_its_cpus_back() {
        let before = std::fs::read_to_string("/proc/thread-self/status").unwrap();
        let allowed = |status: &str| {
            status.lines().find(|l| l.starts_with("Cpus_allowed_list:")).unwrap().to_string()
        };
        let mut seen = Vec::new();
        super::on_each_cpu(|cpu| {
            // SAFETY: sched_getcpu has no arguments.
            let now = unsafe { libc::sched_getcpu() };
            seen.push((cpu, now as usize));
        })
        .unwrap();
        assert!(!seen.is_empty());
        assert!(seen.iter().all(|(cpu, now)| cpu == now), "{seen:?}");
        let after = std::fs::read_to_string("/proc/thread-self/status").unwrap();
        assert_eq!(allowed(&before), allowed(&after));
    }
}
