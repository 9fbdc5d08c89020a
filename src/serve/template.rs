//! The chat template a served model reads its prompt in: the model folder's own Hugging Face
//! template (`chat_template` in `tokenizer_config.json`, Jinja, rendered by minijinja with
//! Python's string methods) when it has one, else this project's ChatML (`lm::chat`), the
//! template every policy folder this project writes was trained with.

use std::path::Path;

use crate::lm::LmError;
use crate::lm::chat::{self, Message, Role};
use crate::lm::tokenizer::ChatTokenizer;

/// `tokenizer_config.json` of a Hugging Face model folder.
pub(crate) const TOKENIZER_CONFIG_FILE: &str = "tokenizer_config.json";

/// Largest `tokenizer_config.json` read (the published ones are tens of kB).
const CONFIG_LIMIT: u64 = 16 << 20;

#[derive(Clone, Debug)]
pub(crate) enum ChatTemplate {
    /// `lm::chat::render`, with a generation prompt.
    ChatMl,
    /// A Hugging Face Jinja template and the special tokens it may print.
    Jinja {
        source: String,
        bos_token: String,
        eos_token: String,
    },
}

fn token_text(v: Option<&serde_json::Value>) -> String {
    match v {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Object(o)) => o
            .get("content")
            .and_then(|c| c.as_str())
            .unwrap_or_default()
            .to_string(),
        _ => String::new(),
    }
}

impl ChatTemplate {
    /// The template of model folder `dir`.
    pub fn load(dir: &Path) -> Result<Self, LmError> {
        let path = dir.join(TOKENIZER_CONFIG_FILE);
        if std::fs::symlink_metadata(&path).is_err() {
            return Ok(Self::ChatMl);
        }
        let bytes = crate::provenance::files::read_bounded(&path, CONFIG_LIMIT)
            .map_err(|e| LmError::io(&path, e))?;
        let cfg: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| LmError::Config(format!("{}: {e}", path.display())))?;
        let source = match cfg.get("chat_template") {
            None | Some(serde_json::Value::Null) => return Ok(Self::ChatMl),
            Some(serde_json::Value::String(s)) => s.clone(),
            // A list of named templates: the one named "default".
            Some(serde_json::Value::Array(list)) => list
                .iter()
                .find(|t| t.get("name").and_then(|n| n.as_str()) == Some("default"))
                .and_then(|t| t.get("template"))
                .and_then(|t| t.as_str())
                .map(str::to_string)
                .ok_or_else(|| {
                    LmError::Config(format!(
                        "{}: field `chat_template`: expected a string or a list holding a \
                         template named \"default\"",
                        path.display()
                    ))
                })?,
            Some(_) => {
                return Err(LmError::Config(format!(
                    "{}: field `chat_template`: expected a string",
                    path.display()
                )));
            }
        };
        let t = Self::Jinja {
            source,
            bos_token: token_text(cfg.get("bos_token")),
            eos_token: token_text(cfg.get("eos_token")),
        };
        // Fail at load, not at the first request, on a template that does not compile.
        t.environment()
            .map_err(|e| LmError::Config(format!("{}: `chat_template`: {e}", path.display())))?;
        Ok(t)
    }

    fn environment(&self) -> Result<minijinja::Environment<'static>, minijinja::Error> {
        let mut env = minijinja::Environment::new();
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |msg: String| -> Result<String, minijinja::Error> {
                Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    msg,
                ))
            },
        );
        if let Self::Jinja { source, .. } = self {
            env.add_template_owned("chat", source.clone())?;
        }
        Ok(env)
    }

    /// The prompt's token ids for `messages`, ending where the assistant's answer begins.
    /// ChatML needs the ChatML tokens (`chat`); a Jinja template's text is encoded by `plain`.
    pub(crate) fn prompt_ids(
        &self,
        chat: Option<&ChatTokenizer>,
        plain: &tokenizers::Tokenizer,
        messages: &[Message],
    ) -> Result<Vec<u32>, String> {
        match self {
            Self::ChatMl => {
                let tok = chat
                    .ok_or("the tokenizer has no ChatML tokens and the folder no chat template")?;
                chat::render(tok, messages, true)
                    .map(|r| r.ids)
                    .map_err(|e| e.to_string())
            }
            Self::Jinja {
                bos_token,
                eos_token,
                ..
            } => {
                let env = self.environment().map_err(|e| e.to_string())?;
                let msgs: Vec<serde_json::Value> = messages
                    .iter()
                    .map(|m| {
                        let role = match m.role {
                            Role::System => "system",
                            Role::User => "user",
                            Role::Assistant => "assistant",
                        };
                        serde_json::json!({"role": role, "content": m.content})
                    })
                    .collect();
                let text = env
                    .get_template("chat")
                    .and_then(|t| {
                        t.render(minijinja::context! {
                            messages => msgs,
                            add_generation_prompt => true,
                            bos_token => bos_token,
                            eos_token => eos_token,
                        })
                    })
                    .map_err(|e| format!("the model's chat template failed: {e}"))?;
                plain
                    .encode(text.as_str(), false)
                    .map(|e| e.get_ids().to_vec())
                    .map_err(|e| format!("encoding the prompt: {e}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jinja_template_renders_with_python_string_methods() {
        let d = tempfile::tempdir().unwrap();
        let src = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content.strip() }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
        std::fs::write(
            d.path().join(TOKENIZER_CONFIG_FILE),
            serde_json::json!({"chat_template": src, "eos_token": {"content": "<|im_end|>"}})
                .to_string(),
        )
        .unwrap();
        let t = ChatTemplate::load(d.path()).unwrap();
        let tok = ChatTokenizer::train_bpe(&["hello world <|im_start|> user".into()], 300).unwrap();
        let plain = tokenizers::Tokenizer::from_bytes(tok.to_json_bytes().unwrap()).unwrap();
        let msgs = [Message::new(Role::User, "  hello  ")];
        let jinja = t.prompt_ids(None, &plain, &msgs).unwrap();
        // This template is ChatML without <|endoftext|>: the ids end with the same
        // generation prompt as the built-in template's.
        let builtin = ChatTemplate::ChatMl
            .prompt_ids(Some(&tok), &plain, &msgs)
            .unwrap();
        let tail = tok.encode("<|im_start|>assistant\n").unwrap();
        assert!(jinja.ends_with(&tail) && builtin.ends_with(&tail));
        assert!(
            tok.decode(&jinja, false)
                .unwrap()
                .contains("user\nhello<|im_end|>")
        );
    }

    #[test]
    fn a_template_that_does_not_compile_is_refused_at_load() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join(TOKENIZER_CONFIG_FILE),
            r#"{"chat_template": "{% for m in messages %}"}"#,
        )
        .unwrap();
        let e = ChatTemplate::load(d.path()).unwrap_err().to_string();
        assert!(e.contains("chat_template"), "{e}");
    }
}
