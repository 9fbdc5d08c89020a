//! The sandbox every execution of agent-written code runs in (docs/sandbox.md).
//!
//! Agent output is untrusted code. One execution gets: its own session and process group; its
//! own network namespace (only a down loopback); its own mount namespace whose root holds the
//! system's read-only program folders, the interpreter's prefix, a private `/tmp` and the
//! workspace (mounted at [`WORKDIR`]), and nothing else of the host (no store, no task data, no
//! labels); an unprivileged uid of its own, so it can neither signal another execution nor the
//! harness; a memory and process cgroup; CPU-time, file-size and open-file rlimits; a
//! wall-clock limit (SIGTERM to the group, a grace, then SIGKILL to every process of the
//! cgroup); and captured, capped output. Without the kernel features for isolation (not root,
//! no namespaces) [`Sandbox::run`] refuses unless the caller opted in to running unisolated.

mod cgroup;
mod jail;
pub mod job;

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Where the workspace appears inside the sandbox (also the working directory).
pub const WORKDIR: &str = "/mlagent-workspace";

/// What one execution may use.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Wall-clock seconds before SIGTERM to the process group.
    pub wall_seconds: f64,
    /// Seconds between SIGTERM and SIGKILL of every process of the execution.
    pub grace_seconds: f64,
    /// CPU seconds (RLIMIT_CPU, per process).
    pub cpu_seconds: u64,
    /// Resident memory of all the execution's processes together (cgroup).
    pub memory_bytes: u64,
    /// The largest file a process may write (RLIMIT_FSIZE).
    pub file_size_bytes: u64,
    /// Open file descriptors per process (RLIMIT_NOFILE).
    pub open_files: u64,
    /// Processes and threads at once (cgroup `pids.max`; RLIMIT_NPROC of its own uid).
    pub processes: u64,
    /// Bytes of stdout and of stderr kept; more ends the execution.
    pub output_bytes: usize,
    /// Size of the private `/tmp` (a tmpfs, counted in the memory limit).
    pub tmp_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            wall_seconds: 60.0,
            grace_seconds: 2.0,
            cpu_seconds: 120,
            memory_bytes: 2 << 30,
            file_size_bytes: 256 << 20,
            open_files: 256,
            processes: 64,
            output_bytes: 1 << 20,
            tmp_bytes: 64 << 20,
        }
    }
}

impl Limits {
    /// Checks that every limit is a usable positive number; the message names the field.
    pub fn validate(&self) -> Result<(), SandboxError> {
        let bad = |field: &str, message: &str| {
            Err(SandboxError::Limits {
                field: field.into(),
                message: message.into(),
            })
        };
        let secs = |v: f64| v.is_finite() && v > 0.0 && v <= 7.0 * 86_400.0;
        if !secs(self.wall_seconds) {
            return bad("wall_seconds", "expected seconds in (0, 604800]");
        }
        if !(self.grace_seconds.is_finite() && (0.0..=600.0).contains(&self.grace_seconds)) {
            return bad("grace_seconds", "expected seconds in [0, 600]");
        }
        for (field, v, min) in [
            ("cpu_seconds", self.cpu_seconds, 1),
            ("memory_bytes", self.memory_bytes, 16 << 20),
            ("file_size_bytes", self.file_size_bytes, 1),
            ("open_files", self.open_files, 16),
            ("processes", self.processes, 1),
            ("tmp_bytes", self.tmp_bytes, 1 << 20),
        ] {
            if v < min {
                return bad(field, &format!("expected at least {min}"));
            }
        }
        if self.output_bytes == 0 {
            return bad("output_bytes", "expected at least 1");
        }
        Ok(())
    }
}

/// Which limit ended (or shaped) an execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitHit {
    WallClock,
    CpuTime,
    Memory,
    FileSize,
    Processes,
    Output,
}

