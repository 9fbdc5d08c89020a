//! `mlagent env`: take one agent step, evaluate a script, or play the agent from the terminal.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use mlagent::env::python::{Interpreter, PythonEnv};
use mlagent::env::{Script, StepResult, Workbench, evaluate};
use mlagent::reward::RewardConfig;
use mlagent::sandbox::Isolation;
use mlagent::tasks::Registry;

use super::Global;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

/// The two environments a task can belong to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Environment {
    Workbench,
    Python,
}

/// Who acts in `env rollout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum RolloutAgent {
    Expert,
    Random,
    Policy,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Apply one action to a script and print the step as one JSON object
    Step {
        #[arg(long)]
        task: String,
        /// Current script (`key = value` lines) [default: the task's starter]
        #[arg(long)]
        script: Option<PathBuf>,
        #[arg(long)]
        action_file: PathBuf,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Keep run records (workbench) or sealed execution records (Python tasks) in this
        /// folder; a replay reads them instead of running again
        #[arg(long)]
        cache_dir: Option<PathBuf>,
        /// Python tasks: the interpreter [default: $MLAGENT_PYTHON, else python3]
        #[arg(long)]
        python: Option<String>,
        /// Python tasks: run with process limits only where the machine cannot isolate
        #[arg(long)]
        allow_unisolated: bool,
        /// Which environment's task ID names, where it names both a workbench stand-in and a
        /// prepared Python task (`mlagent tasks prepare`)
        #[arg(long)]
        environment: Option<Environment>,
    },
    /// Train a script and print its validation and test metric (evaluation only)
    Evaluate {
        #[arg(long)]
        task: String,
        #[arg(long)]
        script: Option<PathBuf>,
        /// Edits applied first, `key = value; key = value`
        #[arg(long)]
        set: Option<String>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Run FILE as a Python task's training script in the sandbox and print the feedback as one
    /// JSON object (kind, message, reward against the starter, metric, the execution's record)
    Execute {
        #[arg(long)]
        task: String,
        #[arg(long)]
        script: PathBuf,
        /// The interpreter (with numpy and scikit-learn) [default: $MLAGENT_PYTHON, else python3]
        #[arg(long)]
        python: Option<String>,
        /// Where the machine cannot isolate (not root, no namespaces), run with process limits
        /// only instead of refusing
        #[arg(long)]
        allow_unisolated: bool,
        /// A shorter wall-clock limit than the task's, in seconds
        #[arg(long)]
        wall_seconds: Option<f64>,
        /// Keep sealed execution records in this folder; a replay of the same workspace,
        /// script, limits and interpreter reads them instead of running again
        #[arg(long)]
        cache_dir: Option<PathBuf>,
    },
    /// Python tasks: run episodes of an agent (the scripted expert, whose ideas become code
    /// edits, the random agent, or a language-model policy folder) in the sandbox; print one
    /// JSON line per episode and write the episodes' ShareGPT conversations to OUT (JSON lines)
    Rollout {
        #[arg(long)]
        task: String,
        #[arg(long, value_enum)]
        agent: RolloutAgent,
        /// `--agent policy`: the policy folder (`<store>/runs/{sft,rl}/<key>/policy`)
        #[arg(long, value_name = "DIR")]
        policy: Option<PathBuf>,
        /// `--agent policy`: sampling temperature (0: greedy)
        #[arg(long, default_value_t = 0.2)]
        temperature: f64,
        /// `--agent policy`: the longest action in tokens
        #[arg(long, default_value_t = 256)]
        max_new_tokens: usize,
        #[arg(long, default_value_t = 1)]
        episodes: usize,
        #[arg(long, default_value_t = 8)]
        max_steps: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        #[arg(long)]
        python: Option<String>,
        #[arg(long)]
        allow_unisolated: bool,
        #[arg(long)]
        cache_dir: Option<PathBuf>,
    },
    /// Play the agent: read actions from stdin (blank line ends one) until Final Answer
    Play {
        #[arg(long)]
        task: String,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

fn load_script(
    bench: &Workbench,
    task: &mlagent::tasks::Task,
    path: Option<&PathBuf>,
) -> anyhow::Result<Script> {
    match path {
        None => Ok(bench.starter(task)?),
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            Script::parse(task.spec.data_type, &text)
                .with_context(|| format!("script {}", p.display()))
        }
    }
}

fn step_json(r: &StepResult) -> serde_json::Value {
    let mut fb = serde_json::to_value(&r.feedback).expect("feedback serialises");
    if let Some(m) = fb.as_object_mut() {
        m.insert("kind".into(), r.feedback.kind().into());
    }
    serde_json::json!({
        "feedback": fb,
        "reward": r.reward,
        "done": r.done,
        "previous_metric": r.previous_metric,
        "next_script": r.next_script.to_string(),
        "cached": r.cached,
        "wall_s": r.wall_s,
    })
}

/// The Python environment with the interpreter a user named (or the default).
fn python_env(
    reg: &Registry,
    python: Option<String>,
    allow_unisolated: bool,
    cache_dir: Option<PathBuf>,
) -> anyhow::Result<PythonEnv> {
    let python = python
        .or_else(|| std::env::var("MLAGENT_PYTHON").ok())
        .unwrap_or_else(|| "python3".into());
    let isolation = if allow_unisolated {
        Isolation::AllowUnisolated
    } else {
        Isolation::Required
    };
    let env = PythonEnv::new(reg.data.clone(), Interpreter::find(&python)?, isolation);
    Ok(match cache_dir {
        Some(d) => env.with_cache(d),
        None => env,
    })
}

pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    global.cpu_only(
        "env",
        "the task models are trained by src/env/model.rs on the CPU",
    )?;
    let reg = Registry::load_default().context("loading tasks/")?;
    match args.command {
        Command::Execute {
            task,
            script,
            python,
            allow_unisolated,
            wall_seconds,
            cache_dir,
        } => {
            let tasks = global.python_tasks()?;
            let Some(i) = tasks.iter().position(|t| t.spec.id == task) else {
                let ids: Vec<&str> = tasks.iter().map(|t| t.spec.id.as_str()).collect();
                anyhow::bail!(
                    "`{task}` is not a Python task (Python tasks: {}; workbench tasks take \
                     `mlagent env step`)",
                    ids.join(", ")
                );
            };
            let mut t = tasks[i].clone();
            if let Some(w) = wall_seconds {
                anyhow::ensure!(
                    w.is_finite() && w > 0.0 && w <= t.spec.limits.wall_seconds,
                    "--wall-seconds {w}: expected seconds in (0, {}] (the task's limit)",
                    t.spec.limits.wall_seconds
                );
                t.spec.limits.wall_seconds = w;
            }
            let t = &t;
            let text = std::fs::read_to_string(&script)
                .with_context(|| format!("reading {}", script.display()))?;
            let env = python_env(&reg, python, allow_unisolated, cache_dir)?;
            let previous = env.start(t, &t.starter)?.metric;
            let (fb, cached) = env.execute_cached(t, &text)?;
            let reward = PythonEnv::reward(t, &fb, previous, &RewardConfig::v1())?;
            let mut v = serde_json::to_value(&fb)?;
            v["reward"] = reward.into();
            v["previous_metric"] = previous.into();
            v["cached"] = cached.into();
            println!("{}", serde_json::to_string(&v)?);
        }
        Command::Rollout {
            task,
            agent,
            policy,
            temperature,
            max_new_tokens,
            episodes,
            max_steps,
            seed,
            out,
            python,
            allow_unisolated,
            cache_dir,
        } => {
            use mlagent::agent::python_episode::{self as py, PyAgentKind, ScriptedTeam};
            anyhow::ensure!(
                episodes >= 1 && max_steps >= 1,
                "--episodes and --max-steps: expected at least 1"
            );
            anyhow::ensure!(
                policy.is_some() == (agent == RolloutAgent::Policy),
                "--policy DIR goes with --agent policy, and only with it"
            );
            let tasks = global.python_tasks()?;
            let t = tasks
                .iter()
                .find(|t| t.spec.id == task)
                .with_context(|| format!("`{task}` is not a Python task"))?;
            let env = python_env(&reg, python, allow_unisolated, cache_dir)?;
            let root = mlagent::seed::SeedPath::root(seed)
                .child("rollout")
                .child(task.as_str());
            let seeds: Vec<_> = (0..episodes).map(|e| py::episode_seed(&root, e)).collect();
            let mut acting: Box<dyn mlagent::agent::policy::Policy> = match (agent, &policy) {
                (RolloutAgent::Policy, Some(dir)) => {
                    anyhow::ensure!(
                        temperature.is_finite() && temperature >= 0.0 && max_new_tokens >= 1,
                        "--temperature: expected a finite number >= 0; --max-new-tokens: at least 1"
                    );
                    let device = global.backend().device()?;
                    let sampling = mlagent::lm::generate::SamplingConfig {
                        temperature,
                        top_p: 1.0,
                        max_new_tokens,
                        stop_tokens: Vec::new(),
                    };
                    let mut lm = mlagent::agent::lm_policy::LmPolicy::load(
                        "policy", dir, sampling, 0, device,
                    )
                    .with_context(|| format!("loading the policy folder {}", dir.display()))?
                    .with_system(mlagent::agent::prompt::PYTHON_SYSTEM);
                    // The model's whole context: the prompt is fitted to it less the answer.
                    lm.context_tokens = lm.model.max_positions;
                    Box::new(lm)
                }
                (kind, _) => {
                    let kind = if kind == RolloutAgent::Expert {
                        PyAgentKind::Expert
                    } else {
                        PyAgentKind::Random
                    };
                    let starter = env.start(t, &t.starter)?.metric;
                    Box::new(ScriptedTeam::new(kind, t, starter, &seeds, max_steps))
                }
            };
            let agent_name = acting.name().to_string();
            let played = py::rollout(&env, t, acting.as_mut(), episodes, max_steps, &root)?;
            let mut lines = Vec::new();
            for (ep, conversation) in played {
                let steps: Vec<serde_json::Value> = ep
                    .steps
                    .iter()
                    .map(|s| {
                        serde_json::json!({
                            "action": s.action,
                            "kind": s.feedback.kind(),
                            "message": s.feedback.message(),
                            "metric": match &s.feedback {
                                mlagent::env::Feedback::Success { metric, .. } => Some(*metric),
                                _ => None,
                            },
                            "reward": s.reward,
                        })
                    })
                    .collect();
                let v = serde_json::json!({
                    "task_id": ep.task_id,
                    "agent": agent_name,
                    "steps": steps,
                    "starter_metric": ep.starter_metric,
                    "best_metric": ep.best_metric,
                });
                println!("{}", serde_json::to_string(&v)?);
                lines.push(serde_json::to_string(&conversation)?);
            }
            let mut text = lines.join("\n");
            text.push('\n');
            mlagent::provenance::atomic::write(&out, text.as_bytes())
                .with_context(|| format!("writing {}", out.display()))?;
        }
        Command::Step {
            task,
            script,
            action_file,
            seed,
            cache_dir,
            python,
            allow_unisolated,
            environment,
        } => {
            let tasks = global.python_tasks()?;
            let py = tasks.iter().find(|t| t.spec.id == task);
            let on_bench = reg.get(&task).is_ok();
            let py = match (environment, py) {
                (None, Some(t)) if on_bench => anyhow::bail!(
                    "`{task}` names both a workbench stand-in (tasks/{task}.ron) and a Python task \
                     ({}): pass --environment workbench or --environment python",
                    t.path.display()
                ),
                (Some(Environment::Python), None) => {
                    anyhow::bail!("`{task}` is not a Python task")
                }
                (Some(Environment::Workbench), _) => None,
                (_, py) => py,
            };
            if let Some(t) = py {
                let current = match &script {
                    Some(p) => std::fs::read_to_string(p)
                        .with_context(|| format!("reading {}", p.display()))?,
                    None => t.starter.clone(),
                };
                let action = std::fs::read_to_string(&action_file)
                    .with_context(|| format!("reading {}", action_file.display()))?;
                let env = python_env(&reg, python, allow_unisolated, cache_dir)?;
                let start = std::time::Instant::now();
                let state = env.start(t, &current)?;
                let r = env.step(t, &state, &action, &RewardConfig::v1())?;
                let v = serde_json::json!({
                    "feedback": r.feedback,
                    "reward": r.reward,
                    "done": r.done,
                    "previous_metric": r.previous_metric,
                    "next_script": r.next.script,
                    "cached": r.cached,
                    "wall_s": start.elapsed().as_secs_f64(),
                });
                println!("{}", serde_json::to_string(&v)?);
                return Ok(ExitCode::SUCCESS);
            }
            let mut bench = Workbench::new(reg);
            if let Some(d) = cache_dir {
                bench = bench.with_cache_dir(d);
            }
            let t = bench.task(&task)?;
            let s = load_script(&bench, t, script.as_ref())?;
            let action = std::fs::read_to_string(&action_file)
                .with_context(|| format!("reading {}", action_file.display()))?;
            let r = bench.step(t, &s, &action, seed)?;
            println!("{}", serde_json::to_string(&step_json(&r))?);
        }
        Command::Evaluate {
            task,
            script,
            set,
            seed,
        } => {
            let bench = Workbench::new(reg);
            let t = bench.task(&task)?;
            let mut s = load_script(&bench, t, script.as_ref())?;
            if let Some(set) = set {
                let edits: Vec<(String, String)> = set
                    .split(';')
                    .filter(|p| !p.trim().is_empty())
                    .map(|p| {
                        let (k, v) = p
                            .split_once('=')
                            .context("--set expects `key = value; ...`")?;
                        Ok((k.trim().to_string(), v.trim().to_string()))
                    })
                    .collect::<anyhow::Result<_>>()?;
                s.apply(&edits)?;
            }
            let start = std::time::Instant::now();
            let e = evaluate(&bench, t, &s, seed)?;
            let mut v = serde_json::to_value(&e)?;
            v["wall_s"] = start.elapsed().as_secs_f64().into();
            println!("{}", serde_json::to_string(&v)?);
        }
        Command::Play { task, seed } => {
            let bench = Workbench::new(reg);
            let t = bench.task(&task)?;
            let mut script = bench.starter(t)?;
            let stdin = std::io::stdin();
            let mut lines = stdin.lock().lines();
            println!(
                "task {}: {}\n\ncurrent script:\n{script}",
                t.spec.id, t.spec.description
            );
            for step in 1..=t.spec.budget.max_steps {
                print!(
                    "step {step}/{} — enter an action (Thought/Action/Action Input), then a blank line:\n> ",
                    t.spec.budget.max_steps
                );
                std::io::stdout().flush()?;
                let mut text = String::new();
                let mut eof = true;
                for line in lines.by_ref() {
                    let line = line?;
                    if line.trim().is_empty() && !text.is_empty() {
                        eof = false;
                        break;
                    }
                    text.push_str(&line);
                    text.push('\n');
                }
                if text.trim().is_empty() && eof {
                    break;
                }
                let r = bench.step(t, &script, &text, seed)?;
                println!(
                    "\nfeedback: {}\n{}",
                    r.feedback.kind(),
                    r.feedback.message()
                );
                if let mlagent::env::Feedback::Success { metric, .. } = &r.feedback {
                    println!("validation metric: {metric}");
                }
                println!("reward: {:.4}\n\nscript:\n{}", r.reward, r.next_script);
                script = r.next_script;
                if r.done {
                    break;
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
