//! Python tasks through the binary, as a user runs them: `mlagent env execute --task ID
//! --script FILE` runs a real scikit-learn script in the sandbox and prints one JSON feedback
//! object; `mlagent tasks list --json` names each task's environment.
//!
//! Needs an interpreter with numpy and scikit-learn (`$MLAGENT_PYTHON`, which `.ci/run` points
//! at its venv; python/requirements-test.txt) and a machine that can isolate. Elsewhere these
//! tests say what is missing and pass, unless `MLAGENT_REQUIRE_SANDBOX` is set (CI).

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// The interpreter to use, or `None` (after saying why) where these tests cannot run.
pub(crate) fn python() -> Option<String> {
    let required = std::env::var("MLAGENT_REQUIRE_SANDBOX").is_ok();
    if let Err(why) = mlagent::sandbox::Sandbox::isolation_available() {
        assert!(!required, "MLAGENT_REQUIRE_SANDBOX is set but: {why}");
        eprintln!("skipped: the sandbox cannot isolate here: {why}");
        return None;
    }
    let python = std::env::var("MLAGENT_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", "import numpy, sklearn"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            !required,
            "MLAGENT_REQUIRE_SANDBOX is set but `{python}` lacks numpy or scikit-learn"
        );
        eprintln!("skipped: `{python}` lacks numpy or scikit-learn");
        return None;
    }
    Some(python)
}

/// The Python tasks of `tasks/python/` and an environment over them with `python`, fully
/// isolated.
fn python_env(
    python: &str,
) -> (
    Vec<mlagent::tasks::python::PythonTask>,
    mlagent::env::python::PythonEnv,
) {
    let reg = mlagent::tasks::Registry::load_default().expect("tasks/ loads");
    let tasks = mlagent::tasks::python::load_all(&mlagent::tasks::python::default_root())
        .expect("tasks/python loads");
    let env = mlagent::env::python::PythonEnv::new(
        reg.data.clone(),
        mlagent::env::python::Interpreter::find(python).expect("the interpreter"),
        mlagent::sandbox::Isolation::Required,
    );
    (tasks, env)
}

/// The task `id` of `tasks`.
fn task<'t>(
    tasks: &'t [mlagent::tasks::python::PythonTask],
    id: &str,
) -> &'t mlagent::tasks::python::PythonTask {
    tasks
        .iter()
        .find(|t| t.spec.id == id)
        .unwrap_or_else(|| panic!("the task {id}"))
}

fn execute(python: &str, task: &str, script: &str) -> Value {
    execute_with(python, task, script, &[])
}

fn execute_with(python: &str, task: &str, script: &str, extra: &[&str]) -> Value {
    env_command(python, "execute", task, "--script", script, extra)
}

/// `mlagent env SUB --task TASK FLAG <file holding text> --python PYTHON EXTRA…` as one JSON object.
fn env_command(
    python: &str,
    sub: &str,
    task: &str,
    flag: &str,
    text: &str,
    extra: &[&str],
) -> Value {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("input.txt");
    std::fs::write(&path, text).expect("write the input file");
    let o = Command::new(env!("CARGO_BIN_EXE_mlagent"))
        .args(["env", sub, "--task", task, flag])
        .arg(&path)
        .args(["--python", python])
        .args(extra)
        .output()
        .expect("run mlagent");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("one JSON object")
}

fn starter(task: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tasks/python")
        .join(task)
        .join("train.py");
    std::fs::read_to_string(p).expect("the starter")
}

#[test]
fn tasks_list_names_each_tasks_environment() {
    let o = Command::new(env!("CARGO_BIN_EXE_mlagent"))
        .args(["tasks", "list", "--json"])
        .output()
        .expect("run mlagent");
    assert!(o.status.success());
    let rows: Vec<Value> = serde_json::from_slice(&o.stdout).expect("a JSON array");
    let env_of = |id: &str| {
        rows.iter()
            .find(|r| r["id"] == id)
            .map(|r| r["environment"].clone())
    };
    assert_eq!(env_of("cifar-10"), Some("workbench".into()));
    assert_eq!(env_of("penguins-species"), Some("python".into()));
    assert_eq!(env_of("wine-quality"), Some("python".into()));
    assert!(rows.iter().all(|r| r["environment"].is_string()));
}

