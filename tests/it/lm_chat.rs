//! Tokenizer training and the chat template.

use crate::support::lm as lm_support;

use mlagent::lm::chat::{Message, Role, Step, fit_prompt, omission_note, render, stop_tokens};
use mlagent::lm::tokenizer::ChatTokenizer;

fn corpus() -> Vec<String> {
    let mut c = Vec::new();
    for i in 0..60 {
        c.push(format!(
            "Thought: the model underfits; add a hidden layer number {i}\nAction: Edit Script\n\
             Action Input: model = mlp; hidden = {}\n",
            16 * (i % 8 + 1)
        ));
        c.push(format!(
            "Validation accuracy improved to 0.{i:02} after training for {} epochs.",
            i % 5 + 1
        ));
    }
    c
}

#[test]
fn bpe_training_is_deterministic_and_round_trips() {
    let a = ChatTokenizer::train_bpe(&corpus(), 400).unwrap();
    let b = ChatTokenizer::train_bpe(&corpus(), 400).unwrap();
    assert_eq!(a.to_json_bytes().unwrap(), b.to_json_bytes().unwrap());
    assert_eq!(a.digest().unwrap(), b.digest().unwrap());
    assert!(
        a.vocab_size() > 256 && a.vocab_size() <= 400,
        "{}",
        a.vocab_size()
    );
    assert_eq!((a.end_of_text, a.im_start, a.im_end), (0, 1, 2));
    let text = "Action: Edit Script\nAction Input: lr = 0.01 — ünïcode ok";
    let ids = a.encode(text).unwrap();
    assert_eq!(a.decode(&ids, false).unwrap(), text);
    // Merges were learnt: frequent text takes fewer tokens than bytes.
    assert!(a.encode("Action: Edit Script").unwrap().len() < 8);
    // Save → load gives the same tokenizer (and bytes).
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("tokenizer.json");
    let d = a.save(&p).unwrap();
    let c = ChatTokenizer::load(&p).unwrap();
    assert_eq!(c.digest().unwrap(), d);
    assert_eq!(c.encode(text).unwrap(), ids);
}

#[test]
fn script_keys_with_underscores_become_single_tokens() {
    let mut c = corpus();
    for i in 0..20 {
        c.push(format!(
            "learning_rate = 0.{i}; weight_decay = 0.0; batch_size = {i}"
        ));
    }
    let tok = ChatTokenizer::train_bpe(&c, 400).unwrap();
    for key in ["learning_rate", " weight_decay", " batch_size"] {
        assert_eq!(tok.encode(key).unwrap().len(), 1, "{key:?} is one token");
    }
    // An invented key cannot reuse a learnt key's tail as a token: `_rate` is no token.
    let weird = tok.encode(" weight_rate").unwrap();
    assert!(weird.len() > 1);
    assert_eq!(tok.decode(&weird, false).unwrap(), " weight_rate");
}

#[test]
fn numbers_split_into_single_digits() {
    let mut c = corpus();
    for _ in 0..20 {
        c.push("validation rmse = 2.301840, better than 2.305838; epochs = 128".to_string());
    }
    let tok = ChatTokenizer::train_bpe(&c, 400).unwrap();
    // However often a number occurs, it is never one token: a metric value never seen in
    // training is made of the same (trained) digit tokens as the ones that were.
    for (text, tokens) in [(" 2.301840", 8), ("128", 3), (" 2", 1), ("9", 1)] {
        let ids = tok.encode(text).unwrap();
        assert_eq!(ids.len(), tokens, "{text:?}: {ids:?}");
        assert_eq!(tok.decode(&ids, false).unwrap(), text);
    }
    assert_eq!(
        tok.encode(" 2.301840").unwrap()[0],
        tok.encode(" 2").unwrap()[0]
    );
}

