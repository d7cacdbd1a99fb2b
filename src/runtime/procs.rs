//! Process trees read from `/proc`, and stopping them: TERM, a grace period, then KILL.
//!
//! Processes are identified by pid **and** start time (field 22 of `/proc/<pid>/stat`), so a
//! pid the kernel reused for someone else's process is never signalled.

use std::fs;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

/// What gc needs from `/proc/<pid>/stat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stat {
    /// Process state letter (`R`, `S`, `Z`…).
    pub state: char,
    /// Parent pid.
    pub ppid: u32,
    /// Process group id.
    pub pgrp: u32,
    /// Start time in clock ticks after boot: with the pid, the identity of a process.
    pub start_time: u64,
}

impl Stat {
    /// A zombie has exited; only its parent's `wait` is missing.
    fn is_alive(&self) -> bool {
        self.state != 'Z' && self.state != 'X'
    }
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) is in parentheses and may itself
/// contain spaces and parentheses, so fields are counted from the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(Stat {
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        pgrp: fields.get(2)?.parse().ok()?,
        start_time: fields.get(19)?.parse().ok()?,
    })
}

/// The stat of `pid`, `None` when there is no such process.
pub(crate) fn stat(pid: u32) -> Option<Stat> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Whether the process `pid` that started at `start_time` is still alive (not a zombie, not
/// replaced by another process with the same pid).
pub(crate) fn alive(pid: u32, start_time: u64) -> bool {
    stat(pid).is_some_and(|s| s.is_alive() && s.start_time == start_time)
}

/// Every live process on the machine.
fn snapshot() -> Vec<(u32, Stat)> {
    let Ok(entries) = fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, stat(pid)?)))
        .filter(|(_, stat)| stat.is_alive())
        .collect()
}

/// A process to stop: pid and start time.
pub(crate) type ProcId = (u32, u64);

/// The live processes among `roots`, every live descendant of them, and every live member of
/// the process groups `groups` (which catches children already reparented away from the tree).
pub(crate) fn tree(roots: &[ProcId], groups: &[u32]) -> Vec<ProcId> {
    let all = snapshot();
    let mut found: Vec<ProcId> = all
        .iter()
        .filter(|(pid, stat)| {
            roots.contains(&(*pid, stat.start_time)) || groups.contains(&stat.pgrp)
        })
        .map(|(pid, stat)| (*pid, stat.start_time))
        .collect();
    // Breadth-first over parent links; each round adds the children of the previous one.
    let mut frontier: Vec<u32> = found.iter().map(|(pid, _)| *pid).collect();
    while !frontier.is_empty() {
        let children: Vec<ProcId> = all
            .iter()
            .filter(|(pid, stat)| {
                frontier.contains(&stat.ppid) && !found.iter().any(|(p, _)| p == pid)
            })
            .map(|(pid, stat)| (*pid, stat.start_time))
            .collect();
        frontier = children.iter().map(|(pid, _)| *pid).collect();
        found.extend(children);
    }
    found
}

fn signal(procs: &[ProcId], sig: Signal) {
    for &(pid, start_time) in procs {
        if !alive(pid, start_time) {
            continue;
        }
        if let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
            // It may exit between the check and the signal; ESRCH then is success.
            let _ = rustix::process::kill_process(pid, sig);
        }
    }
}

/// How often a stop checks whether the processes are gone.
const STOP_POLL: Duration = Duration::from_millis(20);

/// How long to wait for SIGKILLed processes to disappear: they cannot resist, this only covers
/// the kernel tearing them down.
const KILL_WAIT: Duration = Duration::from_secs(2);