#[test]
fn the_starter_runs_the_same_twice_and_a_better_script_earns_reward() {
    let Some(py) = python() else { return };
    let a = execute(&py, "penguins-species", &starter("penguins-species"));
    let b = execute(&py, "penguins-species", &starter("penguins-species"));
    assert_eq!(a["kind"], "success", "{a}");
    assert_eq!(a["metric"], b["metric"]);
    assert_eq!(a["metric"], a["previous_metric"]);
    assert_eq!(a["reward"], 0.5, "the starter against itself: σ(0)");
    let better = starter("penguins-species")
        .replace(
            "[\"bill_length_mm\", \"flipper_length_mm\"]",
            "[\"bill_length_mm\", \"bill_depth_mm\", \"flipper_length_mm\", \"body_mass_g\"]",
        )
        .replace("max_depth=1", "max_depth=4");
    let c = execute(&py, "penguins-species", &better);
    assert_eq!(c["kind"], "success", "{c}");
    assert!(c["metric"].as_f64() > a["metric"].as_f64(), "{c}");
    assert!(c["reward"].as_f64().is_some_and(|r| r > 0.5), "{c}");
    for k in ["kind", "message", "reward", "metric"] {
        assert!(c.get(k).is_some(), "field {k} missing: {c}");
    }
}

#[test]
fn a_crash_and_a_missing_prediction_file_are_execution_errors_with_the_reason() {
    let Some(py) = python() else { return };
    let crash = execute(
        &py,
        "wine-quality",
        "import numpy\nraise ValueError('bad idea')\n",
    );
    assert_eq!(crash["kind"], "execution_error", "{crash}");
    assert_eq!(crash["reward"], 0.0);
    assert!(
        crash["message"]
            .as_str()
            .unwrap()
            .contains("ValueError: bad idea"),
        "{crash}"
    );
    let silent = execute(&py, "wine-quality", "print('forgot to predict')\n");
    assert_eq!(silent["kind"], "execution_error", "{silent}");
    assert!(
        silent["message"]
            .as_str()
            .unwrap()
            .contains("valid_predictions.csv was not written"),
        "{silent}"
    );
    let partial = execute(
        &py,
        "wine-quality",
        "open('valid_predictions.csv','w').write('id,prediction\\n1,5\\n')\n",
    );
    assert!(
        partial["message"]
            .as_str()
            .unwrap()
            .contains("expected one per id"),
        "{partial}"
    );
}

#[test]
fn a_script_that_runs_too_long_is_a_corner_case_and_labels_stay_hidden() {
    let Some(py) = python() else { return };
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tasks/data/penguins.csv");
    let peek = format!(
        "import os\ntry:\n    print(open({:?}).read()[:50])\nexcept OSError as e:\n    \
         print('hidden', e.errno)\nprint(sorted(os.listdir('data')))\n\
         print(open('data/valid.csv').readline().strip())\n",
        data.display().to_string()
    );
    let r = execute(&py, "penguins-species", &peek);
    let out = r["execution"]["stdout"].as_str().unwrap();
    assert!(out.contains("hidden 2"), "{out}");
    assert!(
        out.contains("['test.csv', 'train.csv', 'valid.csv']"),
        "{out}"
    );
    assert!(
        !out.lines().nth(2).unwrap_or_default().contains("species"),
        "{out}"
    );
    let slow = execute_with(
        &py,
        "penguins-species",
        "import time\ntime.sleep(3600)\n",
        &["--wall-seconds", "2"],
    );
    assert_eq!(slow["kind"], "budget_exceeded", "{slow}");
    assert_eq!(slow["reward"], 0.5, "the reward's corner case");
    assert!(
        slow["message"]
            .as_str()
            .unwrap()
            .contains("wall-clock limit of 2 s"),
        "{slow}"
    );
}

fn step(python: &str, task: &str, action: &str) -> Value {
    env_command(python, "step", task, "--action-file", action, &[])
}

