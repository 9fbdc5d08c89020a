//! `mlagent tasks`: list, show and verify the tasks; list the upstream registry and prepare a
//! user's upstream copy as a Python task.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use mlagent::tasks::python::{PythonData, PythonTask};
use mlagent::tasks::upstream::{self, Recipe, Source, UpstreamTask};
use mlagent::tasks::{Registry, Task};

use super::Global;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// List the tasks (a table, or a JSON array with --json)
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one task: its file, digest, data summary and starter script
    Show { id: String },
    /// Verify every bundled data file against CHECKSUMS.sha256 and every task's listed checksums
    Verify,
    /// List where each of the paper's tasks comes from upstream and whether it can be prepared
    Upstream {
        #[arg(long)]
        json: bool,
    },
    /// Check a prepared upstream copy of one of the paper's tasks against the registry's
    /// checksums and write it as a Python task (into --prepared)
    Prepare {
        /// The copy: MLE-bench's `<competition>/prepared/` folder, or MLAgentBench's
        /// `benchmarks/<task>/` after its prepare.py ran (`mlagent tasks upstream` says which)
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
        /// The paper's task, as `mlagent tasks list` names it
        #[arg(long, value_name = "ID")]
        task: String,
        /// Seed of the validation split carved out of the training rows
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

/// `higher` or `lower`, as `tasks list` prints it.
fn direction(d: mlagent::metrics::Direction) -> &'static str {
    match d {
        mlagent::metrics::Direction::HigherIsBetter => "higher",
        mlagent::metrics::Direction::LowerIsBetter => "lower",
    }
}

fn row(t: &Task) -> serde_json::Value {
    let s = &t.spec;
    serde_json::json!({
        "id": s.id,
        "paper_task": s.paper_task,
        "split": s.split.name(),
        "data_type": s.data_type.name(),
        "metric": s.metric.name(),
        "direction": direction(s.metric.direction()),
        "reward_scale": s.reward_scale,
        "max_work": s.budget.max_work,
        "max_steps": s.budget.max_steps,
        "digest": t.digest.to_string(),
        "environment": "workbench",
    })
}

fn python_row(t: &PythonTask) -> serde_json::Value {
    let s = &t.spec;
    serde_json::json!({
        "id": s.id,
        "split": s.split.name(),
        "data_type": "tabular",
        "source": match s.data {
            PythonData::Table { .. } => "bundled",
            PythonData::Prepared { .. } => "prepared",
        },
        "metric": s.metric.name(),
        "direction": direction(s.metric.direction()),
        "reward_scale": s.reward_scale,
        "wall_seconds": s.limits.wall_seconds,
        "digest": t.digest.to_string(),
        "environment": "python",
    })
}

fn upstream_row(e: &UpstreamTask) -> serde_json::Value {
    let (benchmark, name, commit) = match &e.source {
        Source::MleBench {
            competition,
            commit,
        } => ("mle-bench", competition, commit),
        Source::MlAgentBench { benchmark, commit } => ("mlagentbench", benchmark, commit),
    };
    serde_json::json!({
        "id": e.id,
        "benchmark": benchmark,
        "upstream": name,
        "commit": commit,
        "metric": e.metric.name(),
        "files": e.files.len(),
        "checksummed_files": e.files.iter().filter(|f| f.md5.is_some()).count(),
        "preparable": matches!(e.recipe, Recipe::Table(_)),
        "not_yet": match &e.recipe {
            Recipe::Table(_) => None,
            Recipe::NotYet(why) => Some(why),
        },
    })
}

pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    global.cpu_only("tasks", "tasks are read and checked on the host")?;
    use std::io::Write;
    let reg = Registry::load_default().context("loading tasks/")?;
    let python = global.python_tasks()?;
    // Write through a handle so a closed pipe (`| head`) is an error, not a panic.
    let mut out = std::io::stdout().lock();
    match args.command {
        Command::List { json } => {
            if json {
                let mut rows: Vec<_> = reg.tasks.iter().map(row).collect();
                rows.extend(python.iter().map(python_row));
                writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
            } else {
                writeln!(
                    out,
                    "{:<18} {:<46} {:<9} {:<10} {:<21} direction",
                    "id", "paper_task", "split", "data_type", "metric"
                )?;
                for t in &reg.tasks {
                    let r = row(t);
                    writeln!(
                        out,
                        "{:<18} {:<46} {:<9} {:<10} {:<21} {}",
                        t.spec.id,
                        t.spec.paper_task,
                        t.spec.split.name(),
                        t.spec.data_type.name(),
                        t.spec.metric.name(),
                        r["direction"].as_str().unwrap_or_default()
                    )?;
                }
                for t in &python {
                    let r = python_row(t);
                    writeln!(
                        out,
                        "{:<18} {:<46} {:<9} {:<10} {:<21} {}",
                        t.spec.id,
                        match t.spec.data {
                            PythonData::Table { .. } => "(python environment)",
                            PythonData::Prepared { .. } => "(python environment, prepared)",
                        },
                        t.spec.split.name(),
                        "tabular",
                        t.spec.metric.name(),
                        r["direction"].as_str().unwrap_or_default()
                    )?;
                }
            }
        }
        Command::Show { id } => {
            let bench = mlagent::env::Workbench::new(reg);
            let task = bench.task(&id)?;
            writeln!(out, "{}", serde_json::to_string_pretty(&row(task))?)?;
            writeln!(out, "file: {}", task.path.display())?;
            let data = bench.dataset(task)?;
            writeln!(
                out,
                "{}",
                mlagent::env::workbench::describe_data(task, &data)
            )?;
            writeln!(out, "starter script:\n{}", bench.starter(task)?)?;
        }
        Command::Verify => {
            let checked = reg.data.verify_all()?;
            for t in &python {
                match &t.spec.data {
                    PythonData::Table { file, sha256, .. } => {
                        let listed = reg.data.listed_checksum(file)?;
                        anyhow::ensure!(
                            listed.as_deref() == Some(sha256.as_str()),
                            "python task `{}`: file `{file}`: sha256 {sha256} differs from CHECKSUMS.sha256 ({listed:?})",
                            t.spec.id,
                        );
                    }
                    // Reading a prepared task's files checks each against its listed sha256.
                    PythonData::Prepared { .. } => {
                        t.workspace_files(&reg.data)
                            .with_context(|| format!("python task `{}`", t.spec.id))?;
                    }
                }
            }
            for t in &reg.tasks {
                for f in &t.spec.files {
                    let listed = reg.data.listed_checksum(&f.path)?;
                    anyhow::ensure!(
                        listed.as_deref() == Some(f.sha256.as_str()),
                        "task `{}`: file `{}`: sha256 {} differs from CHECKSUMS.sha256 ({listed:?})",
                        t.spec.id,
                        f.path,
                        f.sha256
                    );
                }
            }
            writeln!(
                out,
                "ok: {} data files match CHECKSUMS.sha256; {} tasks list matching checksums",
                checked.len(),
                reg.tasks.len() + python.len()
            )?;
        }
        Command::Upstream { json } => {
            let entries =
                upstream::load_all(&upstream::default_root()).context("loading tasks/upstream/")?;
            let rows: Vec<_> = entries.iter().map(upstream_row).collect();
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
            } else {
                writeln!(
                    out,
                    "{:<18} {:<13} {:<46} prepare",
                    "id", "benchmark", "upstream"
                )?;
                for (e, r) in entries.iter().zip(&rows) {
                    let prepare = match &e.recipe {
                        Recipe::Table(_) => "yes".to_string(),
                        Recipe::NotYet(why) => format!("not yet: {why}"),
                    };
                    writeln!(
                        out,
                        "{:<18} {:<13} {:<46} {prepare}",
                        e.id,
                        r["benchmark"].as_str().unwrap_or_default(),
                        r["upstream"].as_str().unwrap_or_default(),
                    )?;
                }
            }
        }
        Command::Prepare { from, task, seed } => {
            let entries =
                upstream::load_all(&upstream::default_root()).context("loading tasks/upstream/")?;
            let entry = entries.iter().find(|e| e.id == task).with_context(|| {
                format!(
                    "`{task}` is not in the upstream registry (tasks/upstream/; `mlagent tasks \
                     upstream` lists it)"
                )
            })?;
            let stand_in = reg.get(&task)?;
            let out_root = global.prepared_root();
            let p = mlagent::tasks::prepare::prepare(
                entry,
                &stand_in.spec,
                &from,
                &out_root,
                &upstream::default_root().join("starter.py"),
                seed,
            )?;
            writeln!(
                out,
                "prepared `{task}`: {} training, {} validation, {} test rows (validation carved \
                 with seed {seed})",
                p.train_rows, p.valid_rows, p.test_rows
            )?;
            writeln!(
                out,
                "upstream files: {} matched upstream's MD5, {} recorded by sha256 only (no \
                 upstream checksum)",
                p.verified, p.unverified
            )?;
            writeln!(out, "task: {}", p.task_file.display())?;
            writeln!(
                out,
                "run its starter: mlagent env execute --task {task} --script {}",
                out_root.join(&task).join("train.py").display()
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