impl LimitHit {
    /// A sentence for feedback: which limit, and its value.
    pub fn describe(self, limits: &Limits) -> String {
        match self {
            LimitHit::WallClock => format!(
                "the script ran past its wall-clock limit of {} s and was stopped",
                limits.wall_seconds
            ),
            LimitHit::CpuTime => format!(
                "the script used more than its CPU-time limit of {} s and was stopped",
                limits.cpu_seconds
            ),
            LimitHit::Memory => format!(
                "the script used more than its memory limit of {} MiB and was killed",
                limits.memory_bytes >> 20
            ),
            LimitHit::FileSize => format!(
                "the script wrote a file larger than its limit of {} MiB",
                limits.file_size_bytes >> 20
            ),
            LimitHit::Processes => format!(
                "the script tried to run more than {} processes or threads at once",
                limits.processes
            ),
            LimitHit::Output => format!(
                "the script printed more than {} KiB and was stopped",
                limits.output_bytes >> 10
            ),
        }
    }
}

/// What one execution did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    /// The exit status when it exited.
    pub exit_code: Option<i32>,
    /// The signal that ended it when one did.
    pub signal: Option<i32>,
    /// The limit that ended or shaped it, if any.
    pub limit: Option<LimitHit>,
    pub wall_seconds: f64,
    /// User + system seconds of the main process and its waited-for children.
    pub cpu_seconds: f64,
    /// Peak memory of the cgroup, where the kernel reports it.
    pub peak_memory_bytes: Option<u64>,
    /// The first `output_bytes` of each stream, lossily decoded.
    pub stdout: String,
    pub stderr: String,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    /// False only when the caller allowed running without isolation and it was unavailable.
    pub isolated: bool,
}

impl Execution {
    /// Exited with status 0 and hit no limit.
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0) && self.limit.is_none()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("sandbox limits: field `{field}`: {message}")]
    Limits { field: String, message: String },
    #[error(
        "cannot isolate the execution ({reason}); it needs root (or CAP_SYS_ADMIN) and Linux \
         namespaces. Refusing to run agent code unisolated: pass --allow-unisolated to run it \
         with process limits only, on a machine where that is acceptable"
    )]
    NoIsolation { reason: String },
    #[error("sandbox: {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("sandbox: program `{0}` must be an absolute path to an existing file")]
    Program(PathBuf),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> SandboxError {
    let what = what.into();
    move |source| SandboxError::Io { what, source }
}

/// A path as a C string for the child's system calls.
fn c_path(p: &Path) -> Result<std::ffi::CString, SandboxError> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(|_| SandboxError::Io {
        what: format!("path {}", p.display()),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "contains a NUL byte"),
    })
}

/// Whether executions without isolation are acceptable to the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isolation {
    /// Refuse to run when namespaces, cgroups or uid switching are unavailable.
    Required,
    /// Run with a process group and rlimits only when isolation is unavailable.
    AllowUnisolated,
}

/// A configured sandbox: the limits and the host folders the executions may read.
#[derive(Clone, Debug)]
pub struct Sandbox {
    limits: Limits,
    read_only: Vec<PathBuf>,
    isolation: Isolation,
}

/// First uid of the range executions run as; each execution takes its own.
const UID_BASE: u32 = 1_000_000;
static NEXT_SLOT: AtomicU32 = AtomicU32::new(0);

fn next_uid() -> u32 {
    let slot = NEXT_SLOT.fetch_add(1, Ordering::Relaxed) % 1024;
    UID_BASE + (std::process::id() % 4096) * 1024 + slot
}

/// True when `uid` is one the sandbox runs executions as (for leak checks).
pub fn is_sandbox_uid(uid: u32) -> bool {
    (UID_BASE..UID_BASE + 4096 * 1024).contains(&uid)
}

/// The uids this process's executions run as (for leak checks while other processes run
/// sandboxes too).
pub fn uids_of_this_process() -> std::ops::Range<u32> {
    let first = UID_BASE + (std::process::id() % 4096) * 1024;
    first..first + 1024
}

