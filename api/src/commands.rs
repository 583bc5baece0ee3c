//! The clear commands the product prints (the `TargetBlocked` message, `kubectl wfe` output),
//! written once. Both carry [`CLEAR_REASON_PLACEHOLDER`], which the reason rules refuse, so a
//! command pasted without writing a reason fails with "replace the placeholder" instead of
//! clearing a block for no reason.

use crate::block::CLEAR_REASON_PLACEHOLDER;

/// `kubectl wfe clear NAME -n NS --reason "<placeholder>"`: the plugin command, which encodes
/// any reason text safely.
pub fn plugin_clear_command(name: &str, namespace: &str) -> String {
    format!("kubectl wfe clear {name} -n {namespace} --reason \"{CLEAR_REASON_PLACEHOLDER}\"")
}

/// The raw status merge patch (DESIGN §3.3), for clusters without the plugin.
pub fn patch_clear_command(name: &str, namespace: &str) -> String {
    let body = serde_json::json!({
        "status": {"blockClearanceRequest": {"clearReason": CLEAR_REASON_PLACEHOLDER}}
    });
    format!("kubectl patch wfe {name} -n {namespace} --subresource=status --type=merge -p '{body}'")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{ClearanceRules, ReasonProblem, check_reason};

    #[test]
    fn plugin_command_names_the_wfe_and_a_refused_placeholder() {
        let c = plugin_clear_command("boom", "team-a");
        assert_eq!(
            c,
            format!("kubectl wfe clear boom -n team-a --reason \"{CLEAR_REASON_PLACEHOLDER}\"")
        );
        let reason = c.split_once("--reason \"").unwrap().1.trim_end_matches('"');
        assert_eq!(
            check_reason(reason, &ClearanceRules::default()),
            Err(ReasonProblem::Placeholder)
        );
    }

    #[test]
    fn patch_command_is_the_documented_one_and_its_reason_is_refused() {
        let c = patch_clear_command("boom", "team-a");
        let prefix = "kubectl patch wfe boom -n team-a --subresource=status --type=merge -p '";
        assert!(c.starts_with(prefix) && c.ends_with('\''), "{c}");
        let body: serde_json::Value = serde_json::from_str(&c[prefix.len()..c.len() - 1]).unwrap();
        let reason = body
            .pointer("/status/blockClearanceRequest/clearReason")
            .and_then(|v| v.as_str())
            .unwrap();
        assert_eq!(
            check_reason(reason, &ClearanceRules::default()),
            Err(ReasonProblem::Placeholder)
        );
    }
}
