//! A client load in a child process (`ringrpc-perf client-load`,
//! `volo-load`), pinned to one CPU as `taskset` would pin it: run to its
//! end, killed if it overruns, and read back through the one JSON line it
//! prints ([`ClientLine`]). A process of its own gives each client its own
//! allocator, runtime and CPU clock, and leaves nothing of one client's run
//! behind for the next.

use std::io::Read as _;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::client_load::ClientLine;

/// Pins `cmd`'s process to `cpu` before it runs (so every thread it starts
/// inherits the pin), as `taskset -c CPU` would, without needing taskset.
pub fn pin(cmd: &mut Command, cpu: usize) {
    use std::os::unix::process::CommandExt;
    if cpu >= libc::CPU_SETSIZE as usize {
        return;
    }
    // SAFETY: a zeroed `cpu_set_t` is the empty set; `cpu` is below
    // CPU_SETSIZE, so CPU_SET stays inside it.
    let set = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        set
    };
    // SAFETY: between fork and exec the closure only calls
    // sched_setaffinity(2), a plain syscall that is async-signal-safe, on a
    // set built before the fork.
    unsafe {
        cmd.pre_exec(move || {
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// The CPU id of the harness's core number `core` (as the load and server
/// threads count them: the allowed CPUs in order).
pub fn cpu_id(core: usize) -> usize {
    let ids = core_affinity::get_core_ids().unwrap_or_default();
    if ids.is_empty() {
        core
    } else {
        ids[core % ids.len()].id
    }
}

/// Runs a load child to its end (killed after `limit`) and parses the JSON
/// line it printed last. Exit status 2 (a call failed) still has a line.
pub fn run(name: &str, mut cmd: Command, limit: Duration) -> std::io::Result<ClientLine> {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot start {name} ({cmd:?}): {e}"))
    })?;
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| std::io::Error::other("no stdout pipe"))?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let status: ExitStatus = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("{name} did not finish within {limit:?}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = reader
        .join()
        .map_err(|_| std::io::Error::other("stdout reader panicked"))?;
    if !status.success() && status.code() != Some(2) {
        return Err(std::io::Error::other(format!("{name} failed: {status}")));
    }
    parse_line(&out).map_err(|e| std::io::Error::other(format!("{name}: {e}")))
}

/// The last non-empty line of `out`, as a [`ClientLine`].
pub fn parse_line(out: &str) -> Result<ClientLine, String> {
    let line = out
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .ok_or("printed no JSON line")?;
    serde_json::from_str(line).map_err(|e| format!("{e} in {:.200}", line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_line_parses_with_or_without_the_extras() {
        let r = parse_line(
            "noise\n{\"qps\":1000.5,\"p50_us\":10.0,\"p99_us\":20.0,\"p999_us\":30.0,\"errors\":0,\"calls\":5000}\n\n",
        )
        .unwrap();
        assert_eq!((r.calls, r.errors, r.qps), (5000, 0, 1000.5));
        assert_eq!((r.allocs_per_call, r.cpu_us_per_call), (None, None));
        assert!(r.hist.is_empty());
        let r = parse_line(
            "{\"qps\":1,\"p50_us\":1,\"p99_us\":1,\"p999_us\":1,\"errors\":3,\"calls\":1,\"allocs_per_call\":2.5,\"cpu_us_per_call\":4.0,\"hist\":[[1000,2],[2000,1]]}",
        )
        .unwrap();
        assert_eq!(r.allocs_per_call, Some(2.5));
        assert_eq!(r.hist, vec![(1000, 2), (2000, 1)]);
        assert!(parse_line("").is_err());
        assert!(parse_line("{\"qps\":1}").is_err(), "fields are required");
    }

    #[test]
    fn pin_fixes_a_child_to_one_cpu() {
        let cpu = cpu_id(0);
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "grep Cpus_allowed_list /proc/self/status"])
            .stdout(Stdio::piped());
        pin(&mut cmd, cpu);
        let out = cmd.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            text.split(':').nth(1).map(str::trim),
            Some(cpu.to_string().as_str()),
            "{text}"
        );
    }

    #[test]
    fn a_failing_child_is_an_error_and_exit_2_still_has_its_line() {
        let sh = |script: &str| {
            let mut c = Command::new("sh");
            c.args(["-c", script]);
            c
        };
        let line = r#"{"qps":1,"p50_us":1,"p99_us":1,"p999_us":1,"errors":1,"calls":1}"#;
        let r = run(
            "two",
            sh(&format!("echo '{line}'; exit 2")),
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(r.errors, 1);
        assert!(
            run(
                "one",
                sh(&format!("echo '{line}'; exit 1")),
                Duration::from_secs(5)
            )
            .is_err()
        );
        let e = run("slow", sh("sleep 5"), Duration::from_millis(100)).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    }
}
