//! A process's CPU time from `/proc/<pid>/task/*/schedstat` (issue 14: the cost measure).
//!
//! The first field of a thread's schedstat is the nanoseconds it has run on a CPU. Summed over
//! every thread of Envoy (main, workers, V8's helpers, the access logger) before and after a
//! load window, it is the CPU Envoy spent in that window; divided by the requests served it is
//! the CPU per request, which stays steady when the machine is shared, unlike requests/s.
//! A thread that exits within the window drops its time from the sum: Envoy's threads live as
//! long as Envoy, so that does not happen during a load run.

use std::path::Path;

/// Nanoseconds every live thread of `pid` has run so far; `None` if the process is gone or
/// `/proc` has no schedstat (a kernel without `CONFIG_SCHED_INFO`).
pub fn process_cpu_ns(pid: u32) -> Option<u64> {
    let tasks = std::fs::read_dir(Path::new("/proc").join(pid.to_string()).join("task")).ok()?;
    let mut total = 0u64;
    let mut seen = 0usize;
    for task in tasks.flatten() {
        // A thread may exit between the listing and the read: skip it.
        let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        total = total.saturating_add(on_cpu_ns(&text)?);
        seen += 1;
    }
    (seen > 0).then_some(total)
}

/// The first field of one schedstat line: time on CPU, nanoseconds.
pub fn on_cpu_ns(schedstat: &str) -> Option<u64> {
    schedstat.split_whitespace().next()?.parse().ok()
}
