//! The machine's CPUs: how many per-CPU values a lookup returns, and where per-CPU perf
//! events go.

/// Number of possible CPUs (the per-CPU value stride count).
pub fn possible_cpus() -> usize {
    cpu_list("/sys/devices/system/cpu/possible").len().max(1)
}

/// Online CPU ids.
pub fn online_cpus() -> Vec<u32> {
    cpu_list("/sys/devices/system/cpu/online")
}

fn cpu_list(path: &str) -> Vec<u32> {
    parse_cpu_list(&std::fs::read_to_string(path).unwrap_or_else(|_| "0".into()))
}

/// Parses the kernel's CPU list format (`0-3,8,10-11`).
fn parse_cpu_list(text: &str) -> Vec<u32> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => cpus.extend(a.parse().unwrap_or(0)..=b.parse().unwrap_or(0)),
            None => cpus.push(part.parse().unwrap_or(0)),
        }
    }
    cpus
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_ranges_and_singles() {
        assert_eq!(super::parse_cpu_list("0-3,8,10-11\n"), [0, 1, 2, 3, 8, 10, 11]);
        assert_eq!(super::parse_cpu_list("0\n"), [0]);
    }
}