#[test]
fn template_renders_qwen_chatml_with_assistant_mask() {
    let tok = ChatTokenizer::train_bpe(&corpus(), 400).unwrap();
    let msgs = vec![
        Message::new(Role::System, "You are an ML agent."),
        Message::new(Role::User, "Task: improve accuracy."),
        Message::new(Role::Assistant, "Action: Edit Script"),
        Message::new(Role::User, "accuracy 0.9"),
    ];
    let r = render(&tok, &msgs, true).unwrap();
    assert_eq!(r.ids.len(), r.assistant_mask.len());
    let text = tok.decode(&r.ids, false).unwrap();
    assert_eq!(
        text,
        "<|im_start|>system\nYou are an ML agent.<|im_end|><|endoftext|>\n\
         <|im_start|>user\nTask: improve accuracy.<|im_end|><|endoftext|>\n\
         <|im_start|>assistant\nAction: Edit Script<|im_end|><|endoftext|>\n\
         <|im_start|>user\naccuracy 0.9<|im_end|><|endoftext|>\n\
         <|im_start|>assistant\n"
    );
    let masked: Vec<u32> = r
        .ids
        .iter()
        .zip(&r.assistant_mask)
        .filter(|p| *p.1)
        .map(|p| *p.0)
        .collect();
    assert_eq!(
        tok.decode(&masked, false).unwrap(),
        "Action: Edit Script<|im_end|><|endoftext|>\n"
    );
    assert_eq!(stop_tokens(&tok), vec![tok.im_end, tok.end_of_text]);
}

#[test]
fn fitting_drops_oldest_history_and_says_so() {
    let tok = ChatTokenizer::train_bpe(&corpus(), 400).unwrap();
    let history: Vec<Step> = (0..6)
        .map(|i| Step {
            action: format!("Action: Edit Script {i}"),
            feedback: format!("accuracy 0.{i}"),
        })
        .collect();
    let all = fit_prompt(&tok, "sys", "task", &history, 100_000).unwrap();
    assert_eq!(all.dropped_steps, 0);
    let budget = all.rendered.ids.len() - 10;
    let fitted = fit_prompt(&tok, "sys", "task", &history, budget).unwrap();
    assert!(fitted.dropped_steps >= 1);
    assert!(fitted.rendered.ids.len() <= budget);
    let text = tok.decode(&fitted.rendered.ids, false).unwrap();
    assert!(text.contains(&omission_note(fitted.dropped_steps)));
    // The newest step survives, the oldest dropped one does not.
    assert!(text.contains("Edit Script 5"));
    assert!(!text.contains("Edit Script 0"));
    assert_eq!(
        fitted,
        fit_prompt(&tok, "sys", "task", &history, budget).unwrap()
    );
    assert!(fit_prompt(&tok, "sys", "task", &history, 5).is_err());
}

/// Run by [`bpe_training_is_identical_across_processes`]: prints the trained tokenizer's digest.
#[test]
#[ignore = "a helper: bpe_training_is_identical_across_processes runs it in a child process"]
fn child_tokenizer_digest() {
    assert!(
        std::env::var_os("MLAGENT_LM_CHILD").is_some(),
        "a helper of bpe_training_is_identical_across_processes, which sets MLAGENT_LM_CHILD"
    );
    let t = ChatTokenizer::train_bpe(&corpus(), 400).unwrap();
    println!("DIGEST={}", t.digest().unwrap());
}

/// The `tokenizers` trainer uses per-process random hash seeds; the result must not depend on
/// them (two processes, two RAYON thread counts).
#[test]
fn bpe_training_is_identical_across_processes() {
    assert_eq!(
        lm_support::child_digest_line(
            &crate::support::test_name(module_path!(), "child_tokenizer_digest"),
            "1"
        ),
        lm_support::child_digest_line(
            &crate::support::test_name(module_path!(), "child_tokenizer_digest"),
            "2"
        )
    );
}

proptest::proptest! {
    /// Any text survives encode → decode (the byte alphabet covers every byte).
    #[test]
    fn any_text_round_trips(text in "\\PC{0,80}") {
        let tok = trained();
        let ids = tok.encode(&text).unwrap();
        proptest::prop_assert_eq!(tok.decode(&ids, false).unwrap(), text);
    }
}

fn trained() -> &'static ChatTokenizer {
    static TOK: std::sync::OnceLock<ChatTokenizer> = std::sync::OnceLock::new();
    TOK.get_or_init(|| ChatTokenizer::train_bpe(&corpus(), 400).unwrap())
}
