//! Where keys come from: the YAML file, `WFE_*` environment variables and `--set`, merged as one tree.

use super::*;

/// The environment variable that overrides a dotted key: `backoff.maxExponent` → `WFE_BACKOFF_MAX_EXPONENT`.
pub fn env_name(key: &str) -> String {
    let mut out = String::from(ENV_PREFIX);
    for (i, part) in key.split('.').enumerate() {
        if i > 0 {
            out.push('_');
        }
        for (j, c) in part.chars().enumerate() {
            if c.is_ascii_uppercase() && j > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_uppercase());
        }
    }
    out
}

/// Every settable key, dotted, derived from the defaults so it can never drift from the types.
pub fn leaf_keys() -> Vec<String> {
    fn walk(prefix: &str, v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, child) in m {
                    let path = if prefix.is_empty() {
                        k.to_owned()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    if child.is_object() {
                        walk(&path, child, out)
                    } else {
                        out.push(path)
                    }
                }
            }
            _ => out.push(prefix.to_owned()),
        }
    }
    let mut out = Vec::new();
    if let Ok(v) = serde_json::to_value(Config::default()) {
        walk("", &v, &mut out);
    }
    out
}

/// The file as an untyped tree: the typed pass runs after the env and `--set` overrides.
pub(super) fn parse_yaml(text: &str, origin: &str) -> Result<Value, ConfigError> {
    serde_saphyr::from_str_with_options(text, crate::yaml::untyped_options()).map_err(|e| {
        ConfigError::Yaml {
            path: origin.to_owned(),
            message: crate::yaml::describe_error(&e, origin),
        }
    })
}

/// An override value is YAML too (`true`, `5`, `[a, b]`), falling back to the raw string.
pub(super) fn parse_scalar(raw: &str) -> Value {
    serde_saphyr::from_str_with_options(raw, crate::yaml::untyped_options())
        .unwrap_or_else(|_| Value::String(raw.to_owned()))
}

pub(super) fn set_path(tree: &mut Value, key: &str, value: Value) {
    let mut node = tree;
    let parts: Vec<&str> = key.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        if !node.is_object() {
            *node = Value::Object(Default::default());
        }
        let Value::Object(map) = node else { return };
        let k = (*part).to_owned();
        if i == parts.len() - 1 {
            map.insert(k, value);
            return;
        }
        node = map
            .entry(k)
            .or_insert_with(|| Value::Object(Default::default()));
    }
}
