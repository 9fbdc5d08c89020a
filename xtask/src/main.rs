//! `cargo xtask`: the project's developer and reviewer commands.
//!
//! - `reproduce <table1|figure4|all> [--profile smoke|python-smoke|mini|paper] [--store DIR] [--check]`
//! - `verify [--store DIR]`: re-hash every artifact of a store
//! - `bless [--profile ...] [--target ...] [--spread-seeds N]`: write golden/<profile>/<target>.ron
//!   from a reproduction on a clean checkout, with the spread of N seeds
//! - `bench`: performance figures (release build)
//! - `ci`: exactly what CI runs
//! - `check-gpu`: type-check the wgpu and cuda backends offline

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum, Debug)]
enum Target {
    Table1,
    Figure4,
    All,
}

impl Target {
    fn id(self) -> &'static str {
        match self {
            Target::Table1 => "table1",
            Target::Figure4 => "figure4",
            Target::All => "all",
        }
    }
}

#[derive(Clone, Copy, ValueEnum, Debug)]
enum Profile {
    Smoke,
    /// The smoke pipeline in the Python environment (experiments/python-smoke.ron).
    PythonSmoke,
    Mini,
    Paper,
}

impl Profile {
    fn id(self) -> &'static str {
        match self {
            Profile::Smoke => "smoke",
            Profile::PythonSmoke => "python-smoke",
            Profile::Mini => "mini",
            Profile::Paper => "paper",
        }
    }
}

/// The cargo profile the mlagent binary is built with.
#[derive(Clone, Copy, ValueEnum, Debug, PartialEq, Eq)]
enum Build {
    Dev,
    Release,
}

