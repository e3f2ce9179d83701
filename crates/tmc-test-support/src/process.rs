//! Child processes that cannot outlive their test: each starts in a process group of its
//! own, and dropping its [`Process`] kills the whole group (what it started, too: the
//! operator's rclone syncs, Chromium's renderers) and reaps it.

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdout, Command, ExitStatus, Output};
use std::time::{Duration, Instant};

/// A running child process in its own process group, killed with its group on drop.
#[derive(Debug)]
pub struct Process {
    child: Option<Child>,
    pid: u32,
    /// Whether dropping this kills the group (off for a group handed to a [`Group`]).
    owns_group: bool,
}

impl Process {
    /// Spawns `command` in a new process group; panics, naming `what` and `hint` (such as
    /// the install command), when it cannot start.
    pub fn spawn(command: &mut Command, what: &str, hint: &str) -> Self {
        let child = command
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what} ({e}){hint}"));
        let pid = child.id();
        Self {
            child: Some(child),
            pid,
            owns_group: true,
        }
    }

    /// Its process id (also its process group's).
    pub fn id(&self) -> u32 {
        self.pid
    }

    fn child(&mut self) -> &mut Child {
        self.child
            .as_mut()
            .unwrap_or_else(|| unreachable!("taken only by consuming methods"))
    }

    /// Its standard output, when piped and not yet taken.
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child().stdout.take()
    }

    /// Its exit status, if it has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child()
            .try_wait()
            .unwrap_or_else(|e| panic!("cannot check on process {}: {e}", self.pid))
    }

    /// Sends `signal` to the process alone (not its group).
    pub fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(pid_t(self.pid)), signal)
            .unwrap_or_else(|e| panic!("cannot send {signal} to process {}: {e}", self.pid));
    }

    /// Sends SIGTERM to the process alone.
    pub fn terminate(&self) {
        self.signal(Signal::SIGTERM);
    }

    /// Waits for the process to exit, for at most `within`; panics, naming `what`, if it
    /// does not.
    pub fn wait_within(&mut self, within: Duration, what: &str) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.try_wait() {
                return status;
            }
            assert!(Instant::now() < deadline, "{what} within {within:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the process alone with SIGKILL, as a crash would, and reaps it; what it started
    /// lives on in the returned [`Group`], killed when that is dropped.
    pub fn kill_leaving_group(mut self) -> Group {
        let mut child = self
            .child
            .take()
            .unwrap_or_else(|| unreachable!("present until consumed"));
        self.owns_group = false;
        child
            .kill()
            .unwrap_or_else(|e| panic!("cannot kill process {}: {e}", self.pid));
        child
            .wait()
            .unwrap_or_else(|e| panic!("cannot reap process {}: {e}", self.pid));
        Group { pgid: self.pid }
    }

    /// Waits for the process to exit and collects its piped output (the group is killed
    /// after, as on drop).
    pub fn wait_with_output(mut self) -> Output {
        let child = self
            .child
            .take()
            .unwrap_or_else(|| unreachable!("present until consumed"));
        let output = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("cannot wait for process {}: {e}", self.pid));
        kill_group(self.pid);
        output
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.owns_group {
            kill_group(self.pid);
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The process group of a process killed alone: what it started, killed on drop.
#[derive(Debug)]
pub struct Group {
    pgid: u32,
}

impl Drop for Group {
    fn drop(&mut self) {
        kill_group(self.pgid);
    }
}

fn kill_group(pgid: u32) {
    // ESRCH: the group is empty already.
    let _ = killpg(Pid::from_raw(pid_t(pgid)), Signal::SIGKILL);
}

fn pid_t(pid: u32) -> i32 {
    i32::try_from(pid).unwrap_or_else(|_| unreachable!("Linux process ids fit in an i32"))
}
