//! Process resident memory and CPU time from `/proc` (Linux); nothing elsewhere.

use std::time::Instant;

/// Linux reports CPU times in `/proc` in clock ticks of `USER_HZ`, 100 on every
/// architecture's user ABI.
const USER_HZ: f64 = 100.0;

/// Resident memory in bytes, from `VmRSS` in `/proc/self/status`.
pub(crate) fn resident_memory_bytes() -> Option<u64> {
    parse_vm_rss(&std::fs::read_to_string("/proc/self/status").ok()?)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut parts = line["VmRSS:".len()..].split_whitespace();
    let value: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") => value.checked_mul(1024),
        _ => None,
    }
}

/// User plus system CPU seconds of every thread, and the process start time in seconds
/// since boot, from `/proc/self/stat`.
fn parse_stat(stat: &str) -> Option<(f64, f64)> {
    // The command name (field 2) is in parentheses and may hold spaces: fields 3 onwards
    // follow the last `)`.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> Option<f64> { fields.get(n - 3)?.parse::<u64>().ok().map(ticks) };
    Some((field(14)? + field(15)?, field(22)?))
}

fn ticks(n: u64) -> f64 {
    n as f64 / USER_HZ
}

/// Measures CPU use as a percentage of one core between two samples.
#[derive(Debug, Default)]
pub(crate) struct CpuMeter {
    last: Option<(Instant, f64)>,
}

impl CpuMeter {
    /// CPU percent since the previous sample; on the first, the average since the process
    /// started.
    pub(crate) fn sample(&mut self) -> Option<f64> {
        let (cpu, started) = parse_stat(&std::fs::read_to_string("/proc/self/stat").ok()?)?;
        let now = Instant::now();
        let percent = match self.last {
            Some((then, cpu_then)) => {
                percent(cpu - cpu_then, now.duration_since(then).as_secs_f64())
            }
            None => {
                let uptime = std::fs::read_to_string("/proc/uptime").ok()?;
                let uptime: f64 = uptime.split_whitespace().next()?.parse().ok()?;
                percent(cpu, uptime - started)
            }
        };
        self.last = Some((now, cpu));
        percent
    }
}

fn percent(cpu_seconds: f64, wall_seconds: f64) -> Option<f64> {
    (wall_seconds > 0.0).then(|| cpu_seconds.max(0.0) / wall_seconds * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_stats_should_parse_proc_files() {
        let status = "Name:\tx\nVmPeak:\t  2000 kB\nVmRSS:\t   1234 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss(status), Some(1234 * 1024));
        assert_eq!(parse_vm_rss("VmRSS: 12 MB\n"), None);
        let stat = "42 (tmc (worker) 1) S 1 42 42 0 -1 4194560 100 0 0 0 250 150 0 0 20 0 3 0 5000 1000 200";
        assert_eq!(parse_stat(stat), Some((4.0, 50.0)));
        assert_eq!(percent(1.5, 3.0), Some(50.0));
        assert_eq!(percent(1.0, 0.0), None);
    }

    #[test]
    fn process_stats_should_read_this_process_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(resident_memory_bytes().unwrap() > 0);
            let mut meter = CpuMeter::default();
            // The first sample divides by the process's age in 10 ms ticks, which can still
            // be 0 right after start: then it is unknown, never negative.
            assert!(meter.sample().is_none_or(|p| p >= 0.0));
            std::thread::sleep(std::time::Duration::from_millis(20));
            assert!(meter.sample().is_some_and(|p| p >= 0.0));
        }
    }
}
