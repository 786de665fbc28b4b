//! The one error type of the config layer. Every variant names the file; `Invalid` also names the
//! block and the key, so an operator can go straight to the line to fix.

use std::fmt;

/// Why a config file could not be turned into a [`super::ServerConfig`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read at all.
    #[error("{file}: cannot read the config file: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// The text is not valid HCL or JSON.
    #[error("{file}: invalid {format}: {message}")]
    Syntax {
        file: String,
        format: &'static str,
        message: String,
    },
    /// The text parsed, but a value is wrong, missing or not allowed.
    #[error("{}", Located { file, block: block.as_deref(), key: key.as_deref(), problem })]
    Invalid {
        file: String,
        /// The block, as written in HCL: `listener "tcp"`, `storage "redb"`; `None` at the top level.
        block: Option<String>,
        /// The key inside that block; `None` when the problem is the block itself.
        key: Option<String>,
        problem: String,
    },
}

/// `file: block: key: problem`, leaving out the parts that do not apply.
struct Located<'a> {
    file: &'a str,
    block: Option<&'a str>,
    key: Option<&'a str>,
    problem: &'a str,
}

impl fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file)?;
        if let Some(block) = self.block {
            write!(f, "{block}: ")?;
        }
        if let Some(key) = self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(self.problem)
    }
}
