"""The PyTorch side of `cargo xtask bench --against-torch`: the same measurement as
`mlagent lm bench` (src/lm/bench.rs) with transformers' Qwen2ForCausalLM / LlamaForCausalLM on
the CPU, printed as the same JSON line.

Training: forward + backward + AdamW on random tokens, every token a target, `steps` timed steps
after one warm-up step. Generation: KV-cached sampling of `new_tokens` tokens after `seq`-token
prompts (`generate`, temperature 1, no early stop).
"""

import argparse
import json
import resource
import time

import torch
import transformers


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--config-json", required=True, help="a Hugging Face config.json")
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--seq", type=int, required=True)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    cfg = transformers.AutoConfig.from_pretrained(a.config_json)
    cfg._attn_implementation = "eager"
    model = transformers.AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    params = sum(t.numel() for t in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ids = torch.randint(0, cfg.vocab_size, (a.batch, a.seq + 1))

    def step():
        opt.zero_grad(set_to_none=True)
        out = model(input_ids=ids[:, :-1], labels=ids[:, 1:].clone(), use_cache=False)
        # transformers shifts labels itself; the loss here counts seq - 1 targets per row,
        # within one token of mlagent's, which is what the throughput compares.
        out.loss.backward()
        opt.step()

    model.train()
    step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    train = a.batch * a.seq * a.steps / (time.perf_counter() - t0)

    model.eval()
    prompts = torch.randint(0, cfg.vocab_size, (a.batch, a.seq))
    with torch.no_grad():
        t0 = time.perf_counter()
        out = model.generate(
            prompts,
            attention_mask=torch.ones_like(prompts),
            max_new_tokens=a.new_tokens,
            min_new_tokens=a.new_tokens,
            do_sample=True,
            temperature=1.0,
            top_p=1.0,
            top_k=0,
            pad_token_id=0,
        )
        dt = time.perf_counter() - t0
    produced = (out.shape[1] - a.seq) * a.batch
    print(
        json.dumps(
            {
                "params": params,
                "train_tokens_per_s": train,
                "gen_tokens_per_s": produced / dt,
                "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            }
        )
    )


if __name__ == "__main__":
    main()