impl Sandbox {
    /// `read_only`: host folders mounted read-only at the same path (an interpreter's prefix,
    /// a virtual environment); the system's program folders are always there.
    pub fn new(
        limits: Limits,
        read_only: Vec<PathBuf>,
        isolation: Isolation,
    ) -> Result<Self, SandboxError> {
        limits.validate()?;
        Ok(Self {
            limits,
            read_only,
            isolation,
        })
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether this machine can isolate executions (why not, if it cannot).
    pub fn isolation_available() -> Result<(), String> {
        jail::available()
    }

    /// Runs `program args` with `workspace` as its working directory ([`WORKDIR`] inside),
    /// the environment cleared to `env` (plus a minimal `PATH`, `HOME`, and the variables
    /// that pin thread counts). The workspace's files are handed to the execution's uid; the
    /// caller reads what it wrote afterwards.
    pub fn run(
        &self,
        workspace: &Path,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
    ) -> Result<Execution, SandboxError> {
        if !program.is_absolute() || !program.exists() {
            return Err(SandboxError::Program(program.to_path_buf()));
        }
        let isolated = match jail::available() {
            Ok(()) => true,
            Err(reason) => match self.isolation {
                Isolation::Required => return Err(SandboxError::NoIsolation { reason }),
                Isolation::AllowUnisolated => false,
            },
        };
        let uid = next_uid();
        let mut guard = if isolated {
            let group = cgroup::Group::create(uid, &self.limits)?;
            let jail = jail::Jail::prepare(workspace, &self.read_only, uid)?;
            Some((group, jail))
        } else {
            None
        };

        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("LANG", "C.UTF-8")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONUNBUFFERED", "1")
            .env("OMP_NUM_THREADS", "1")
            .env("OPENBLAS_NUM_THREADS", "1")
            .env("MKL_NUM_THREADS", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if isolated {
            cmd.env("HOME", WORKDIR).env("TMPDIR", "/tmp");
        } else {
            cmd.env("HOME", workspace).current_dir(workspace);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child_setup = match &guard {
            Some((group, jail)) => jail::ChildSetup::isolated(jail, group, &self.limits, uid)?,
            None => jail::ChildSetup::unisolated(&self.limits),
        };
        // SAFETY: `ChildSetup::apply` makes only async-signal-safe system calls on memory that
        // was allocated before the fork (it allocates nothing), as `pre_exec` requires.
        unsafe {
            cmd.pre_exec(move || child_setup.apply());
        }
        let start = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(io(format!("starting {} in the sandbox", program.display())))?;
        let pid = child.id() as libc::pid_t;
        let overflow = Arc::new(AtomicBool::new(false));
        let cap = self.limits.output_bytes;
        let out = capture(child.stdout.take(), cap, overflow.clone());
        let err = capture(child.stderr.take(), cap, overflow.clone());

        let wall = Duration::from_secs_f64(self.limits.wall_seconds);
        let grace = Duration::from_secs_f64(self.limits.grace_seconds);
        let mut limit = None;
        let mut term_sent: Option<Instant> = None;
        let (status, rusage) = loop {
            if let Some(done) = try_wait(pid)? {
                break done;
            }
            let now = Instant::now();
            if term_sent.is_none() {
                if overflow.load(Ordering::Relaxed) {
                    limit = Some(LimitHit::Output);
                    kill_all(pid, guard.as_ref().map(|g| &g.0));
                    term_sent = Some(now);
                } else if now.duration_since(start) >= wall {
                    limit = Some(LimitHit::WallClock);
                    // SAFETY: signalling a process group we created; no memory involved.
                    unsafe { libc::kill(-pid, libc::SIGTERM) };
                    term_sent = Some(now);
                }
            } else if term_sent.is_some_and(|t| now.duration_since(t) >= grace) {
                kill_all(pid, guard.as_ref().map(|g| &g.0));
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let wall_seconds = start.elapsed().as_secs_f64();
        // Whatever the script left behind (daemons, a process group of its own) dies with it,
        // or its copies of the pipes would keep the readers waiting.
        kill_all(pid, guard.as_ref().map(|g| &g.0));
        let (stdout, stdout_truncated) = out.join().unwrap_or_default();
        let (stderr, stderr_truncated) = err.join().unwrap_or_default();
        let (exit_code, signal) = decode_status(status);
        let cpu_seconds = tv(rusage.ru_utime) + tv(rusage.ru_stime);

        let mut peak_memory_bytes = None;
        if let Some((group, jail)) = guard.take() {
            let stats = group.finish()?;
            peak_memory_bytes = stats.peak_memory_bytes;
            if limit.is_none() {
                if stats.memory_limit_hit {
                    limit = Some(LimitHit::Memory);
                } else if stats.process_limit_hit {
                    limit = Some(LimitHit::Processes);
                }
            }
            jail.remove()?;
        }
        if limit.is_none() {
            limit = match signal {
                Some(libc::SIGXCPU) => Some(LimitHit::CpuTime),
                Some(libc::SIGKILL) if cpu_seconds >= self.limits.cpu_seconds as f64 => {
                    Some(LimitHit::CpuTime)
                }
                // A process that ignores SIGXFSZ (Python does) gets EFBIG instead and fails
                // as its own error; its output is never read as a limit, which a script could fake.
                Some(libc::SIGXFSZ) => Some(LimitHit::FileSize),
                _ => None,
            };
        }
        Ok(Execution {
            exit_code,
            signal,
            limit,
            wall_seconds,
            cpu_seconds,
            peak_memory_bytes,
            stdout,
            stderr,
            stdout_truncated,
            stderr_truncated,
            isolated,
        })
    }
}

/// Reads a pipe to its end, keeping the first `cap` bytes; past them it raises `overflow` and
/// keeps draining so the writer never blocks.
fn capture<R: Read + Send + 'static>(
    pipe: Option<R>,
    cap: usize,
    overflow: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(String, bool)> {
    std::thread::spawn(move || {
        let Some(mut pipe) = pipe else {
            return (String::new(), false);
        };
        let mut kept = Vec::new();
        let mut truncated = false;
        let mut buf = [0u8; 64 * 1024];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let room = cap.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                    if n > room {
                        truncated = true;
                        overflow.store(true, Ordering::Relaxed);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        (String::from_utf8_lossy(&kept).into_owned(), truncated)
    })
}

/// SIGKILL to the execution's process group and to every process of its cgroup, until none is
/// left (a process can fork between two reads of the list; the loop ends when it is empty).
fn kill_all(pid: libc::pid_t, group: Option<&cgroup::Group>) {
    // SAFETY: signalling the process group the child leads; no memory involved.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    if let Some(group) = group {
        group.kill_all();
    }
}

/// `wait4` without blocking: the status and resource usage once the child has exited.
fn try_wait(pid: libc::pid_t) -> Result<Option<(i32, libc::rusage)>, SandboxError> {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut rusage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to live locals of the right types.
    let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut rusage) };
    match r {
        0 => Ok(None),
        r if r == pid => Ok(Some((status, rusage))),
        _ => {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                Ok(None)
            } else {
                Err(io("waiting for the sandboxed process")(e))
            }
        }
    }
}

fn decode_status(status: i32) -> (Option<i32>, Option<i32>) {
    if libc::WIFEXITED(status) {
        (Some(libc::WEXITSTATUS(status)), None)
    } else if libc::WIFSIGNALED(status) {
        (None, Some(libc::WTERMSIG(status)))
    } else {
        (None, None)
    }
}

fn tv(t: libc::timeval) -> f64 {
    t.tv_sec as f64 + t.tv_usec as f64 * 1e-6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_name_the_bad_field() {
        let mut l = Limits::default();
        assert!(l.validate().is_ok());
        l.wall_seconds = f64::NAN;
        let e = l.validate().unwrap_err().to_string();
        assert!(e.contains("wall_seconds"), "{e}");
        let l = Limits {
            memory_bytes: 1,
            ..Limits::default()
        };
        assert!(
            l.validate()
                .unwrap_err()
                .to_string()
                .contains("memory_bytes")
        );
    }

    #[test]
    fn uids_are_in_the_sandbox_range_and_distinct() {
        let a = next_uid();
        let b = next_uid();
        assert_ne!(a, b);
        assert!(is_sandbox_uid(a) && is_sandbox_uid(b));
        assert!(!is_sandbox_uid(0) && !is_sandbox_uid(65534));
    }

    #[test]
    fn a_relative_program_is_refused_before_anything_runs() {
        let sb = Sandbox::new(Limits::default(), vec![], Isolation::AllowUnisolated)
            .expect("default limits are valid");
        let dir = tempfile::tempdir().expect("a temp dir");
        let e = sb
            .run(dir.path(), Path::new("python3"), &[], &[])
            .unwrap_err();
        assert!(matches!(e, SandboxError::Program(_)), "{e}");
    }
}