#[test]
fn env_step_takes_mlagentbench_actions_on_a_python_task() {
    let Some(py) = python() else { return };
    let edit = "Thought: more columns\nAction: Edit Script\nAction Input: train.py\n\
                <<<<<<< SEARCH\nFEATURES = [\"alcohol\"]\n=======\n\
                FEATURES = [\"alcohol\", \"volatile acidity\", \"sulphates\"]\n>>>>>>> REPLACE\n";
    let r = step(&py, "wine-quality", edit);
    assert_eq!(r["feedback"]["kind"], "success", "{r}");
    assert!(
        r["feedback"]["metric"].as_f64() < r["previous_metric"].as_f64(),
        "{r}"
    );
    assert!(r["reward"].as_f64().is_some_and(|x| x > 0.5), "{r}");
    assert!(
        r["next_script"]
            .as_str()
            .unwrap()
            .contains("\"sulphates\"]")
    );
    let missing = edit.replace("FEATURES = [\"alcohol\"]\n=", "FEATURES = [\"pH\"]\n=");
    let r = step(&py, "wine-quality", &missing);
    assert_eq!(r["feedback"]["kind"], "invalid_action", "{r}");
    assert_eq!(r["reward"], 0.0);
    let r = step(
        &py,
        "wine-quality",
        "Thought: read it\nAction: Inspect Script Lines\nAction Input: train.py 1-3\n",
    );
    assert_eq!(r["feedback"]["kind"], "non_edit", "{r}");
    assert!(
        r["feedback"]["message"]
            .as_str()
            .unwrap()
            .starts_with("   1 \"\"\"Starter"),
        "{r}"
    );
    let r = step(
        &py,
        "wine-quality",
        "Thought: undo\nAction: Undo Edit Script\nAction Input: train.py\n",
    );
    assert_eq!(
        r["feedback"]["kind"], "invalid_action",
        "nothing to undo in one step: {r}"
    );
}

