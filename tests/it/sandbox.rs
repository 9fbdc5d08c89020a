//! Hostile scripts in the sandbox (src/sandbox/): each comes back as an execution with a clear
//! limit or error while the harness keeps running, and nothing is left behind.
//!
//! Isolation needs root and Linux namespaces. Where the machine lacks them these tests say so
//! and pass; `.ci/run` sets `MLAGENT_REQUIRE_SANDBOX=1`, which turns that into a failure.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use mlagent::sandbox::{Execution, Isolation, LimitHit, Limits, Sandbox};

use crate::support::sandbox_processes;

/// The real interpreter (not a shim) and its prefix, or `None` with the reason printed.
fn python() -> Option<&'static (PathBuf, PathBuf)> {
    static PY: OnceLock<Option<(PathBuf, PathBuf)>> = OnceLock::new();
    PY.get_or_init(|| {
        let out = std::process::Command::new("python3")
            .args([
                "-c",
                "import sys; print(sys.executable); print(sys.base_prefix)",
            ])
            .output()
            .ok()?;
        let text = String::from_utf8(out.stdout).ok()?;
        let mut lines = text.lines();
        let exe = PathBuf::from(lines.next()?);
        let prefix = PathBuf::from(lines.next()?);
        Some((exe.canonicalize().ok()?, prefix.canonicalize().ok()?))
    })
    .as_ref()
}

/// A sandbox for these tests, or `None` (after saying why) where the machine cannot isolate.
fn sandbox(limits: Limits) -> Option<(Sandbox, PathBuf)> {
    let required = std::env::var("MLAGENT_REQUIRE_SANDBOX").is_ok();
    if let Err(why) = Sandbox::isolation_available() {
        assert!(!required, "MLAGENT_REQUIRE_SANDBOX is set but: {why}");
        eprintln!("skipped: the sandbox cannot isolate here: {why}");
        return None;
    }
    let Some((exe, prefix)) = python() else {
        assert!(
            !required,
            "MLAGENT_REQUIRE_SANDBOX is set but python3 is missing"
        );
        eprintln!("skipped: no python3");
        return None;
    };
    let sb = Sandbox::new(limits, vec![prefix.clone()], Isolation::Required)
        .expect("the tests' limits are valid");
    Some((sb, exe.clone()))
}

fn small() -> Limits {
    Limits {
        wall_seconds: 10.0,
        grace_seconds: 0.5,
        cpu_seconds: 10,
        memory_bytes: 256 << 20,
        processes: 32,
        output_bytes: 64 << 10,
        ..Limits::default()
    }
}

/// Runs `script` as `main.py` in a fresh workspace; returns the execution and the workspace.
fn run(sb: &Sandbox, exe: &Path, script: &str) -> (Execution, tempfile::TempDir) {
    let ws = tempfile::tempdir().expect("a temp dir");
    std::fs::write(ws.path().join("main.py"), script).expect("write the script");
    let e = sb
        .run(ws.path(), exe, &["main.py".into()], &[])
        .expect("the harness runs the script");
    (e, ws)
}

#[test]
fn a_plain_script_runs_and_writes_its_workspace() {
    let Some((sb, exe)) = sandbox(small()) else {
        return;
    };
    let (e, ws) = run(
        &sb,
        &exe,
        "import os\nprint('hello', os.getcwd())\nopen('out.txt','w').write('42')\n",
    );
    assert!(e.succeeded(), "{e:?}");
    assert!(e.isolated);
    assert_eq!(e.stdout.trim(), "hello /mlagent-workspace");
    assert_eq!(
        std::fs::read_to_string(ws.path().join("out.txt")).unwrap(),
        "42"
    );
}

