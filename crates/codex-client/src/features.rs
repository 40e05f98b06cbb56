//! `codex features list|enable|disable`.
//!
//! `features list` prints one row per feature: `name  stage  enabled`, where the stage can be
//! several words (`under development`). The name is the first column and the flag the last;
//! whatever is between is the stage, so new stages parse without code changes.

use std::time::Duration;

use crate::binary::CodexBinary;
use crate::home::CodexHome;
use crate::{Error, Result};

const CLI_TIMEOUT: Duration = Duration::from_secs(30);

/// One row of `codex features list`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Feature {
    pub name: String,
    pub stage: FeatureStage,
    pub enabled: bool,
}

/// A feature's maturity. Unknown stages are kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FeatureStage {
    Stable,
    Experimental,
    UnderDevelopment,
    Deprecated,
    Removed,
    Other(String),
}

impl FeatureStage {
    /// The stage as `features list` prints it.
    pub fn as_str(&self) -> &str {
        match self {
            FeatureStage::Stable => "stable",
            FeatureStage::Experimental => "experimental",
            FeatureStage::UnderDevelopment => "under development",
            FeatureStage::Deprecated => "deprecated",
            FeatureStage::Removed => "removed",
            FeatureStage::Other(s) => s,
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "stable" => FeatureStage::Stable,
            "experimental" => FeatureStage::Experimental,
            "under development" => FeatureStage::UnderDevelopment,
            "deprecated" => FeatureStage::Deprecated,
            "removed" => FeatureStage::Removed,
            other => FeatureStage::Other(other.to_owned()),
        }
    }
}

/// Parses `codex features list` output. Blank lines are skipped; any other line that does not
/// have the `name stage... true|false` shape is an error quoting it.
pub fn parse_features_list(text: &str) -> Result<Vec<Feature>> {
    let mut out = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.is_empty() {
            continue;
        }
        let bad = || Error::UnexpectedOutput {
            command: "features list".into(),
            message: format!("cannot parse line {line:?}"),
        };
        if words.len() < 3 {
            return Err(bad());
        }
        let enabled = match words[words.len() - 1] {
            "true" => true,
            "false" => false,
            _ => return Err(bad()),
        };
        out.push(Feature {
            name: words[0].to_owned(),
            stage: FeatureStage::parse(&words[1..words.len() - 1].join(" ")),
            enabled,
        });
    }
    Ok(out)
}

/// `codex features list` for `home` (reflects its config.toml).
pub async fn list(binary: &CodexBinary, home: &CodexHome) -> Result<Vec<Feature>> {
    let out = binary
        .run(home, &["features", "list"], None, CLI_TIMEOUT)
        .await?;
    parse_features_list(&out.success("features list")?)
}

/// `codex features enable NAME` (writes `[features] NAME = true`; unknown names are an error).
pub async fn enable(binary: &CodexBinary, home: &CodexHome, name: &str) -> Result<()> {
    toggle(binary, home, "enable", name).await
}

/// `codex features disable NAME`.
pub async fn disable(binary: &CodexBinary, home: &CodexHome, name: &str) -> Result<()> {
    toggle(binary, home, "disable", name).await
}

async fn toggle(binary: &CodexBinary, home: &CodexHome, verb: &str, name: &str) -> Result<()> {
    if name.is_empty() || name.starts_with('-') {
        return Err(Error::InvalidInvocation(format!(
            "bad feature name {name:?}"
        )));
    }
    binary
        .run(home, &["features", verb, name], None, CLI_TIMEOUT)
        .await?
        .success(verb)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rows_with_multi_word_stages() {
        let text = "agent_message_board                      under development  false\napps                                     stable             true\ncollaboration_modes                      removed            true\n\nx  brand new stage  false\n";
        let f = parse_features_list(text).expect("parse");
        assert_eq!(
            f,
            vec![
                Feature {
                    name: "agent_message_board".into(),
                    stage: FeatureStage::UnderDevelopment,
                    enabled: false
                },
                Feature {
                    name: "apps".into(),
                    stage: FeatureStage::Stable,
                    enabled: true
                },
                Feature {
                    name: "collaboration_modes".into(),
                    stage: FeatureStage::Removed,
                    enabled: true
                },
                Feature {
                    name: "x".into(),
                    stage: FeatureStage::Other("brand new stage".into()),
                    enabled: false
                },
            ]
        );
        assert!(parse_features_list("apps stable maybe\n").is_err());
        assert!(parse_features_list("apps true\n").is_err());
    }
}
