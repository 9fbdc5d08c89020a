//! The memory and process cgroup of one execution (cgroup v1 `memory` + `pids` hierarchies, or
//! the v2 unified tree): limits both, reports the peak and whether a limit was hit, and kills
//! every process in it, which also catches children that left the process group.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Limits, SandboxError, io};

const ROOT: &str = "/sys/fs/cgroup";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

fn version() -> Option<Version> {
    let root = Path::new(ROOT);
    if root.join("cgroup.controllers").exists() {
        Some(Version::V2)
    } else if root.join("memory").is_dir() && root.join("pids").is_dir() {
        Some(Version::V1)
    } else {
        None
    }
}

/// Why this machine cannot give an execution its own cgroup, if it cannot.
pub(super) fn available() -> Result<(), String> {
    match version() {
        Some(Version::V1) => Ok(()),
        Some(Version::V2) => {
            let controllers =
                std::fs::read_to_string(Path::new(ROOT).join("cgroup.subtree_control"))
                    .unwrap_or_default();
            if controllers.contains("memory") && controllers.contains("pids") {
                Ok(())
            } else {
                Err(format!(
                    "the cgroup v2 root {ROOT} does not delegate the memory and pids controllers"
                ))
            }
        }
        None => Err(format!(
            "no cgroup memory and pids controllers under {ROOT}"
        )),
    }
}

/// What the cgroup recorded, read before it is removed.
pub(super) struct Stats {
    pub peak_memory_bytes: Option<u64>,
    pub memory_limit_hit: bool,
    pub process_limit_hit: bool,
}

/// One execution's cgroup folders; removed by [`Group::finish`] (or on drop).
pub(super) struct Group {
    version: Version,
    /// v1: the memory folder then the pids folder; v2: the one folder.
    dirs: Vec<PathBuf>,
    removed: bool,
}

impl Group {
    pub(super) fn create(uid: u32, limits: &Limits) -> Result<Self, SandboxError> {
        let version = version().ok_or_else(|| SandboxError::NoIsolation {
            reason: format!("no cgroup memory and pids controllers under {ROOT}"),
        })?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!("mlagent-sandbox-{uid}-{nanos}");
        let dirs = match version {
            Version::V1 => vec![
                Path::new(ROOT).join("memory").join(&name),
                Path::new(ROOT).join("pids").join(&name),
            ],
            Version::V2 => vec![Path::new(ROOT).join(&name)],
        };
        let group = Self {
            version,
            dirs,
            removed: false,
        };
        for d in &group.dirs {
            std::fs::create_dir(d).map_err(io(format!("creating cgroup {}", d.display())))?;
        }
        let memory = limits.memory_bytes.to_string();
        let pids = limits.processes.to_string();
        match version {
            Version::V1 => {
                write(&group.dirs[0].join("memory.limit_in_bytes"), &memory)?;
                // Where swap accounting is on, swap must not extend the limit.
                let memsw = group.dirs[0].join("memory.memsw.limit_in_bytes");
                if memsw.exists() {
                    write(&memsw, &memory)?;
                }
                write(&group.dirs[1].join("pids.max"), &pids)?;
            }
            Version::V2 => {
                write(&group.dirs[0].join("memory.max"), &memory)?;
                let swap = group.dirs[0].join("memory.swap.max");
                if swap.exists() {
                    write(&swap, "0")?;
                }
                write(&group.dirs[0].join("pids.max"), &pids)?;
            }
        }
        Ok(group)
    }

    /// The `cgroup.procs` files the child writes `0` (itself) to before it drops root.
    pub(super) fn procs_files(&self) -> Result<Vec<CString>, SandboxError> {
        self.dirs
            .iter()
            .map(|d| super::c_path(&d.join("cgroup.procs")))
            .collect()
    }

    fn pids(&self) -> Vec<libc::pid_t> {
        let mut all = Vec::new();
        for d in &self.dirs {
            if let Ok(s) = std::fs::read_to_string(d.join("cgroup.procs")) {
                all.extend(
                    s.lines()
                        .filter_map(|l| l.trim().parse::<libc::pid_t>().ok()),
                );
            }
        }
        all.sort_unstable();
        all.dedup();
        all
    }

    /// SIGKILL to every process in the group until it is empty (bounded: a process that cannot
    /// be killed, which root's SIGKILL rules out, would leave the folder to `finish`'s error).
    pub(super) fn kill_all(&self) {
        for _ in 0..2000 {
            let pids = self.pids();
            if pids.is_empty() {
                return;
            }
            for pid in pids {
                // SAFETY: signalling a pid read from our own cgroup; no memory involved.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    pub(super) fn finish(mut self) -> Result<Stats, SandboxError> {
        self.kill_all();
        let read = |p: PathBuf| std::fs::read_to_string(p).ok();
        let field = |text: &Option<String>, key: &str| -> Option<u64> {
            text.as_deref()?.lines().find_map(|l| {
                let (k, v) = l.split_once(' ')?;
                (k == key).then(|| v.trim().parse().ok()).flatten()
            })
        };
        let stats = match self.version {
            Version::V1 => {
                let oom = read(self.dirs[0].join("memory.oom_control"));
                let failcnt = read(self.dirs[0].join("memory.failcnt"))
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .unwrap_or(0);
                let oom_kills = field(&oom, "oom_kill");
                Stats {
                    peak_memory_bytes: read(self.dirs[0].join("memory.max_usage_in_bytes"))
                        .and_then(|s| s.trim().parse().ok()),
                    memory_limit_hit: oom_kills.map_or(failcnt > 0, |n| n > 0),
                    process_limit_hit: field(&read(self.dirs[1].join("pids.events")), "max")
                        .is_some_and(|n| n > 0),
                }
            }
            Version::V2 => {
                let d = &self.dirs[0];
                Stats {
                    peak_memory_bytes: read(d.join("memory.peak"))
                        .and_then(|s| s.trim().parse().ok()),
                    memory_limit_hit: field(&read(d.join("memory.events")), "oom_kill")
                        .is_some_and(|n| n > 0),
                    process_limit_hit: field(&read(d.join("pids.events")), "max")
                        .is_some_and(|n| n > 0),
                }
            }
        };
        self.remove()?;
        Ok(stats)
    }

    fn remove(&mut self) -> Result<(), SandboxError> {
        if self.removed {
            return Ok(());
        }
        for d in &self.dirs {
            // An emptied cgroup can be busy for a moment while its last task is reaped.
            let mut last = None;
            for _ in 0..200 {
                match std::fs::remove_dir(d) {
                    Ok(()) => {
                        last = None;
                        break;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        last = None;
                        break;
                    }
                    Err(e) => last = Some(e),
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            if let Some(e) = last {
                return Err(io(format!("removing cgroup {}", d.display()))(e));
            }
        }
        self.removed = true;
        Ok(())
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if !self.removed {
            self.kill_all();
            let _ = self.remove();
        }
    }
}

fn write(path: &Path, value: &str) -> Result<(), SandboxError> {
    std::fs::write(path, value).map_err(io(format!("writing {value} to {}", path.display())))
}
