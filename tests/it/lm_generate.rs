//! KV-cached generation: equals the full forward, padding-invariant, seeded.

use burn::tensor::Device;
use mlagent::lm::generate::{SamplingConfig, generate};
use mlagent::lm::model::{KvCache, Positions, token_tensor};
use mlagent::lm::value::ValueHead;
use mlagent::lm::{Qwen2, Qwen2Config, hf};
use mlagent::seed::SeedPath;

fn fixture_model(device: &Device) -> (Qwen2Config, Qwen2) {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/lm/qwen2-tiny-random");
    hf::load(&dir, device).unwrap()
}

fn flat(t: burn::tensor::Tensor<3>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn kv_cache_logits_equal_full_forward() {
    let device = Device::flex();
    let (cfg, m) = fixture_model(&device);
    let ids: Vec<u32> = vec![3, 52, 81, 9, 37, 58, 40, 51, 8, 31];
    let full = flat(m.forward(
        token_tensor(std::slice::from_ref(&ids), &device).unwrap(),
        None,
    ));
    // Prefill 4 tokens, then feed one at a time.
    let mut cache = KvCache::default();
    let hd = cfg.head_dim();
    let pos = Positions::causal(1, 4, hd, cfg.rope_theta, &device);
    let mut got = flat(m.head(m.hidden(
        token_tensor(&[ids[..4].to_vec()], &device).unwrap(),
        &pos,
        Some(&mut cache),
    )));
    for (i, &id) in ids.iter().enumerate().skip(4) {
        let pos = Positions::new(
            &[vec![i]],
            &[vec![false; i + 1]],
            hd,
            cfg.rope_theta,
            &device,
        );
        let h = m.hidden(
            token_tensor(&[vec![id]], &device).unwrap(),
            &pos,
            Some(&mut cache),
        );
        got.extend(flat(m.head(h)));
    }
    assert_eq!(got.len(), full.len());
    let worst = got
        .iter()
        .zip(&full)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(worst < 1e-5, "max |Δ| = {worst}");
}

#[test]
fn left_padding_does_not_change_a_row() {
    let device = Device::flex();
    let (_, m) = fixture_model(&device);
    let cfg = SamplingConfig {
        temperature: 0.0,
        top_p: 1.0,
        max_new_tokens: 6,
        stop_tokens: vec![],
    };
    let short = vec![5u32, 6, 7];
    let long = vec![1u32, 2, 3, 4, 5, 6, 7, 8];
    let alone = generate(
        &m,
        std::slice::from_ref(&short),
        &cfg,
        &SeedPath::root(0),
        0,
        &device,
    )
    .unwrap();
    let batched = generate(&m, &[long, short], &cfg, &SeedPath::root(0), 0, &device).unwrap();
    assert_eq!(alone[0].tokens, batched[1].tokens);
    for (a, b) in alone[0].logprobs.iter().zip(&batched[1].logprobs) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
}

#[test]
fn same_seed_same_text_and_stop_tokens_end_rows() {
    let device = Device::flex();
    let (_, m) = fixture_model(&device);
    let cfg = SamplingConfig {
        temperature: 1.0,
        top_p: 0.9,
        max_new_tokens: 12,
        stop_tokens: vec![],
    };
    let prompts = vec![vec![3u32, 52, 81], vec![9u32]];
    let a = generate(&m, &prompts, &cfg, &SeedPath::root(7), 0, &device).unwrap();
    let b = generate(&m, &prompts, &cfg, &SeedPath::root(7), 0, &device).unwrap();
    let c = generate(&m, &prompts, &cfg, &SeedPath::root(8), 0, &device).unwrap();
    assert_eq!(a, b);
    assert_ne!(a[0].tokens, c[0].tokens);
    assert!(a.iter().all(|g| g.tokens.len() == 12 && !g.stopped));
    assert!(
        a.iter()
            .flat_map(|g| &g.logprobs)
            .all(|&lp| lp <= 0.0 && lp.is_finite())
    );
    // Stopping on the third sampled token of row 0 ends that row there.
    let stop = a[0].tokens[2];
    let first_stop = a[0].tokens.iter().position(|&t| t == stop).unwrap();
    let cfg2 = SamplingConfig {
        stop_tokens: vec![stop],
        ..cfg
    };
    let s = generate(&m, &prompts, &cfg2, &SeedPath::root(7), 0, &device).unwrap();
    assert!(s[0].stopped);
    assert_eq!(s[0].tokens, a[0].tokens[..=first_stop].to_vec());
}

#[test]
fn logprobs_match_the_forward_pass() {
    let device = Device::flex();
    let (cfg, m) = fixture_model(&device);
    let sc = SamplingConfig {
        temperature: 0.7,
        top_p: 0.95,
        max_new_tokens: 5,
        stop_tokens: vec![],
    };
    let prompt = vec![3u32, 52, 81];
    let g = generate(
        &m,
        std::slice::from_ref(&prompt),
        &sc,
        &SeedPath::root(1),
        0,
        &device,
    )
    .unwrap();
    let mut seq = prompt.clone();
    seq.extend(&g[0].tokens);
    let logits = flat(m.forward(token_tensor(&[seq.clone()], &device).unwrap(), None));
    let v = cfg.vocab_size;
    for (i, (&tok, &lp)) in g[0].tokens.iter().zip(&g[0].logprobs).enumerate() {
        let row = &logits[(prompt.len() - 1 + i) * v..(prompt.len() + i) * v];
        let max = row.iter().copied().fold(f32::MIN, f32::max) as f64;
        let lse = max
            + row
                .iter()
                .map(|&x| (x as f64 - max).exp())
                .sum::<f64>()
                .ln();
        let want = row[tok as usize] as f64 - lse;
        assert!((lp as f64 - want).abs() < 1e-4, "{lp} vs {want}");
    }
}

#[test]
fn bad_sampling_inputs_are_errors() {
    let device = Device::flex();
    let (_, m) = fixture_model(&device);
    let cfg = SamplingConfig {
        temperature: 1.0,
        top_p: 0.0,
        max_new_tokens: 2,
        stop_tokens: vec![],
    };
    assert!(generate(&m, &[vec![1]], &cfg, &SeedPath::root(0), 0, &device).is_err());
    let cfg = SamplingConfig { top_p: 1.0, ..cfg };
    assert!(generate(&m, &[vec![]], &cfg, &SeedPath::root(0), 0, &device).is_err());
    assert!(generate(&m, &[vec![500]], &cfg, &SeedPath::root(0), 0, &device).is_err());
}

#[test]
fn value_head_reads_the_last_real_token() {
    let device = Device::flex();
    let (cfg, m) = fixture_model(&device);
    let head = ValueHead::init(cfg.hidden_size, &SeedPath::root(2), &device);
    let a = vec![3u32, 52, 81, 9];
    let padded = vec![3u32, 52, 81, 9, 0, 0];
    let v1 = head
        .values(&m, std::slice::from_ref(&a), &[4], &device)
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let v2 = head
        .values(&m, &[padded, vec![9, 9, 9, 9, 9, 9]], &[4, 6], &device)
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    assert_eq!(v2.len(), 2);
    assert!((v1[0] - v2[0]).abs() < 1e-5);
    assert!(head.values(&m, &[a], &[5], &device).is_err());
}

#[test]
fn forward_with_left_padding_matches_the_unpadded_row() {
    let device = Device::flex();
    let (cfg, m) = fixture_model(&device);
    let ids = vec![3u32, 52, 81, 9, 37];
    let alone = flat(m.forward(
        token_tensor(std::slice::from_ref(&ids), &device).unwrap(),
        None,
    ));
    let mut padded = vec![0u32, 0, 0];
    padded.extend(&ids);
    let mask: Vec<bool> = (0..8).map(|i| i < 3).collect();
    let mask = burn::tensor::Tensor::<2, burn::tensor::Bool>::from_data(
        burn::tensor::TensorData::new(mask, [1, 8]),
        &device,
    );
    let got = flat(m.forward(token_tensor(&[padded], &device).unwrap(), Some(mask)));
    assert!(got.iter().all(|x| x.is_finite()));
    let v = cfg.vocab_size;
    let worst = got[3 * v..]
        .iter()
        .zip(&alone)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(worst < 1e-5, "{worst}");
}

#[test]
fn value_head_gets_gradients() {
    use burn::optim::GradientsParams;
    let device = Device::flex().autodiff();
    let cfg = Qwen2Config::tiny(30);
    let m = Qwen2::init(&cfg, &SeedPath::root(1), &device).unwrap();
    let head = ValueHead::init(cfg.hidden_size, &SeedPath::root(2), &device);
    let v = head.values(&m, &[vec![1, 2, 3]], &[3], &device).unwrap();
    let loss = (v - 1.0).powf_scalar(2.0).sum();
    let grads = GradientsParams::from_grads(loss.backward(), &head);
    assert_eq!(grads.len(), 2);
}
