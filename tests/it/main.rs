//! The integration tests: one crate, so burn, tokenizers and git2 are linked once. Each module
//! is one area of the library or the CLI; `support` holds what several share.

mod api_agent;
mod cli_refusals;
mod env_determinism;
mod env_python;
mod env_step;
mod env_tasks;
mod fuzz_configs;
mod fuzz_inputs;
mod interrupt_stages;
mod lm_chat;
mod lm_generate;
mod lm_hf;
mod lm_train;
mod machine_independence;
mod metrics_cli;
mod metrics_properties;
mod metrics_reference;
mod provenance_props;
mod provenance_store;
mod report_claims;
mod report_golden;
mod report_render;
mod reproduce_pipeline;
mod reproduce_python;
mod reward_properties;
mod sandbox;
mod serve_openai;
mod sft_stage;
mod stages_eval;
mod stages_expert;
mod stages_rl;
mod support;
mod tasks_prepare;
mod tasks_registry;
mod tidy;
