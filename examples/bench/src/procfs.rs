//! What the suite reads from `/proc`, the kernel's view of this machine (not data of the
//! repository): CPU time of a process and its resident memory, the CPU model and the load
//! average for the results' header. Nothing else in the bench reads `/proc`.

/// Clock ticks per second of `utime`/`stime` in `/proc/PID/stat` (`USER_HZ`, 100 on Linux
/// for every architecture the kernel exports to user space).
pub(crate) const USER_HZ: f64 = 100.0;

/// CPU time (user + system, in clock ticks) of a whole process, all threads, or `None` when
/// `/proc` cannot be read.
pub(crate) fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces: skip past it.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Time a process's main thread spent on a CPU and waiting for one (runnable but not
/// running), in nanoseconds, from `/proc/PID/schedstat`. A server that waits long for a CPU
/// shares its core with other work: its wall-clock rate is then not its own.
pub(crate) fn sched_ns(pid: u32) -> Option<(u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).ok()?;
    let mut f = s.split_whitespace().map(str::parse::<u64>);
    Some((f.next()?.ok()?, f.next()?.ok()?))
}

/// Resident memory (`VmRSS`) of a process in bytes.
pub(crate) fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// CPU times of this process and, optionally, of the server at one instant.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cpu {
    own: Option<u64>,
    server: Option<u64>,
}

impl Cpu {
    /// Reads this process's CPU time and the server's (when its pid is known).
    pub(crate) fn read(server_pid: Option<u32>) -> Self {
        Self {
            own: cpu_ticks("self"),
            server: server_pid.and_then(|p| cpu_ticks(&p.to_string())),
        }
    }

    /// Shares of one core used from `self` to `later` over `secs` seconds: this process's
    /// (`-1` when unreadable) and the server's.
    pub(crate) fn share(&self, later: &Self, secs: f64) -> (f64, Option<f64>) {
        let f = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) if secs > 0.0 => Some(b.saturating_sub(a) as f64 / USER_HZ / secs),
            _ => None,
        };
        (
            f(self.own, later.own).unwrap_or(-1.0),
            f(self.server, later.server),
        )
    }
}

/// The CPU model (`model name` of `/proc/cpuinfo`), or `None` when it cannot be read.
pub(crate) fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
}

/// The one-minute load average (first field of `/proc/loadavg`), or `None`.
pub(crate) fn load_average() -> Option<String> {
    let load = std::fs::read_to_string("/proc/loadavg").ok()?;
    load.split_whitespace().next().map(str::to_owned)
}