#[test]
fn no_network() {
    let Some((sb, exe)) = sandbox(small()) else {
        return;
    };
    // A listener on the host's loopback that the script must not reach.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().unwrap().port();
    let script = format!(
        "import socket\nfor host in ['127.0.0.1', '1.1.1.1']:\n    try:\n        \
         socket.create_connection((host, {port}), timeout=2)\n        print('CONNECTED', host)\n    \
         except OSError as e:\n        print('refused', host, e.errno)\n"
    );
    let (e, _ws) = run(&sb, &exe, &script);
    assert!(e.succeeded(), "{e:?}");
    assert!(!e.stdout.contains("CONNECTED"), "{}", e.stdout);
    assert_eq!(e.stdout.matches("refused").count(), 2, "{}", e.stdout);
}

#[test]
fn a_memory_hog_is_killed_at_the_memory_limit() {
    let Some((sb, exe)) = sandbox(small()) else {
        return;
    };
    let (e, _ws) = run(&sb, &exe, "x = bytearray(1 << 30)\nprint('survived')\n");
    assert_eq!(e.limit, Some(LimitHit::Memory), "{e:?}");
    assert!(!e.stdout.contains("survived"));
    let msg = LimitHit::Memory.describe(sb.limits());
    assert!(msg.contains("memory limit of 256 MiB"), "{msg}");
}

#[test]
fn an_infinite_loop_is_stopped_at_the_wall_clock_limit() {
    let Some((sb, exe)) = sandbox(Limits {
        wall_seconds: 1.5,
        ..small()
    }) else {
        return;
    };
    let t = std::time::Instant::now();
    let (e, _ws) = run(
        &sb,
        &exe,
        "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True: pass\n",
    );
    assert_eq!(e.limit, Some(LimitHit::WallClock), "{e:?}");
    assert_eq!(
        e.signal,
        Some(libc::SIGKILL),
        "SIGTERM ignored, so SIGKILL after the grace"
    );
    assert!(t.elapsed().as_secs_f64() < 5.0, "{:?}", t.elapsed());
}

