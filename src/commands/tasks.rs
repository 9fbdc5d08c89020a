//! `mlagent tasks`: list, show and verify the stand-in tasks.

use std::process::ExitCode;

use anyhow::Context;
use mlagent::tasks::python::PythonTask;
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
        "metric": s.metric.name(),
        "direction": direction(s.metric.direction()),
        "reward_scale": s.reward_scale,
        "wall_seconds": s.limits.wall_seconds,
        "digest": t.digest.to_string(),
        "environment": "python",
    })
}

pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    global.cpu_only("tasks", "tasks are read and checked on the host")?;
    use std::io::Write;
    let reg = Registry::load_default().context("loading tasks/")?;
    let python = mlagent::tasks::python::load_all(&mlagent::tasks::python::default_root())
        .context("loading tasks/python/")?;
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
                        "(python environment)",
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
                let listed = reg.data.listed_checksum(&t.spec.data.file)?;
                anyhow::ensure!(
                    listed.as_deref() == Some(t.spec.data.sha256.as_str()),
                    "python task `{}`: file `{}`: sha256 {} differs from CHECKSUMS.sha256 ({listed:?})",
                    t.spec.id,
                    t.spec.data.file,
                    t.spec.data.sha256
                );
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
    }
    Ok(ExitCode::SUCCESS)
}
