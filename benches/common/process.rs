//! Whole-process measurements for benchmarks: wall time and peak resident memory (VmHWM, sampled
//! from /proc every 5 ms until the process exits).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs a command to completion; returns (wall seconds, peak resident MB, exit code).
pub(crate) fn measure(mut cmd: Command) -> (f64, f64, i32) {
    let t = Instant::now();
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start");
    let pid = child.id();
    let mut peak_kb = 0u64;
    loop {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            if let Some(kb) = status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
            {
                peak_kb = peak_kb.max(kb);
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            return (t.elapsed().as_secs_f64(), peak_kb as f64 / 1024.0, status.code().unwrap_or(-1));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
