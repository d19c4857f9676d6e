//! Whole-process measurements for benchmarks: wall time and peak resident memory (VmHWM, sampled
//! from /proc every 5 ms until the process exits), of a process alone or with its children.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs a command to completion; returns (wall seconds, peak resident MB, exit code).
#[allow(dead_code)]
pub(crate) fn measure(cmd: Command) -> (f64, f64, i32) {
    let m = measure_tree(cmd);
    (m.wall, m.peak_mb, m.code)
}

/// What `measure_tree` saw.
#[allow(dead_code)]
pub(crate) struct Measured {
    pub(crate) wall: f64,
    /// The command's own peak resident memory.
    pub(crate) peak_mb: f64,
    /// The largest peak of any of its child processes (0 without children).
    pub(crate) child_peak_mb: f64,
    pub(crate) code: i32,
}

fn peak_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok())
}

fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .map(|s| s.split_whitespace().filter_map(|c| c.parse().ok()).collect())
        .unwrap_or_default()
}

/// Runs a command to completion, sampling its peak memory and its children's.
pub(crate) fn measure_tree(mut cmd: Command) -> Measured {
    let t = Instant::now();
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start");
    let pid = child.id();
    let (mut own, mut kids) = (0u64, 0u64);
    loop {
        own = own.max(peak_kb(pid).unwrap_or(0));
        for c in children(pid) {
            kids = kids.max(peak_kb(c).unwrap_or(0));
        }
        if let Some(status) = child.try_wait().unwrap() {
            let mb = |kb: u64| kb as f64 / 1024.0;
            return Measured {
                wall: t.elapsed().as_secs_f64(),
                peak_mb: mb(own),
                child_peak_mb: mb(kids),
                code: status.code().unwrap_or(-1),
            };
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
