//! Hugging Face interop: the transformers reference logits, save → load, the `lm logits` CLI.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use mlagent::lm::{Qwen2Config, hf, model};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/lm/qwen2-tiny-random")
}

#[derive(serde::Deserialize)]
struct Reference {
    token_ids: Vec<u32>,
    logits: Vec<Vec<f32>>,
}

fn reference() -> Reference {
    serde_json::from_slice(&std::fs::read(fixture().join("reference.json")).unwrap()).unwrap()
}

fn logits(m: &mlagent::lm::Qwen2, ids: &[u32], device: &Device) -> Vec<f32> {
    let t = model::token_tensor(&[ids.to_vec()], device).unwrap();
    m.forward(t, None).into_data().try_to_vec::<f32>().unwrap()
}

/// Source: transformers 5.23.0 eager forward (tests/data/lm/README.md). Tolerance 1e-4 per logit.
#[test]
fn matches_transformers_reference_logits() {
    let device = Device::flex();
    let (cfg, m) = hf::load(&fixture(), &device).unwrap();
    assert!(cfg.tie_word_embeddings);
    assert_eq!(cfg.rope_theta, 1e6);
    let r = reference();
    let got = logits(&m, &r.token_ids, &device);
    assert_eq!(got.len(), r.logits.len() * cfg.vocab_size);
    let mut worst = 0f32;
    for (row, want) in got.chunks(cfg.vocab_size).zip(&r.logits) {
        for (a, b) in row.iter().zip(want) {
            worst = worst.max((a - b).abs());
        }
    }
    eprintln!("max |Δlogit| vs transformers = {worst:e}");
    assert!(worst < 1e-4, "max |Δlogit| = {worst}");
}

#[test]
fn save_then_load_is_bit_identical_and_deterministic() {
    let device = Device::flex();
    let (cfg, m) = hf::load(&fixture(), &device).unwrap();
    let ids = reference().token_ids;
    let before = logits(&m, &ids, &device);
    let dir = tempfile::tempdir().unwrap();
    let d1 = hf::save(dir.path(), &cfg, &m).unwrap();
    let (cfg2, m2) = hf::load(dir.path(), &device).unwrap();
    assert_eq!(cfg2, cfg);
    let after = logits(&m2, &ids, &device);
    assert_eq!(
        before.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        after.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
    );
    // Same weights → same bytes.
    let d2 = hf::save(&dir.path().join("again"), &cfg2, &m2).unwrap();
    assert_eq!(d1, d2);
}

#[test]
fn untied_bf16_directory_loads() {
    // Write an untied bf16 checkpoint by hand (as PyTorch would) and check it loads with the
    // weights rounded to bf16.
    let device = Device::flex();
    let mut cfg = Qwen2Config::tiny(50);
    cfg.tie_word_embeddings = false;
    let m = mlagent::lm::Qwen2::init(&cfg, &mlagent::seed::SeedPath::root(3), &device).unwrap();
    let tensors = m.to_tensors();
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, t) in &tensors {
        let start = data.len();
        for v in &t.data {
            data.extend_from_slice(&((v.to_bits() >> 16) as u16).to_le_bytes());
        }
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": "BF16", "shape": t.shape, "data_offsets": [start, data.len()]}),
        );
    }
    header.insert("__metadata__".into(), serde_json::json!({"format": "pt"}));
    let h = serde_json::to_vec(&header).unwrap();
    let mut bytes = (h.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(&h);
    bytes.extend_from_slice(&data);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("model.safetensors"), bytes).unwrap();
    std::fs::write(dir.path().join("config.json"), cfg.to_hf_json()).unwrap();
    let (cfg2, m2) = hf::load(dir.path(), &device).unwrap();
    assert!(!cfg2.tie_word_embeddings);
    let back = m2.to_tensors();
    let head = &back["lm_head.weight"].data;
    for (a, b) in head.iter().zip(&tensors["lm_head.weight"].data) {
        assert_eq!(a.to_bits(), (b.to_bits() >> 16) << 16);
    }
}

#[test]
fn missing_and_misshapen_tensors_are_named() {
    let device = Device::flex();
    let cfg = Qwen2Config::tiny(50);
    let mut t = mlagent::lm::model::init_tensors(&cfg, &mlagent::seed::SeedPath::root(1));
    t.remove("model.layers.1.mlp.up_proj.weight");
    let e = mlagent::lm::Qwen2::from_tensors(&cfg, &t, &device)
        .unwrap_err()
        .to_string();
    assert!(e.contains("model.layers.1.mlp.up_proj.weight"), "{e}");
}