/// The local executor: 200 executions of a penguins script, 50 in flight at once, come back in
/// job order with identical feedback, and leave no sandbox process, no workspace folder and no
/// open file behind.
#[test]
fn two_hundred_executions_through_the_local_executor_leave_nothing_behind() {
    use mlagent::env::python::executor::{Job, LocalExecutor};
    let Some(python) = python() else {
        return;
    };
    let (tasks, env) = python_env(&python);
    let task = task(&tasks, "penguins-species");
    let scratch = tempfile::tempdir().expect("a scratch dir");
    let env = env.with_scratch(scratch.path().to_path_buf());
    // No numpy: a constant prediction, so 200 runs cost little more than their sandboxes.
    let script = "import csv\n\
        rows = list(csv.DictReader(open('data/valid.csv')))\n\
        with open('valid_predictions.csv', 'w') as f:\n\
        \x20   f.write('id,prediction\\n')\n\
        \x20   f.writelines(f\"{r['id']},Adelie\\n\" for r in rows)\n";
    let fds = || std::fs::read_dir("/proc/self/fd").unwrap().count();
    let fds_before = fds();
    let jobs = vec![Job { task, script }; 200];
    let results = LocalExecutor::new(&env, 50).execute_all(&jobs);
    assert_eq!(results.len(), 200);
    let first = results[0].as_ref().expect("the first execution ran");
    assert_eq!(first.kind, "success", "{}", first.message);
    let metric = first.metric.expect("a validation metric");
    assert!(
        metric > 20.0 && metric < 80.0,
        "Adelie's share (%): {metric}"
    );
    for (i, r) in results.iter().enumerate() {
        let fb = r.as_ref().unwrap_or_else(|e| panic!("execution {i}: {e}"));
        assert_eq!(
            (fb.kind, fb.metric),
            ("success", Some(metric)),
            "execution {i}"
        );
    }
    let live = crate::support::sandbox_processes();
    assert!(live.is_empty(), "sandbox processes left: {live:?}");
    let left: Vec<_> = std::fs::read_dir(scratch.path())
        .expect("the scratch dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "workspaces left behind: {left:?}");
    assert_eq!(fds(), fds_before, "file descriptors left open");
}

/// `env execute --cache-dir`: the second run of the same script is a replay with the same
/// feedback; an edited record is refused, naming the file; another script runs anew.
#[test]
fn executions_are_cached_and_a_tampered_record_is_refused() {
    let Some(python) = python() else {
        return;
    };
    let cache = tempfile::tempdir().expect("a cache dir");
    let dir = cache.path().to_str().expect("a UTF-8 path");
    // Not the starter itself: the command runs the starter first for the reward's baseline, and
    // that run would already be cached.
    let script = format!("{}\n# a copy\n", starter("penguins-species"));
    let first = execute_with(&python, "penguins-species", &script, &["--cache-dir", dir]);
    assert_eq!(first["cached"], false, "{first}");
    let again = execute_with(&python, "penguins-species", &script, &["--cache-dir", dir]);
    assert_eq!(again["cached"], true, "{again}");
    for field in ["kind", "metric", "reward", "message"] {
        assert_eq!(first[field], again[field], "{field}");
    }
    let other = format!("{script}\n# changed\n");
    let changed = execute_with(&python, "penguins-species", &other, &["--cache-dir", dir]);
    assert_eq!(changed["cached"], false, "{changed}");

    // Every record was written sealed; editing one's metric breaks its seal.
    let records: Vec<_> = std::fs::read_dir(cache.path())
        .expect("the cache dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(records.len() >= 2, "{records:?}");
    for r in &records {
        let mut v: Value =
            serde_json::from_slice(&std::fs::read(r).expect("a record")).expect("a record is JSON");
        let m = v["record"]["metric"]
            .as_f64()
            .expect("a successful run's metric");
        v["record"]["metric"] = (m + 1.0).into();
        std::fs::write(r, serde_json::to_vec(&v).expect("JSON")).expect("rewrite the record");
    }
    let path = tempfile::NamedTempFile::new().expect("a script file");
    std::fs::write(path.path(), &script).expect("write the script");
    let o = Command::new(env!("CARGO_BIN_EXE_mlagent"))
        .args(["env", "execute", "--task", "penguins-species", "--script"])
        .arg(path.path())
        .args(["--python", &python, "--cache-dir", dir])
        .output()
        .expect("run mlagent");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "a tampered record was accepted");
    assert!(
        stderr.contains("was edited") && stderr.contains(dir),
        "{stderr}"
    );
}

/// A local Ray head (`ray start --head`) for the length of a test; stopped on drop.
struct RayHead {
    ray: std::path::PathBuf,
    address: String,
}

impl Drop for RayHead {
    fn drop(&mut self) {
        let _ = Command::new(&self.ray).args(["stop", "--force"]).output();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Starts a Ray head with the interpreter's `ray`, or `None` (after saying why) where Ray is
/// not installed; `MLAGENT_REQUIRE_RAY` (CI) turns the skip into a failure.
fn ray_head(python: &str) -> Option<RayHead> {
    let required = std::env::var("MLAGENT_REQUIRE_RAY").is_ok();
    let has = Command::new(python)
        .args(["-c", "import ray.dashboard, ray.job_submission"])
        .status()
        .is_ok_and(|s| s.success());
    if !has {
        assert!(
            !required,
            "MLAGENT_REQUIRE_RAY is set but `{python}` lacks ray[default] (python/requirements-test.txt)"
        );
        eprintln!("skipped: `{python}` lacks ray[default]");
        return None;
    }
    let bin = Path::new(python)
        .parent()
        .expect("the interpreter's folder");
    let ray = bin.join("ray");
    let (port, dashboard) = (free_port(), free_port());
    let out = Command::new(&ray)
        .args([
            "start",
            "--head",
            "--num-cpus",
            "2",
            "--disable-usage-stats",
        ])
        .args([
            "--include-dashboard",
            "true",
            "--dashboard-host",
            "127.0.0.1",
        ])
        .arg(format!("--port={port}"))
        .arg(format!("--dashboard-port={dashboard}"))
        .output()
        .expect("run `ray start`");
    assert!(
        out.status.success(),
        "ray start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let head = RayHead {
        ray,
        address: format!("http://127.0.0.1:{dashboard}"),
    };
    // The Jobs API answers once the dashboard is up.
    let start = std::time::Instant::now();
    loop {
        let up = std::net::TcpStream::connect(("127.0.0.1", dashboard)).is_ok_and(|mut c| {
            use std::io::{Read as _, Write as _};
            let mut reply = String::new();
            c.write_all(b"GET /api/version HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                .is_ok()
                && c.read_to_string(&mut reply).is_ok()
                && reply.starts_with("HTTP/1.")
                && reply.get(..12).is_some_and(|h| h.ends_with(" 200"))
                && reply.contains("ray_version")
        });
        if up {
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(120),
            "the Ray dashboard never answered"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    Some(head)
}

/// The Ray executor gives the local executor's results on both Python tasks: their starters, a
/// better script and a crashing one, through jobs on a local Ray head.
#[test]
fn the_ray_executor_gives_the_local_executors_results() {
    use mlagent::env::python::executor::{Job, LocalExecutor};
    use mlagent::env::python::ray::RayExecutor;
    let Some(python) = python() else {
        return;
    };
    let Some(head) = ray_head(&python) else {
        return;
    };
    let (tasks, env) = python_env(&python);
    let better = starter("penguins-species").replace(
        "FEATURES = [\"bill_length_mm\", \"flipper_length_mm\"]",
        "FEATURES = [\"bill_length_mm\", \"bill_depth_mm\", \"flipper_length_mm\", \"body_mass_g\"]",
    );
    let crash = "raise SystemExit(3)\n".to_string();
    let mut scripts: Vec<(usize, String)> = Vec::new();
    for (i, t) in tasks.iter().enumerate() {
        scripts.push((i, t.starter.clone()));
        scripts.push((i, crash.clone()));
    }
    let penguins = tasks
        .iter()
        .position(|t| t.spec.id == "penguins-species")
        .expect("the penguins task");
    scripts.push((penguins, better));
    let jobs: Vec<Job<'_>> = scripts
        .iter()
        .map(|(i, s)| Job {
            task: &tasks[*i],
            script: s,
        })
        .collect();
    let local = LocalExecutor::new(&env, 2).execute_all(&jobs);
    let shared = tempfile::tempdir().expect("a shared folder");
    let ray = RayExecutor {
        address: head.address.clone(),
        shared_dir: shared.path().to_path_buf(),
        mlagent: env!("CARGO_BIN_EXE_mlagent").into(),
        width: 4,
        schedule_seconds: 120.0,
    };
    let remote = ray.execute_all(&env, &jobs);
    for (i, (l, r)) in local.iter().zip(&remote).enumerate() {
        let l = l.as_ref().unwrap_or_else(|e| panic!("local {i}: {e}"));
        let r = r.as_ref().unwrap_or_else(|e| panic!("ray {i}: {e}"));
        assert_eq!((l.kind, l.metric), (r.kind, r.metric), "job {i}");
        assert!(r.execution.as_ref().is_some_and(|e| e.isolated), "job {i}");
    }
    assert!(
        local
            .iter()
            .any(|l| l.as_ref().is_ok_and(|f| f.kind == "success"))
            && local
                .iter()
                .any(|l| l.as_ref().is_ok_and(|f| f.kind == "execution_error")),
        "the jobs cover successes and errors"
    );
    let left: Vec<_> = std::fs::read_dir(shared.path())
        .expect("the shared folder")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "job folders left behind: {left:?}");
}

/// `mlagent env rollout … --out FILE` as (episode summaries, the conversations file's path).
fn rollout(python: &str, dir: &Path, agent: &str, seed: &str) -> (Vec<Value>, std::path::PathBuf) {
    let out = dir.join(format!("{agent}-{seed}.jsonl"));
    let o = Command::new(env!("CARGO_BIN_EXE_mlagent"))
        .args([
            "env",
            "rollout",
            "--task",
            "penguins-species",
            "--agent",
            agent,
        ])
        .args([
            "--episodes",
            "2",
            "--max-steps",
            "6",
            "--seed",
            seed,
            "--python",
            python,
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run mlagent");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let eps = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON episode a line"))
        .collect();
    (eps, out)
}

/// The scripted agents act in the Python environment: the expert's ideas become code edits that
/// raise the validation metric (a regression is undone), the random agent's choices follow its
/// seed, and both episodes come out as ShareGPT conversations of the training format.
#[test]
fn scripted_agents_run_episodes_on_a_python_task() {
    let Some(python) = python() else {
        return;
    };
    let dir = tempfile::tempdir().expect("a temp dir");
    let (expert, file) = rollout(&python, dir.path(), "expert", "7");
    assert_eq!(expert.len(), 2);
    for ep in &expert {
        let start = ep["starter_metric"].as_f64().expect("a starter metric");
        let best = ep["best_metric"].as_f64().expect("a best metric");
        assert!(best > start + 5.0, "the expert's edits did not help: {ep}");
        let actions: Vec<&str> = ep["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .map(|s| s["action"].as_str().expect("action text"))
            .collect();
        assert!(
            actions.iter().any(|a| a.contains("Action: Edit Script")),
            "{ep}"
        );
    }
    let convs = mlagent::agent::conversation::read_jsonl(&file).expect("ShareGPT lines");
    assert_eq!(convs.len(), 2);
    assert!(convs[0].conversations[0].value.contains("train.py"));

    let actions = |eps: &[Value]| -> Vec<String> {
        eps.iter()
            .flat_map(|e| e["steps"].as_array().expect("steps").clone())
            .map(|s| s["action"].as_str().expect("action").to_string())
            .collect()
    };
    let (a, file_a) = rollout(&python, dir.path(), "random", "3");
    let (b, _) = rollout(&python, dir.path(), "random", "3");
    assert_eq!(actions(&a), actions(&b), "the same seed, the same choices");
    mlagent::agent::conversation::read_jsonl(&file_a).expect("ShareGPT lines");
}

/// A language-model policy acts in the Python environment through the same episode runner as
/// the scripted agents: it reads the Python system prompt and task turn, its text is parsed as
/// an MLAgentBench action (an untrained model's text is an invalid action, scored, never an
/// error), and the rollout is a function of the seed.
#[test]
fn a_language_model_policy_acts_in_the_python_environment() {
    let Some(python) = python() else {
        return;
    };
    let dir = tempfile::tempdir().expect("a temp dir");
    let policy = dir.path().join("policy");
    {
        use mlagent::lm::tokenizer::ChatTokenizer;
        use mlagent::lm::{Qwen2, Qwen2Config, hf};
        let corpus: Vec<String> = (0..40)
            .map(|i| {
                format!(
                    "Thought: a deeper tree\nAction: Edit Script\nAction Input: train.py\n\
                     <<<<<<< SEARCH\nmax_depth=1\n=======\nmax_depth={i}\n>>>>>>> REPLACE"
                )
            })
            .collect();
        let tok = ChatTokenizer::train_bpe(&corpus, 320).expect("a tokenizer");
        let mut cfg = Qwen2Config::tiny(tok.vocab_size());
        cfg.max_position_embeddings = 2048;
        let device = burn::tensor::Device::flex();
        let model = Qwen2::init(&cfg, &mlagent::seed::SeedPath::root(3), &device).expect("init");
        hf::save(&policy, &cfg, &model).expect("save the model");
        tok.save(&policy.join("tokenizer.json"))
            .expect("save the tokenizer");
    }
    let run = |seed: &str| {
        let out = dir.path().join(format!("policy-{seed}.jsonl"));
        let o = Command::new(env!("CARGO_BIN_EXE_mlagent"))
            .args(["env", "rollout", "--task", "penguins-species"])
            .args(["--agent", "policy", "--policy"])
            .arg(&policy)
            .args([
                "--episodes",
                "2",
                "--max-steps",
                "2",
                "--max-new-tokens",
                "24",
            ])
            .args(["--temperature", "1.0", "--seed", seed, "--python", &python])
            .arg("--out")
            .arg(&out)
            .output()
            .expect("run mlagent");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        (String::from_utf8_lossy(&o.stdout).into_owned(), out)
    };
    let (a, file) = run("5");
    let (b, _) = run("5");
    assert_eq!(a, b, "the same seed, the same rollout");
    let eps: Vec<Value> = a
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON episode a line"))
        .collect();
    assert_eq!(eps.len(), 2);
    for ep in &eps {
        assert_eq!(ep["agent"], "policy");
        assert!(ep["starter_metric"].as_f64().is_some(), "{ep}");
        let steps = ep["steps"].as_array().expect("steps");
        assert!(!steps.is_empty() && steps.len() <= 2, "{ep}");
        for s in steps {
            let r = s["reward"].as_f64().expect("a reward");
            assert!(r.is_finite(), "{s}");
        }
    }
    let convs = mlagent::agent::conversation::read_jsonl(&file).expect("ShareGPT lines");
    assert_eq!(convs.len(), 2);
    assert!(convs[0].conversations[0].value.contains("```python"));

    // `--agent policy` needs its folder, and a folder needs `--agent policy`.
    let o = Command::new(env!("CARGO_BIN_EXE_mlagent"))
        .args([
            "env",
            "rollout",
            "--task",
            "penguins-species",
            "--agent",
            "policy",
        ])
        .args(["--python", &python, "--out"])
        .arg(dir.path().join("x.jsonl"))
        .output()
        .expect("run mlagent");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--policy DIR"));
}

/// RL acts on states of recorded expert episodes. A Python state also holds what Undo returns
/// to, which the record does not keep, so the state pool replays each episode: every replayed
/// script is the recorded one, the state after an undone edit is the script before it, and a
/// record that does not replay is refused naming the task.
#[test]
fn recorded_python_episodes_replay_into_rl_states() {
    use mlagent::agent::environment::Environment as _;
    use mlagent::agent::python_episode::{PyAgentKind, ScriptedTeam, episode_seed, rollout};
    use mlagent::train::rl::state_pool::StatePool;
    let Some(python) = python() else {
        return;
    };
    let (tasks, env) = python_env(&python);
    let task = task(&tasks, "penguins-species");
    let cache = tempfile::tempdir().expect("a cache dir");
    let env = env.with_cache(cache.path().to_path_buf());
    let seed = mlagent::seed::SeedPath::root(11);
    let starter = env
        .start(task, &task.starter)
        .expect("the starter runs")
        .metric;
    let seeds: Vec<_> = (0..2).map(|e| episode_seed(&seed, e)).collect();
    let mut team = ScriptedTeam::new(PyAgentKind::Expert, task, starter, &seeds, 8);
    let played = rollout(&env, task, &mut team, 2, 8, &seed).expect("episodes");
    let episodes: Vec<_> = played.into_iter().map(|(e, _)| e).collect();
    assert!(
        episodes
            .iter()
            .flat_map(|e| &e.steps)
            .any(|s| s.action.contains("Action: Undo Edit Script")),
        "the expert undid no edit: pick a seed where it does"
    );
    for ep in &episodes {
        let recorded: Vec<_> = ep.steps.iter().map(|s| s.recorded()).collect();
        let states = env
            .states_of(task, &recorded, 0)
            .expect("the episode replays");
        assert_eq!(states.len(), ep.steps.len() + 1);
        for (k, s) in ep.steps.iter().enumerate() {
            assert_eq!(states[k].script, s.script_before, "step {k}");
            if s.action.contains("Action: Undo Edit Script") {
                assert!(states[k].history.len() > states[k + 1].history.len());
            }
        }
    }
    let pool = StatePool::from_episodes(&env, &episodes, &[task], 0).expect("a pool");
    assert!(pool.len() > 2);
    assert!(pool.states.iter().all(|s| s.script == s.env_state.script));

    let mut forged = episodes[0].clone();
    forged.steps[1].script_before.push_str("\n# edited");
    let err = StatePool::from_episodes(&env, &[forged], &[task], 0)
        .expect_err("a forged record is refused")
        .to_string();
    assert!(
        err.contains("penguins-species") && err.contains("does not replay"),
        "{err}"
    );
}

/// `mlagent run` of the python-smoke experiment's first stages with `--ray-address`: every
/// execution a job on a local Ray head; the expert stage's run has the local run's digest, so
/// the cluster's results are this machine's.
#[test]
fn the_pipeline_through_ray_gives_the_local_runs() {
    let Some(python) = python() else {
        return;
    };
    let Some(head) = ray_head(&python) else {
        return;
    };
    let shared = tempfile::tempdir().expect("a shared folder");
    let run = |extra: &[&std::ffi::OsStr]| {
        let store = tempfile::tempdir().expect("a store");
        let o = Command::new(env!("CARGO_BIN_EXE_mlagent"))
            .arg("--store")
            .arg(store.path())
            .args(extra)
            .args(["run", "--experiment", "experiments/python-smoke.ron"])
            .args(["--until", "expert"])
            .env("MLAGENT_PYTHON", &python)
            .output()
            .expect("run mlagent");
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            o.status.success(),
            "{out}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        // `<stage> <manifest digest> <dir> (ran)`: the digests, not the folders.
        out.lines()
            .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
    };
    let local = run(&[]);
    let remote = run(&[
        "--ray-address".as_ref(),
        head.address.as_ref(),
        "--ray-shared-dir".as_ref(),
        shared.path().as_os_str(),
    ]);
    assert_eq!(local.len(), 2, "{local:?}");
    assert_eq!(local, remote);
    let left: Vec<_> = std::fs::read_dir(shared.path())
        .expect("the shared folder")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "job folders left behind: {left:?}");

    // A workbench experiment is refused: its scripts train in-process.
    let store = tempfile::tempdir().expect("a store");
    let o = Command::new(env!("CARGO_BIN_EXE_mlagent"))
        .arg("--store")
        .arg(store.path())
        .args(["--ray-address", "http://127.0.0.1:1", "--ray-shared-dir"])
        .arg(shared.path())
        .args(["run", "--experiment", "experiments/smoke.ron"])
        .output()
        .expect("run mlagent");
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("acts in the workbench"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The paper profile acts in the Python environment on the paper's own tasks, the user's data:
/// without them the first stage stops, naming the first task, how to prepare it or why it
/// cannot be prepared yet, and where the list is.
#[test]
fn the_paper_profile_stops_at_the_first_task_the_user_has_not_prepared() {
    let Some(python) = python() else {
        return;
    };
    let store = tempfile::tempdir().expect("a store");
    let prepared = tempfile::tempdir().expect("an empty prepared folder");
    let o = Command::new(env!("CARGO_BIN_EXE_mlagent"))
        .arg("--store")
        .arg(store.path())
        .arg("--prepared")
        .arg(prepared.path())
        .args(["reproduce", "table1", "--profile", "paper"])
        .env("MLAGENT_PYTHON", &python)
        .output()
        .expect("run mlagent");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("ideas")
            && err.contains("task `cifar-10` is not prepared")
            && err.contains("cannot be prepared yet")
            && err.contains("mlagent tasks upstream"),
        "{err}"
    );
}

/// What a stage run keeps of its executions (`executions.jsonl`) is replayed by the stages
/// below it instead of run: a record taken in answers its script (here a record whose metric
/// the script could never give, so the answer cannot have come from a run), the record holds
/// nothing the machine measured, and a record whose values do not hold is refused naming its
/// key.
#[test]
fn recorded_executions_are_replayed_not_run() {
    let Some(python) = python() else {
        return;
    };
    let (tasks, env) = python_env(&python);
    let env = env.with_memo();
    let task = task(&tasks, "penguins-species");
    env.begin_recording();
    let first = env.execute(task, &task.starter).expect("the starter runs");
    assert_eq!(first.kind, "success");
    let records = env.recorded();
    assert_eq!(records.len(), 1);
    assert!(records[0].record.execution.is_none());

    let (_, fresh) = python_env(&python);
    let fresh = fresh.with_memo();
    let mut taken = records.clone();
    taken[0].record.metric = Some(12.5);
    fresh.preload(&taken).expect("a valid record");
    let (again, cached) = fresh
        .execute_cached(task, &task.starter)
        .expect("the replay");
    assert!(cached);
    assert_eq!(again.metric, Some(12.5));

    let mut bad = records.clone();
    bad[0].record.kind = "nonsense".into();
    let err = fresh.preload(&bad).expect_err("an impossible kind");
    assert!(err.contains(&records[0].key), "{err}");
}