#[test]
fn a_fork_bomb_hits_the_process_limit_and_leaves_nothing() {
    let Some((sb, exe)) = sandbox(Limits {
        wall_seconds: 5.0,
        ..small()
    }) else {
        return;
    };
    let (e, _ws) = run(
        &sb,
        &exe,
        "import os, time\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        time.sleep(0.01)\n",
    );
    assert!(
        matches!(e.limit, Some(LimitHit::Processes | LimitHit::WallClock)),
        "{e:?}"
    );
    let left = sandbox_processes();
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

#[test]
fn writes_outside_the_workspace_fail_and_tmp_is_private() {
    let Some((sb, exe)) = sandbox(small()) else {
        return;
    };
    let script = "import os\nfor p in ['/etc/escape', '/usr/escape', '/escape', '/mlagent-workspace/../escape']:\n    \
                  try:\n        open(p, 'w').write('x')\n        print('WROTE', p)\n    \
                  except OSError as e:\n        print('denied', p, e.errno)\n\
                  open('/tmp/mlagent-escape-probe', 'w').write('private')\nprint('tmp ok')\n";
    let (e, _ws) = run(&sb, &exe, script);
    assert!(e.succeeded(), "{e:?}");
    assert!(!e.stdout.contains("WROTE"), "{}", e.stdout);
    assert_eq!(e.stdout.matches("denied").count(), 4, "{}", e.stdout);
    assert!(e.stdout.contains("tmp ok"));
    for p in ["/etc/escape", "/usr/escape", "/escape"] {
        assert!(!Path::new(p).exists(), "{p} appeared on the host");
    }
    assert!(!Path::new("/tmp/mlagent-escape-probe").exists());
}

#[test]
fn private_answers_and_the_harness_are_out_of_sight() {
    let Some((sb, exe)) = sandbox(small()) else {
        return;
    };
    let private = tempfile::tempdir().expect("a temp dir");
    let answers = private.path().join("answers.csv");
    std::fs::write(&answers, "id,label\n1,secret\n").unwrap();
    let store = std::env::current_dir().unwrap();
    let script = format!(
        "import os\nfor p in [{a:?}, {s:?}, '/proc/1/root/etc/hostname', '/root/.cargo']:\n    \
         try:\n        print('READ', p, os.listdir(p) if os.path.isdir(p) else open(p).read())\n    \
         except OSError as e:\n        print('hidden', p, e.errno)\n",
        a = answers.display().to_string(),
        s = store.join("Cargo.toml").display().to_string(),
    );
    let (e, _ws) = run(&sb, &exe, &script);
    assert!(e.succeeded(), "{e:?}");
    assert!(
        !e.stdout.contains("secret") && !e.stdout.contains("READ"),
        "{}",
        e.stdout
    );
    assert_eq!(e.stdout.matches("hidden").count(), 4, "{}", e.stdout);
}

#[test]
fn a_gigabyte_of_stdout_is_capped_and_stopped() {
    let Some((sb, exe)) = sandbox(small()) else {
        return;
    };
    let t = std::time::Instant::now();
    let (e, _ws) = run(
        &sb,
        &exe,
        "import sys\nchunk = b'x' * (1 << 20)\nfor _ in range(1024): sys.stdout.buffer.write(chunk)\n",
    );
    assert_eq!(e.limit, Some(LimitHit::Output), "{:?}", e.limit);
    assert!(e.stdout_truncated);
    assert_eq!(e.stdout.len(), sb.limits().output_bytes);
    assert!(t.elapsed().as_secs_f64() < 8.0, "{:?}", t.elapsed());
}

#[test]
fn a_script_cannot_kill_the_harness_or_its_group() {
    let Some((sb, exe)) = sandbox(small()) else {
        return;
    };
    let script = "import os, signal\nfor f in [lambda: os.killpg(os.getpgid(os.getppid()), signal.SIGKILL),\n          \
                  lambda: os.kill(os.getppid(), signal.SIGKILL),\n          lambda: os.kill(-1, signal.SIGKILL)]:\n    \
                  try:\n        f()\n    except OSError as e:\n        print('refused', e.errno)\n";
    let (e, _ws) = run(&sb, &exe, script);
    // kill(-1) reaches only the script's own uid, i.e. itself: it may die by it.
    assert!(e.succeeded() || e.signal == Some(libc::SIGKILL), "{e:?}");
    assert!(e.stdout.matches("refused").count() >= 2, "{}", e.stdout);
    // We are still here, and so is our process group.
}

#[test]
fn daemons_that_leave_the_group_die_with_the_execution() {
    let Some((sb, exe)) = sandbox(small()) else {
        return;
    };
    let script = "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        \
                  time.sleep(60)\n    os._exit(0)\nprint('parent done')\n";
    let t = std::time::Instant::now();
    let (e, _ws) = run(&sb, &exe, script);
    assert!(e.succeeded(), "{e:?}");
    assert!(
        t.elapsed().as_secs_f64() < 5.0,
        "waited for the daemon: {:?}",
        t.elapsed()
    );
    assert!(sandbox_processes().is_empty());
}

#[test]
fn two_hundred_executions_fifty_at_once_leave_nothing_behind() {
    let Some((sb, exe)) = sandbox(small()) else {
        return;
    };
    let fds = || std::fs::read_dir("/proc/self/fd").unwrap().count();
    let jails = || {
        std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("mlagent-jail-{}-", std::process::id()))
            })
            .count()
    };
    let (fds_before, jails_before) = (fds(), jails());
    let sb = std::sync::Arc::new(sb);
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..50)
        .map(|_| {
            let (sb, exe, next) = (sb.clone(), exe.clone(), next.clone());
            std::thread::spawn(move || {
                let mut ok = 0;
                while next.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 200 {
                    let (e, _ws) = run(&sb, &exe, "print(sum(range(1000)))\n");
                    assert!(e.succeeded() && e.stdout.trim() == "499500", "{e:?}");
                    ok += 1;
                }
                ok
            })
        })
        .collect();
    let done: usize = workers
        .into_iter()
        .map(|w| w.join().expect("a worker"))
        .sum();
    assert_eq!(done, 200);
    assert!(sandbox_processes().is_empty(), "{:?}", sandbox_processes());
    assert_eq!(jails(), jails_before, "jail folders left behind");
    assert_eq!(fds(), fds_before, "file descriptors left open");
}