/// Sends `sig` to everything in the tree until nothing is left or `timeout` passes; returns
/// whether nothing is left. Each poll rescans, so a process forked while the signal was on
/// its way (a launcher that had not yet started its program) gets it too.
fn signal_until_gone(
    known: &mut Vec<ProcId>,
    groups: &[u32],
    sig: Signal,
    timeout: Duration,
) -> bool {
    let deadline = Instant::now() + timeout;
    let mut signalled: Vec<ProcId> = Vec::new();
    loop {
        let live = tree(known, groups);
        if live.is_empty() {
            return true;
        }
        let fresh: Vec<ProcId> = live.into_iter().filter(|p| !signalled.contains(p)).collect();
        signal(&fresh, sig);
        for p in fresh {
            signalled.push(p);
            if !known.contains(&p) {
                known.push(p);
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        std::thread::sleep(STOP_POLL.min(deadline - now));
    }
}

/// Whether `root` or a live descendant of it has one of `names` as its command name (as
/// `/proc/<pid>/comm` holds it: cut to 15 bytes, so longer names compare by their start).
pub fn runs_named(root: u32, names: &[String]) -> bool {
    let Some(start) = stat(root).map(|s| s.start_time) else { return false };
    tree(&[(root, start)], &[]).into_iter().any(|(pid, _)| {
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let comm = comm.trim_end_matches('\n');
        !comm.is_empty()
            && names.iter().any(|name| {
                name.as_bytes().starts_with(comm.as_bytes()) && (comm.len() >= 15 || name == comm)
            })
    })
}

/// Live processes whose environment holds exactly the entry `entry` (`NAME=value`): a
/// session's processes, also those that left its tree and its process group (a daemon a CLI
/// started, reparented to init), as long as they kept the environment they were given.
pub(crate) fn marked(entry: &str) -> Vec<u32> {
    let me = std::process::id();
    snapshot()
        .into_iter()
        .map(|(pid, _)| pid)
        .filter(|pid| *pid != me)
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|e| e == entry.as_bytes()))
        })
        .collect()
}

/// The value of `name` in the environment `pid` started with, when it has one.
pub(crate) fn env_var(pid: u32, name: &str) -> Option<String> {
    let env = fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{name}=");
    env.split(|b| *b == 0)
        .find_map(|e| e.strip_prefix(prefix.as_bytes()))
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// The command line of `pid`, arguments joined by spaces.
pub(crate) fn command_line(pid: u32) -> String {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let parts: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    parts.join(" ")
}

/// Stops the process trees under `roots` and the process groups `groups`: SIGTERM to every
/// process, up to `grace` for all to exit (returning as soon as they have), then SIGKILL to
/// whatever is left, including anything spawned meanwhile.
pub(crate) fn terminate(roots: &[u32], groups: &[u32], grace: Duration) {
    let mut known: Vec<ProcId> =
        roots.iter().filter_map(|&pid| Some((pid, stat(pid)?.start_time))).collect();
    if signal_until_gone(&mut known, groups, Signal::TERM, grace) {
        return;
    }
    signal_until_gone(&mut known, groups, Signal::KILL, KILL_WAIT);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_parses_names_with_parens_and_spaces() {
        let text = "1234 (a) b (c) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 \
                    98765 1000 100 18446744073709551615";
        let stat = parse_stat(text).unwrap();
        assert_eq!(stat, Stat { state: 'S', ppid: 1, pgrp: 1234, start_time: 98765 });
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) S 1"), None);
    }

    #[test]
    fn marked_processes_are_found_by_their_environment() {
        let mark = format!("GC_SESSION_MARK=/test/{}", std::process::id());
        let (name, value) = mark.split_once('=').unwrap();
        let mut child =
            std::process::Command::new("sleep").arg("30").env(name, value).spawn().unwrap();
        // Until the child has exec'd, /proc shows the environment it forked with (no mark).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut found = marked(&mark);
        while found.is_empty() && std::time::Instant::now() < deadline {
            std::thread::yield_now();
            found = marked(&mark);
        }
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(found, [child.id()]);
        assert!(marked(&format!("{mark}x")).is_empty(), "exact entries only");
    }

    #[test]
    fn a_process_is_found_by_its_name_below_a_root() {
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let me = std::process::id();
        // Until the child has exec'd, it carries this test's name.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut found = runs_named(me, &["sleep".to_owned()]);
        while !found && std::time::Instant::now() < deadline {
            std::thread::yield_now();
            found = runs_named(me, &["sleep".to_owned()]);
        }
        let not_found = runs_named(me, &["no-such-name".to_owned()]);
        let _ = child.kill();
        let _ = child.wait();
        assert!(found && !not_found);
    }

    #[test]
    fn own_process_is_alive() {
        let me = std::process::id();
        let stat = stat(me).unwrap();
        assert!(alive(me, stat.start_time));
        assert!(!alive(me, stat.start_time + 1));
        assert!(tree(&[(me, stat.start_time)], &[]).contains(&(me, stat.start_time)));
    }
}
