//! How the binary reads YAML it does not know the shape of (config trees, manifests to validate).

/// YAML 1.2 core types only: `off`/`no`/`yes` stay strings (a log level `off` or a workflow
/// parameter `yes` must not turn into a boolean) and `0755`/`1_000` keep their spelling, as
/// they did with serde_yaml 0.9 before the move to serde-saphyr.
pub fn untyped_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
    }
}

/// A parse error for a person: the user-facing wording (no library tuning hints) with a
/// snippet of the offending lines headed by `source` (the file name).
pub fn describe_error(error: &serde_saphyr::Error, source: &str) -> String {
    error.render_with_options(serde_saphyr::render_options! {
        formatter: &serde_saphyr::UserMessageFormatter,
        source_name: Some(source),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn read(text: &str) -> Value {
        serde_saphyr::from_str_with_options(text, untyped_options()).unwrap()
    }

    #[test]
    fn only_core_scalars_are_typed() {
        assert_eq!(
            read("[off, no, yes, 'true', true, 0755, 1_000, 5, 2m, ~]"),
            json!([
                "off", "no", "yes", "true", true, "0755", "1_000", 5, "2m", null
            ])
        );
    }

    #[test]
    fn errors_name_the_file_and_line_without_library_hints() {
        let e = serde_saphyr::from_str_with_options::<Value>("a: 1\na: 2\n", untyped_options())
            .unwrap_err();
        let text = describe_error(&e, "config.yaml");
        assert!(text.contains("config.yaml:2:1"), "{text}");
        assert!(text.contains("duplicate"), "{text}");
        assert!(!text.contains("DuplicateKeyPolicy"), "{text}");
    }
}
