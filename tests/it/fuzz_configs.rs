//! Generated hostile experiment configs and task files at scale: the shipped files with one
//! mutation each (a number or string swapped for a hostile one, a line dropped or doubled,
//! junk inserted). Every file either loads or is rejected naming the file and the field (or the
//! line and column); none panics, aborts or takes more than its bound.

use std::path::Path;
use std::time::{Duration, Instant};

use mlagent::config::{ConfigError, Experiment};
use mlagent::tasks::Registry;
use proptest::prelude::*;

const BOUND: Duration = Duration::from_secs(2);

/// A byte range of the text.
type Span = (usize, usize);

/// Byte spans of number literals and string literals in RON text.
fn literals(text: &str) -> (Vec<Span>, Vec<Span>) {
    let b = text.as_bytes();
    let (mut numbers, mut strings) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                let start = i;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                strings.push((start, (i + 1).min(b.len())));
                i += 1;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            c if c.is_ascii_digit()
                && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) =>
            {
                let start = if i > 0 && b[i - 1] == b'-' { i - 1 } else { i };
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b".+-_".contains(&b[i])) {
                    i += 1;
                }
                numbers.push((start, i));
            }
            _ => i += 1,
        }
    }
    (numbers, strings)
}

#[derive(Clone, Debug)]
enum Mutation {
    Number(usize, &'static str),
    Str(usize, String),
    DropLine(usize),
    DoubleLine(usize),
    Insert(usize, String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let number = prop::sample::select(vec![
        "0",
        "-1",
        "1",
        "2.0",
        "5.0",
        "0.5",
        "1e12",
        "1e9",
        "1e999",
        "-1e308",
        "NaN",
        "inf",
        "18446744073709551616",
        "4294967296",
        "-0.0",
        "1e-300",
        "0.0",
    ]);
    let string = prop_oneof![
        Just(String::new()),
        Just("../../../../etc/passwd".to_string()),
        Just("/dev/zero".to_string()),
        Just("no-such-task".to_string()),
        Just("qwen2.5-700b".to_string()),
        "\\PC{0,12}",
        "[a-z]{300}",
    ];
    prop_oneof![
        (any::<usize>(), number).prop_map(|(i, n)| Mutation::Number(i, n)),
        (any::<usize>(), string).prop_map(|(i, s)| Mutation::Str(i, s)),
        any::<usize>().prop_map(Mutation::DropLine),
        any::<usize>().prop_map(Mutation::DoubleLine),
        (any::<usize>(), "[ -~]{1,8}").prop_map(|(i, s)| Mutation::Insert(i, s)),
    ]
}

fn mutate(text: &str, m: &Mutation) -> String {
    let (numbers, strings) = literals(text);
    let lines: Vec<&str> = text.lines().collect();
    let splice = |(a, b): Span, with: &str| format!("{}{with}{}", &text[..a], &text[b..]);
    match m {
        Mutation::Number(i, n) => splice(numbers[i % numbers.len()], n),
        Mutation::Str(i, s) => splice(strings[i % strings.len()], &format!("{s:?}")),
        Mutation::DropLine(i) => {
            let k = i % lines.len();
            let mut l = lines.clone();
            l.remove(k);
            l.join("\n")
        }
        Mutation::DoubleLine(i) => {
            let k = i % lines.len();
            let mut l = lines.clone();
            l.insert(k, lines[k]);
            l.join("\n")
        }
        Mutation::Insert(i, s) => {
            let mut at = i % (text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            format!("{}{s}{}", &text[..at], &text[at..])
        }
    }
}

fn shipped(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    /// A mutated profile loads (and then passes every check `config check` makes) or is
    /// refused naming the file and the field, or the line and column.
    #[test]
    fn mutated_experiment_configs_load_or_are_refused_naming_the_field(
        profile in prop::sample::select(vec!["smoke", "mini", "paper"]),
        m in mutation(),
    ) {
        let text = mutate(&shipped(&format!("experiments/{profile}.ron")), &m);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("{profile}.ron"));
        std::fs::write(&path, &text).unwrap();
        let t = Instant::now();
        let loaded = Experiment::load(&path);
        prop_assert!(t.elapsed() < BOUND, "took {:?}", t.elapsed());
        if let Err(e) = loaded {
            let msg = e.to_string();
            prop_assert!(msg.contains(&path.display().to_string()), "{m:?}: {msg}");
            match e {
                ConfigError::Invalid { field, .. } => prop_assert!(!field.is_empty()),
                ConfigError::Parse { line, .. } => prop_assert!(line >= 1, "{msg}"),
                ConfigError::Read { .. } => prop_assert!(false, "the file exists: {msg}"),
            }
        }
    }

    /// A mutated task file loads or is refused naming the task (or file) and the field.
    #[test]
    fn mutated_task_files_load_or_are_refused_naming_the_field(
        task in prop::sample::select(vec!["house-price", "cifar-10", "denoising", "aerial-cactus"]),
        m in mutation(),
    ) {
        let text = mutate(&shipped(&format!("tasks/{task}.ron")), &m);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("{task}.ron"));
        std::fs::write(&path, &text).unwrap();
        let t = Instant::now();
        let loaded = Registry::load(dir.path());
        prop_assert!(t.elapsed() < BOUND, "took {:?}", t.elapsed());
        if let Err(e) = loaded {
            let msg = e.to_string();
            prop_assert!(
                msg.contains(&path.display().to_string()) || msg.contains(task) || msg.contains("field"),
                "{m:?}: {msg}"
            );
        }
    }
}
