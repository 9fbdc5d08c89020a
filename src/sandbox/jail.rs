//! The file system and identity an execution sees: a root folder holding only read-only binds of
//! the system's program folders and the caller's read-only folders, a few device nodes, private
//! tmpfs `/tmp` and `/dev/shm`, and the workspace at [`WORKDIR`]; its own network, mount, IPC
//! and UTS namespaces; an unprivileged uid; rlimits. Everything the forked child does is
//! prepared here before the fork ([`ChildSetup`]), so the child allocates nothing.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::cgroup::Group;
use super::{Limits, SandboxError, WORKDIR, c_path, io};

/// Host folders every execution reads, at the same path (the interpreter's libraries).
const SYSTEM: [&str; 8] = [
    "/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32", "/etc",
];
/// Device nodes bound into the jail.
const DEVICES: [&str; 5] = [
    "/dev/null",
    "/dev/zero",
    "/dev/random",
    "/dev/urandom",
    "/dev/full",
];

fn c_str(s: &str) -> CString {
    CString::new(s).expect("constant strings of this module contain no NUL")
}

/// Whether executions can be isolated here; the answer is measured once per process by
/// starting a child that enters new namespaces.
pub(super) fn available() -> Result<(), String> {
    static ANSWER: OnceLock<Result<(), String>> = OnceLock::new();
    ANSWER
        .get_or_init(|| {
            // SAFETY: geteuid has no preconditions.
            if unsafe { libc::geteuid() } != 0 {
                return Err("not running as root".into());
            }
            super::cgroup::available()?;
            let mut cmd = std::process::Command::new("/bin/true");
            // SAFETY: unshare is a single async-signal-safe system call.
            unsafe {
                use std::os::unix::process::CommandExt;
                cmd.pre_exec(|| {
                    if libc::unshare(libc::CLONE_NEWNS | libc::CLONE_NEWNET) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            match cmd.status() {
                Ok(s) if s.success() => Ok(()),
                Ok(s) => Err(format!("a probe in new namespaces exited with {s}")),
                Err(e) => Err(format!(
                    "cannot enter new mount and network namespaces: {e}"
                )),
            }
        })
        .clone()
}

/// The jail's root folder on the host: only empty mount points, made by root, mode 755, so
/// the execution's uid can write nowhere in it but the mounted workspace and tmpfs.
pub(super) struct Jail {
    root: tempfile::TempDir,
    /// (source on the host, target under `root`, read-only).
    binds: Vec<(PathBuf, PathBuf, bool)>,
    /// (target under `root`) for a tmpfs each.
    tmpfs: Vec<PathBuf>,
}

impl Jail {
    pub(super) fn prepare(
        workspace: &Path,
        read_only: &[PathBuf],
        uid: u32,
    ) -> Result<Self, SandboxError> {
        let root = tempfile::Builder::new()
            .prefix(&format!("mlagent-jail-{}-", std::process::id()))
            .tempdir()
            .map_err(io("creating the jail's root folder"))?;
        set_mode(root.path(), 0o755)?;
        let inside = |p: &Path| root.path().join(p.strip_prefix("/").unwrap_or(p));
        let mut binds = Vec::new();
        for sys in SYSTEM {
            let p = Path::new(sys);
            let Ok(meta) = std::fs::symlink_metadata(p) else {
                continue;
            };
            if meta.file_type().is_symlink() {
                let to = std::fs::read_link(p).map_err(io(format!("reading link {sys}")))?;
                std::os::unix::fs::symlink(&to, inside(p))
                    .map_err(io(format!("linking {sys} in the jail")))?;
            } else if meta.is_dir() {
                binds.push((p.to_path_buf(), inside(p), true));
            }
        }
        for p in read_only {
            let p = p
                .canonicalize()
                .map_err(io(format!("read-only folder {}", p.display())))?;
            if p.starts_with(WORKDIR) {
                // The workspace is mounted over WORKDIR and would hide it.
                return Err(SandboxError::Io {
                    what: format!("read-only folder {}", p.display()),
                    source: std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!("lies under {WORKDIR}, where the sandbox mounts the workspace"),
                    ),
                });
            }
            if binds.iter().any(|(src, _, _)| p.starts_with(src)) {
                continue;
            }
            binds.push((p.clone(), inside(&p), true));
        }
        for dev in DEVICES {
            let p = Path::new(dev);
            if p.exists() {
                binds.push((p.to_path_buf(), inside(p), false));
            }
        }
        let workspace = workspace
            .canonicalize()
            .map_err(io(format!("workspace {}", workspace.display())))?;
        binds.push((workspace.clone(), inside(Path::new(WORKDIR)), false));
        let tmpfs = vec![inside(Path::new("/tmp")), inside(Path::new("/dev/shm"))];
        for t in &tmpfs {
            mkdirs(root.path(), t)?;
        }
        for (src, target, _) in &binds {
            if tmpfs.iter().any(|t| target.starts_with(t)) {
                // Made by the child once the tmpfs is mounted (`ChildSetup`).
                continue;
            }
            if src.is_dir() {
                mkdirs(root.path(), target)?;
            } else {
                mkdirs(
                    root.path(),
                    target.parent().expect("a device path has a parent"),
                )?;
                std::fs::File::create(target)
                    .map_err(io(format!("creating mount point {}", target.display())))?;
            }
        }
        chown_tree(&workspace, uid)?;
        Ok(Self { root, binds, tmpfs })
    }

    /// Deletes the root folder. The binds lived in the execution's mount namespace, gone with
    /// its last process, so nothing under the folder reaches the host's files any more.
    pub(super) fn remove(self) -> Result<(), SandboxError> {
        let path = self.root.path().to_path_buf();
        self.root
            .close()
            .map_err(io(format!("removing the jail {}", path.display())))
    }
}

fn set_mode(p: &Path, mode: u32) -> Result<(), SandboxError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .map_err(io(format!("setting the mode of {}", p.display())))
}

/// `create_dir_all` below `root`, each new folder mode 755 whatever the umask.
fn mkdirs(root: &Path, target: &Path) -> Result<(), SandboxError> {
    let rel = target.strip_prefix(root).unwrap_or(target);
    let mut cur = root.to_path_buf();
    for part in rel.components() {
        cur.push(part);
        if !cur.exists() {
            std::fs::create_dir(&cur).map_err(io(format!("creating {}", cur.display())))?;
            set_mode(&cur, 0o755)?;
        }
    }
    Ok(())
}

fn chown_tree(p: &Path, uid: u32) -> Result<(), SandboxError> {
    std::os::unix::fs::lchown(p, Some(uid), Some(uid))
        .map_err(io(format!("handing {} to the sandbox's uid", p.display())))?;
    if p.is_dir() {
        for e in std::fs::read_dir(p).map_err(io(format!("reading {}", p.display())))? {
            let e = e.map_err(io(format!("reading {}", p.display())))?;
            chown_tree(&e.path(), uid)?;
        }
    }
    Ok(())
}

/// One step of the child's mount setup.
enum Step {
    Mount(Mount),
    /// A mount point inside a tmpfs the child mounted (an existing folder is fine).
    Mkdir(CString),
}

struct Mount {
    source: Option<CString>,
    target: CString,
    fstype: Option<CString>,
    flags: libc::c_ulong,
    data: Option<CString>,
}

/// Everything the forked child does before `exec`, prebuilt.
pub(super) struct ChildSetup {
    isolated: bool,
    steps: Vec<Step>,
    procs_files: Vec<CString>,
    root: Option<CString>,
    workdir: CString,
    rlimits: Vec<(libc::__rlimit_resource_t, libc::rlim_t)>,
    uid: Option<u32>,
}

impl ChildSetup {
    pub(super) fn isolated(
        jail: &Jail,
        group: &Group,
        limits: &Limits,
        uid: u32,
    ) -> Result<Self, SandboxError> {
        let mut steps = vec![Step::Mount(Mount {
            source: None,
            target: c_str("/"),
            fstype: None,
            flags: libc::MS_REC | libc::MS_PRIVATE,
            data: None,
        })];
        // The tmpfs first: a bind below one (a virtual environment under /tmp) goes on top.
        for t in &jail.tmpfs {
            steps.push(Step::Mount(Mount {
                source: Some(c_str("tmpfs")),
                target: c_path(t)?,
                fstype: Some(c_str("tmpfs")),
                flags: libc::MS_NOSUID | libc::MS_NODEV,
                data: Some(c_str(&format!("size={},mode=1777", limits.tmp_bytes))),
            }));
        }
        for (src, target, read_only) in &jail.binds {
            if let Some(t) = jail.tmpfs.iter().find(|t| target.starts_with(t)) {
                let mut dir = t.clone();
                for part in target.strip_prefix(t).unwrap_or(target).components() {
                    dir.push(part);
                    steps.push(Step::Mkdir(c_path(&dir)?));
                }
            }
            let target = c_path(target)?;
            steps.push(Step::Mount(Mount {
                source: Some(c_path(src)?),
                target: target.clone(),
                fstype: None,
                flags: libc::MS_BIND | libc::MS_REC,
                data: None,
            }));
            if *read_only {
                steps.push(Step::Mount(Mount {
                    source: None,
                    target,
                    fstype: None,
                    flags: libc::MS_BIND
                        | libc::MS_REMOUNT
                        | libc::MS_RDONLY
                        | libc::MS_NOSUID
                        | libc::MS_NODEV,
                    data: None,
                }));
            }
        }
        Ok(Self {
            isolated: true,
            steps,
            procs_files: group.procs_files()?,
            root: Some(c_path(jail.root.path())?),
            workdir: c_str(WORKDIR),
            rlimits: rlimits(limits, false),
            uid: Some(uid),
        })
    }

    pub(super) fn unisolated(limits: &Limits) -> Self {
        Self {
            isolated: false,
            steps: Vec::new(),
            procs_files: Vec::new(),
            root: None,
            workdir: c_str("."),
            rlimits: rlimits(limits, true),
            uid: None,
        }
    }

    /// Runs in the forked child. Only system calls on memory prepared before the fork.
    pub(super) fn apply(&self) -> std::io::Result<()> {
        fn check(r: libc::c_int) -> std::io::Result<()> {
            if r == -1 {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(())
            }
        }
        let opt = |c: &Option<CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
        // SAFETY (whole block): each call is an async-signal-safe system call whose pointer
        // arguments point to NUL-terminated strings owned by `self`, alive for the call.
        unsafe {
            check(libc::setsid())?;
            if self.isolated {
                check(libc::unshare(
                    libc::CLONE_NEWNS
                        | libc::CLONE_NEWNET
                        | libc::CLONE_NEWIPC
                        | libc::CLONE_NEWUTS,
                ))?;
                for step in &self.steps {
                    match step {
                        Step::Mount(m) => check(libc::mount(
                            opt(&m.source),
                            m.target.as_ptr(),
                            opt(&m.fstype),
                            m.flags,
                            opt(&m.data).cast(),
                        ))?,
                        Step::Mkdir(dir) => {
                            if libc::mkdir(dir.as_ptr(), 0o755) != 0
                                && std::io::Error::last_os_error().raw_os_error()
                                    != Some(libc::EEXIST)
                            {
                                return Err(std::io::Error::last_os_error());
                            }
                        }
                    }
                }
                for f in &self.procs_files {
                    let fd = libc::open(f.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                    check(fd)?;
                    let w = libc::write(fd, b"0".as_ptr().cast(), 1);
                    libc::close(fd);
                    if w != 1 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                if let Some(root) = &self.root {
                    check(libc::chroot(root.as_ptr()))?;
                }
                check(libc::chdir(self.workdir.as_ptr()))?;
            }
            for &(resource, value) in &self.rlimits {
                let lim = libc::rlimit {
                    rlim_cur: value,
                    rlim_max: value,
                };
                check(libc::setrlimit(resource, &lim))?;
            }
            if let Some(uid) = self.uid {
                check(libc::setgroups(0, std::ptr::null()))?;
                check(libc::setgid(uid))?;
                check(libc::setuid(uid))?;
            }
            check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))?;
            // After the uid change, which clears it: the execution dies with the harness.
            check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0))?;
        }
        Ok(())
    }
}

fn rlimits(limits: &Limits, address_space: bool) -> Vec<(libc::__rlimit_resource_t, libc::rlim_t)> {
    let mut v = vec![
        (libc::RLIMIT_CPU, limits.cpu_seconds),
        (libc::RLIMIT_FSIZE, limits.file_size_bytes),
        (libc::RLIMIT_NOFILE, limits.open_files),
        (libc::RLIMIT_CORE, 0),
    ];
    if address_space {
        // Without a cgroup the address space is the only memory bound there is (it also
        // counts mappings never touched, so it is looser than it looks).
        v.push((libc::RLIMIT_AS, limits.memory_bytes));
    } else {
        // The execution's uid is its own, so this counts only its processes.
        v.push((libc::RLIMIT_NPROC, limits.processes));
    }
    v
}