#[test]
fn cli_prints_reference_logits() {
    let r = reference();
    let ids: Vec<String> = r.token_ids.iter().map(u32::to_string).collect();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mlagent"))
        .args(["lm", "logits", "--model-dir"])
        .arg(fixture())
        .args(["--token-ids", &ids.join(",")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let obj = parsed.as_object().unwrap();
    assert_eq!(obj.keys().collect::<Vec<_>>(), vec!["logits"]);
    let rows: Vec<Vec<f32>> = serde_json::from_value(parsed["logits"].clone()).unwrap();
    assert_eq!(rows.len(), r.token_ids.len());
    for (row, want) in rows.iter().zip(&r.logits) {
        assert_eq!(row.len(), 96);
        for (a, b) in row.iter().zip(want) {
            assert!((a - b).abs() < 1e-4);
        }
    }
    // Out-of-vocabulary ids are an error, not a panic.
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_mlagent"))
        .args(["lm", "logits", "--model-dir"])
        .arg(fixture())
        .args(["--token-ids", "1,999"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("999"));
}

#[test]
fn param_count_formula_matches_the_tensors() {
    for cfg in [Qwen2Config::tiny(96), Qwen2Config::mini(2048), {
        let mut c = Qwen2Config::tiny(50);
        c.tie_word_embeddings = false;
        c
    }] {
        let n: usize = model::tensor_shapes(&cfg)
            .values()
            .map(|s| s.iter().product::<usize>())
            .sum();
        assert_eq!(n, cfg.num_params());
    }
}

#[test]
fn sharded_directory_loads_like_the_single_file() {
    let device = Device::flex();
    let (cfg, m) = hf::load(&fixture(), &device).unwrap();
    let tensors = m.to_tensors();
    let dir = tempfile::tempdir().unwrap();
    let mut shards = [
        std::collections::BTreeMap::new(),
        std::collections::BTreeMap::new(),
    ];
    let mut weight_map = serde_json::Map::new();
    for (i, (name, t)) in tensors.into_iter().enumerate() {
        let shard = format!("model-0000{}-of-00002.safetensors", i % 2 + 1);
        weight_map.insert(name.clone(), shard.into());
        shards[i % 2].insert(name, t);
    }
    for (i, s) in shards.iter().enumerate() {
        let path = dir
            .path()
            .join(format!("model-0000{}-of-00002.safetensors", i + 1));
        std::fs::write(path, mlagent::lm::safetensors::serialize(s)).unwrap();
    }
    let index = serde_json::json!({"metadata": {}, "weight_map": weight_map});
    std::fs::write(dir.path().join(hf::INDEX_FILE), index.to_string()).unwrap();
    std::fs::write(dir.path().join(hf::CONFIG_FILE), cfg.to_hf_json()).unwrap();
    let (_, m2) = hf::load(dir.path(), &device).unwrap();
    let ids = reference().token_ids;
    assert_eq!(logits(&m, &ids, &device), logits(&m2, &ids, &device));
}

#[test]
fn cli_generate_is_seeded() {
    let run = |seed: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_mlagent"))
            .args(["lm", "generate", "--model-dir"])
            .arg(fixture())
            .args([
                "--token-ids",
                "3,52,81",
                "--seed",
                seed,
                "--max-new-tokens",
                "8",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["tokens"].as_array().unwrap().len(), 8);
        assert_eq!(v["logprobs"].as_array().unwrap().len(), 8);
        v
    };
    assert_eq!(run("1"), run("1"));
    assert_ne!(run("1")["tokens"], run("2")["tokens"]);
}

/// A copy of the fixture directory with its `config.json` edited by `edit`.
fn fixture_with_config(edit: impl Fn(&mut serde_json::Value)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(fixture().join(f), dir.path().join(f)).unwrap();
    }
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture().join("config.json")).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(dir.path().join("config.json"), v.to_string()).unwrap();
    dir
}

/// `mlagent lm ARGS...`: (success, stdout, stderr).
fn lm_cli(args: &[&str], dir: &Path) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mlagent"))
        .arg("lm")
        .arg(args[0])
        .arg("--model-dir")
        .arg(dir)
        .args(&args[1..])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn non_positive_norm_epsilon_and_rope_theta_are_refused_naming_the_field() {
    for (field, value) in [("rms_norm_eps", -1.0), ("rms_norm_eps", 0.0)] {
        let dir = fixture_with_config(|v| v[field] = value.into());
        let (ok, out, err) = lm_cli(&["logits", "--token-ids", "1,2"], dir.path());
        assert!(!ok, "{field} = {value}: {out}");
        assert!(err.contains(field) && err.contains("config.json"), "{err}");
    }
    let dir = fixture_with_config(|v| v["rope_parameters"]["rope_theta"] = 0.0.into());
    let (ok, out, err) = lm_cli(&["logits", "--token-ids", "1,2"], dir.path());
    assert!(!ok, "{out}");
    assert!(err.contains("rope_theta"), "{err}");
}

#[test]
fn a_billion_layers_is_an_error_not_an_allocation_abort() {
    let dir = fixture_with_config(|v| v["num_hidden_layers"] = 1_000_000_000u64.into());
    let (ok, _, err) = lm_cli(&["logits", "--token-ids", "1,2"], dir.path());
    assert!(!ok);
    assert!(
        err.contains("error:") && err.contains("num_hidden_layers"),
        "{err}"
    );
}

#[test]
fn nan_weights_are_refused_naming_the_tensor() {
    let device = Device::flex();
    let (cfg, m) = hf::load(&fixture(), &device).unwrap();
    let mut t = m.to_tensors();
    t.get_mut("model.layers.1.mlp.up_proj.weight").unwrap().data[7] = f32::NAN;
    let poisoned = mlagent::lm::Qwen2::from_tensors(&cfg, &t, &device).unwrap();
    let dir = tempfile::tempdir().unwrap();
    hf::save(dir.path(), &cfg, &poisoned).unwrap();
    let (ok, out, err) = lm_cli(&["logits", "--token-ids", "1,2"], dir.path());
    assert!(!ok, "{out}");
    assert!(
        err.contains("model.layers.1.mlp.up_proj.weight") && err.contains("NaN"),
        "{err}"
    );
}

#[test]
fn non_finite_logits_name_the_layer_where_they_first_appear() {
    let device = Device::flex();
    let (cfg, m) = hf::load(&fixture(), &device).unwrap();
    let mut t = m.to_tensors();
    t.get_mut("model.layers.1.mlp.down_proj.weight")
        .unwrap()
        .data[3] = f32::INFINITY;
    let poisoned = mlagent::lm::Qwen2::from_tensors(&cfg, &t, &device).unwrap();
    let tokens = model::token_tensor(&[vec![1, 2, 3]], &device).unwrap();
    let out = poisoned
        .forward(tokens.clone(), None)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let e = mlagent::lm::finite::check_logits(&poisoned, tokens, &out)
        .unwrap_err()
        .to_string();
    assert!(e.contains("layer 1's MLP"), "{e}");
    // Finite logits pass.
    let tokens = model::token_tensor(&[vec![1, 2, 3]], &device).unwrap();
    let out = logits(&m, &[1, 2, 3], &device);
    mlagent::lm::finite::check_logits(&m, tokens, &out).unwrap();
}

#[test]
fn more_token_ids_than_positions_is_an_error() {
    // The fixture has 256 positions.
    let ids = vec!["1"; 300].join(",");
    let (ok, _, err) = lm_cli(&["logits", "--token-ids", &ids], &fixture());
    assert!(!ok);
    assert!(
        err.contains("--token-ids") && err.contains("max_position_embeddings 256"),
        "{err}"
    );
    let (ok, _, err) = lm_cli(
        &["generate", "--token-ids", &ids, "--max-new-tokens", "4"],
        &fixture(),
    );
    assert!(!ok);
    assert!(err.contains("max_position_embeddings 256"), "{err}");
}

#[test]
fn negative_or_non_finite_temperature_is_refused() {
    for t in ["-1", "NaN", "inf"] {
        let (ok, out, err) = lm_cli(
            &["generate", "--token-ids", "1,2", "--temperature", t],
            &fixture(),
        );
        assert!(!ok, "--temperature {t}: {out}");
        assert!(err.contains("--temperature"), "{err}");
    }
    // The library refuses it too: a negative temperature would act as greedy decoding.
    let device = Device::flex();
    let (_, m) = hf::load(&fixture(), &device).unwrap();
    let cfg = mlagent::lm::generate::SamplingConfig {
        temperature: -1.0,
        top_p: 1.0,
        max_new_tokens: 2,
        stop_tokens: Vec::new(),
    };
    let seed = mlagent::seed::SeedPath::root(0);
    let e = mlagent::lm::generate::generate(&m, &[vec![1, 2]], &cfg, &seed, 0, &device)
        .unwrap_err()
        .to_string();
    assert!(e.contains("temperature"), "{e}");
}

/// `mlagent lm bench` (a contract): one JSON line with the four figures, from a model folder's
/// `config.json` or a named configuration.
#[test]
fn lm_bench_prints_one_json_line_with_its_four_figures() {
    for args in [
        vec!["--model-dir".to_string(), fixture().display().to_string()],
        vec!["--config".to_string(), "tiny".to_string()],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_mlagent"))
            .args(["lm", "bench"])
            .args(&args)
            .args([
                "--batch",
                "1",
                "--seq",
                "8",
                "--steps",
                "1",
                "--new-tokens",
                "4",
            ])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(stdout.lines().count(), 1, "{stdout}");
        let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
        for key in [
            "params",
            "train_tokens_per_s",
            "gen_tokens_per_s",
            "peak_rss_mib",
        ] {
            assert!(v[key].as_f64().is_some_and(|x| x > 0.0), "{key}: {stdout}");
        }
    }
}
