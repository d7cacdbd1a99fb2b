//! Hearing the moment a session's program exits, instead of polling for it.
//!
//! Each live session's program (tmux's pane process: gc's launcher, which exits with the agent
//! CLI) gets a pidfd, and a task waits for it to become readable, which the kernel makes it
//! when the process exits, whoever killed it. That covers a crash, a kill, `tmux
//! kill-session` (the pane's program gets SIGHUP) and the whole server going away.
//!
//! tmux's own `pane-died` hook was tried first: on tmux 3.3a it did not fire for about one
//! death in ten (the pane showed dead, the hook never ran), so a crash waited for the next
//! resync.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// The watched processes, by pid; `wake` is notified when any of them exits.
#[derive(Debug)]
pub struct ExitWatch {
    wake: Arc<Notify>,
    watching: HashMap<u32, JoinHandle<()>>,
}

impl ExitWatch {
    /// A watch that notifies `wake`.
    pub fn new(wake: Arc<Notify>) -> Self {
        ExitWatch { wake, watching: HashMap::new() }
    }

    /// Watches exactly `pids` from now on (those no longer listed are dropped). Returns
    /// whether a process that exited is still in `pids`: the runtime had not noticed its
    /// exit yet when it was listed, so the caller should list again shortly.
    pub fn track(&mut self, pids: impl IntoIterator<Item = u32>) -> bool {
        let wanted: HashMap<u32, ()> = pids.into_iter().map(|pid| (pid, ())).collect();
        self.watching.retain(|pid, task| {
            let keep = wanted.contains_key(pid);
            if !keep {
                task.abort();
            }
            keep
        });
        let mut exited_but_listed = false;
        for pid in wanted.into_keys() {
            match self.watching.get(&pid) {
                Some(task) => exited_but_listed |= task.is_finished(),
                None => {
                    let task = watch_pid(pid, self.wake.clone());
                    self.watching.insert(pid, task);
                }
            }
        }
        exited_but_listed
    }
}

impl Drop for ExitWatch {
    fn drop(&mut self) {
        for task in self.watching.values() {
            task.abort();
        }
    }
}

/// A task that notifies `wake` once process `pid` has exited (at once when it is already
/// gone or cannot be watched).
fn watch_pid(pid: u32, wake: Arc<Notify>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let fd = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
            .and_then(|pid| {
                rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::NONBLOCK).ok()
            })
            .and_then(|fd| {
                // SAFETY: the AsyncFd owns this OwnedFd, which stays open and the same until
                // the AsyncFd drops it.
                unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.ok()
            });
        if let Some(fd) = fd {
            // Readable means exited; an error also ends the wait (and wakes: look and see).
            let _ = fd.readable().await;
        }
        wake.notify_one();
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn an_exiting_process_wakes_the_watcher_and_a_live_one_does_not() {
        let wake = Arc::new(Notify::new());
        let mut watch = ExitWatch::new(wake.clone());
        let mut short = std::process::Command::new("sleep").arg("0.2").spawn().unwrap();
        let mut long = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        assert!(!watch.track([short.id(), long.id()]));
        tokio::time::timeout(Duration::from_secs(10), wake.notified())
            .await
            .expect("the exit of the short sleep wakes the watcher");
        short.wait().unwrap();
        // Still listed after its exit (as a runtime that has not noticed yet would list it).
        assert!(watch.track([short.id(), long.id()]), "an exited process still listed");
        assert!(!watch.track([long.id()]));
        let quiet = tokio::time::timeout(Duration::from_millis(300), wake.notified()).await;
        assert!(quiet.is_err(), "a live process does not wake the watcher");
        long.kill().unwrap();
        long.wait().unwrap();
        tokio::time::timeout(Duration::from_secs(10), wake.notified())
            .await
            .expect("killing the long sleep wakes the watcher");
    }
}