impl Build {
    /// `--build`, else `MLAGENT_BUILD=dev|release`, else dev for smoke (the test build is
    /// already warm) and release for mini and paper.
    fn choose(flag: Option<Build>, profile: Profile) -> Result<Build> {
        if let Some(b) = flag {
            return Ok(b);
        }
        match std::env::var("MLAGENT_BUILD") {
            Ok(v) if v == "dev" => Ok(Build::Dev),
            Ok(v) if v == "release" => Ok(Build::Release),
            Ok(v) => bail!("MLAGENT_BUILD={v}: expected `dev` or `release`"),
            Err(_) => Ok(match profile {
                Profile::Smoke | Profile::PythonSmoke => Build::Dev,
                Profile::Mini | Profile::Paper => Build::Release,
            }),
        }
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Run (or reuse) every stage and print the paper's numbers beside this run's, with verdicts
    Reproduce {
        target: Target,
        #[arg(long, value_enum, default_value = "mini")]
        profile: Profile,
        #[arg(long)]
        store: Option<PathBuf>,
        /// Compare with golden/<profile>/<target>.ron and fail on a regression
        #[arg(long)]
        check: bool,
        /// Cargo profile of the mlagent binary [default: $MLAGENT_BUILD, else dev for smoke,
        /// release otherwise]
        #[arg(long, value_enum)]
        build: Option<Build>,
    },
    /// Re-hash every artifact of a store
    Verify {
        #[arg(long)]
        store: Option<PathBuf>,
    },
    /// Write golden/<profile>/<target>.ron from a reproduction (a clean checkout only)
    Bless {
        #[arg(long, value_enum, default_value = "mini")]
        profile: Profile,
        #[arg(long, value_enum, default_value = "table1")]
        target: Target,
        #[arg(long)]
        store: Option<PathBuf>,
        #[arg(long, value_enum)]
        build: Option<Build>,
        /// Root seeds whose runs form the golden's spread, which `--check` on another CPU
        /// class is judged by (each is a whole reproduction; 1 records no spread)
        #[arg(long, default_value_t = 3)]
        spread_seeds: u32,
    },
    /// Performance figures, from a release build
    Bench {
        /// Only benchmarks whose name contains this
        filter: Option<String>,
        /// Measure policy training and generation beside PyTorch (transformers) in one run, at
        /// the mini and a ~10 M-parameter Qwen2 configuration, and print each ratio (sets up a
        /// Python environment in target/bench-venv once; not part of CI)
        #[arg(long)]
        against_torch: bool,
        /// With --against-torch: runs of each side per configuration, alternating; the median
        /// is printed (the first run after a pause is often slower on a shared machine)
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        /// With --against-torch: timed training steps of each run, after one warm-up step on
        /// both sides (the first few steps of a process run slower than the rest, so short runs
        /// measure start-up more than training)
        #[arg(long, default_value_t = 20)]
        steps: usize,
        /// With --against-torch: cap PyTorch's kernels (MKL, oneDNN, ATen) at AVX2 + FMA, the
        /// SIMD level mlagent's kernels are pinned to (vendor/README.md), on a machine that has
        /// AVX-512
        #[arg(long)]
        torch_avx2: bool,
    },
    /// Everything CI runs: fmt, clippy, tests, and the smoke reproduction
    Ci,
    /// Type-check the GPU backends offline (`DOCS_RS=1` skips cuda's LLVM download)
    CheckGpu,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one folder below the workspace root")
        .to_path_buf()
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

fn run(mut cmd: Command) -> Result<()> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

fn main() -> ExitCode {
    match real_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Reproduce {
            target,
            profile,
            store,
            check,
            build,
        } => reproduce(
            target,
            profile,
            store,
            check,
            Build::choose(build, profile)?,
        ),
        Cmd::Bless {
            profile,
            target,
            store,
            build,
            spread_seeds,
        } => bless(
            target,
            profile,
            store,
            Build::choose(build, profile)?,
            spread_seeds,
        ),
        Cmd::Verify { store } => {
            let store = store.unwrap_or_else(|| root().join("target/mlagent/store"));
            let mut c = cargo();
            c.args(["run", "--quiet", "--bin", "mlagent", "--", "verify"])
                .arg(store);
            run(c)
        }
        Cmd::Bench {
            against_torch: true,
            repeats,
            steps,
            torch_avx2,
            ..
        } => against_torch(repeats, steps, torch_avx2),
        Cmd::Bench { filter, .. } => {
            let mut c = cargo();
            c.args([
                "run",
                "--release",
                "--quiet",
                "--bin",
                "mlagent",
                "--",
                "bench",
            ]);
            if let Some(f) = filter {
                c.arg(f);
            }
            run(c)
        }
        Cmd::Ci => ci(),
        Cmd::CheckGpu => check_gpu(),
    }
}

/// The configurations `bench --against-torch` compares: (name, config.json, batch, seq). The
/// mini policy (`lm::Qwen2Config::mini(2048)`) and a ~10 M-parameter Qwen2.
fn torch_bench_configs() -> Vec<(&'static str, String, usize, usize)> {
    let qwen2 = |hidden: usize,
                 ffn: usize,
                 layers: usize,
                 heads: usize,
                 kv: usize,
                 vocab: usize| {
        format!(
            r#"{{"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_act": "silu",
"vocab_size": {vocab}, "hidden_size": {hidden}, "intermediate_size": {ffn},
"num_hidden_layers": {layers}, "num_attention_heads": {heads}, "num_key_value_heads": {kv},
"max_position_embeddings": 4096, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
"tie_word_embeddings": true, "use_sliding_window": false, "torch_dtype": "float32"}}
"#
        )
    };
    let mini = qwen2(128, 352, 4, 4, 2, 2048);
    let ten_m = qwen2(256, 704, 8, 8, 2, 8192);
    vec![
        ("mini, batch 4 x 256", mini.clone(), 4, 256),
        ("mini, batch 8 x 256", mini, 8, 256),
        ("10M, batch 4 x 512", ten_m, 4, 512),
    ]
}

/// `bench --against-torch`: `mlagent lm bench` and python/bench_torch.py on the same
/// configurations, alternating `repeats` times in one run, and the ratios of their medians.
fn against_torch(repeats: usize, steps: usize, torch_avx2: bool) -> Result<()> {
    if repeats == 0 || steps == 0 {
        bail!("--repeats and --steps must be at least 1");
    }
    let steps = steps.to_string();
    let venv = root().join("target/bench-venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        let mut c = Command::new("python3");
        c.args(["-m", "venv"]).arg(&venv);
        run(c)?;
    }
    let marker = venv.join(".requirements");
    let wanted = std::fs::read_to_string(root().join("python/requirements-bench.txt"))?;
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(wanted.as_str()) {
        let mut c = Command::new(venv.join("bin/pip"));
        c.args(["install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(root().join("python/requirements-bench.txt"));
        run(c)?;
        std::fs::write(&marker, &wanted)?;
    }
    let mut build = cargo();
    build.args(["build", "--release", "--quiet", "--bin", "mlagent"]);
    run(build)?;
    let exe = root().join("target/release/mlagent");
    let json = |mut c: Command| -> Result<serde_json::Value> {
        eprintln!("xtask: running {c:?}");
        let out = c.output()?;
        if !out.status.success() {
            bail!("{c:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(serde_json::from_slice(&out.stdout)?)
    };
    println!(
        "{:<22} {:>10} {:>14} {:>14} {:>7} {:>12} {:>12} {:>7}",
        "configuration",
        "params",
        "train mlagent",
        "train torch",
        "ratio",
        "gen mlagent",
        "gen torch",
        "ratio"
    );
    for (name, config, batch, seq) in torch_bench_configs() {
        let dir = root()
            .join("target/bench-torch")
            .join(name.replace([' ', ','], "_"));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("config.json"), config)?;
        let (b, t) = (batch.to_string(), seq.to_string());
        let mut ours = Command::new(&exe);
        ours.args(["lm", "bench", "--model-dir"]).arg(&dir).args([
            "--batch",
            &b,
            "--seq",
            &t,
            "--steps",
            &steps,
            "--new-tokens",
            "64",
        ]);
        let mut theirs = Command::new(&python);
        if torch_avx2 {
            theirs
                .env("MKL_ENABLE_INSTRUCTIONS", "AVX2")
                .env("ONEDNN_MAX_CPU_ISA", "AVX2")
                .env("ATEN_CPU_CAPABILITY", "avx2");
        }
        theirs
            .arg(root().join("python/bench_torch.py"))
            .arg("--config-json")
            .arg(dir.join("config.json"))
            .args([
                "--batch",
                &b,
                "--seq",
                &t,
                "--steps",
                &steps,
                "--new-tokens",
                "64",
            ]);
        let (mut a, mut p) = (Vec::new(), Vec::new());
        for _ in 0..repeats {
            a.push(json(clone_command(&ours))?);
            p.push(json(clone_command(&theirs))?);
        }
        let runs = |side: &[serde_json::Value], k: &str| {
            side.iter()
                .map(|v| format!("{:.0}", v[k].as_f64().unwrap_or(f64::NAN)))
                .collect::<Vec<_>>()
                .join(" ")
        };
        eprintln!(
            "xtask: {name}: train mlagent [{}] torch [{}]; gen mlagent [{}] torch [{}]",
            runs(&a, "train_tokens_per_s"),
            runs(&p, "train_tokens_per_s"),
            runs(&a, "gen_tokens_per_s"),
            runs(&p, "gen_tokens_per_s"),
        );
        let f = |runs: &[serde_json::Value], k: &str| {
            median(
                runs.iter()
                    .map(|v| v[k].as_f64().unwrap_or(f64::NAN))
                    .collect(),
            )
        };
        println!(
            "{:<22} {:>10} {:>14.0} {:>14.0} {:>6.2}x {:>12.0} {:>12.0} {:>6.2}x",
            name,
            f(&a, "params"),
            f(&a, "train_tokens_per_s"),
            f(&p, "train_tokens_per_s"),
            f(&a, "train_tokens_per_s") / f(&p, "train_tokens_per_s"),
            f(&a, "gen_tokens_per_s"),
            f(&p, "gen_tokens_per_s"),
            f(&a, "gen_tokens_per_s") / f(&p, "gen_tokens_per_s"),
        );
    }
    Ok(())
}

/// A command with `c`'s program and arguments (a `Command` is spent by one run).
fn clone_command(c: &Command) -> Command {
    let mut d = Command::new(c.get_program());
    d.args(c.get_args());
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => d.env(k, v),
            None => d.env_remove(k),
        };
    }
    d
}

/// The middle value (the mean of the two middle ones for an even count).
fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// The regression golden of a profile and target.
fn golden_path(profile: Profile, target: Target) -> PathBuf {
    root()
        .join("golden")
        .join(profile.id())
        .join(format!("{}.ron", target.id()))
}

/// `cargo run [--release] --bin mlagent -- --store S reproduce <target> --profile <p>`.
fn mlagent_reproduce(
    target: Target,
    profile: Profile,
    store: Option<PathBuf>,
    build: Build,
) -> Command {
    let store = store.unwrap_or_else(|| root().join("target/mlagent/store"));
    let mut c = cargo();
    c.args(["run", "--quiet"]);
    if build == Build::Release {
        c.arg("--release");
    }
    c.args(["--bin", "mlagent", "--", "--store"])
        .arg(store)
        .args(["reproduce", target.id(), "--profile", profile.id()]);
    c
}

/// Runs (or reuses) the pipeline and prints the side-by-side table and verdicts; the last line
/// on stdout is mlagent's `report digest: <hex>`.
fn reproduce(
    target: Target,
    profile: Profile,
    store: Option<PathBuf>,
    check: bool,
    build: Build,
) -> Result<()> {
    let mut c = mlagent_reproduce(target, profile, store, build);
    if check {
        let g = golden_path(profile, target);
        if !g.is_file() {
            bail!(
                "no golden at {}: write one with `cargo xtask bless --profile {} --target {}`",
                g.display(),
                profile.id(),
                target.id()
            );
        }
        c.arg("--check").arg(g);
    }
    run(c)
}

/// Writes golden/<profile>/<target>.ron from a reproduction, with the digest and the exact
/// commit that produced it (mlagent refuses a tree with uncommitted changes).
fn bless(
    target: Target,
    profile: Profile,
    store: Option<PathBuf>,
    build: Build,
    spread_seeds: u32,
) -> Result<()> {
    let mut c = mlagent_reproduce(target, profile, store, build);
    c.arg("--bless")
        .arg(golden_path(profile, target))
        .arg("--spread-seeds")
        .arg(spread_seeds.to_string())
        .arg("--bless-command")
        .arg(format!(
            "cargo xtask bless --profile {} --target {} --spread-seeds {spread_seeds}",
            profile.id(),
            target.id()
        ));
    run(c)
}

fn ci() -> Result<()> {
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    run(fmt)?;
    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    run(clippy)?;
    let mut test = cargo();
    test.args(["nextest", "run", "--workspace", "--no-fail-fast"]);
    run(test)?;
    let mut doc = cargo();
    doc.args(["test", "--workspace", "--doc"]);
    run(doc)?;
    reproduce(Target::Table1, Profile::Smoke, None, true, Build::Dev)
}

fn check_gpu() -> Result<()> {
    let mut wgpu = cargo();
    wgpu.args(["check", "--features", "wgpu", "--all-targets"]);
    run(wgpu)?;
    let mut cuda = cargo();
    cuda.env("DOCS_RS", "1")
        .args(["check", "--features", "cuda", "--all-targets"]);
    run(cuda)
}
