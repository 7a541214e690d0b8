//! Server configuration: flags and environment variables, validated into [`Config`].

use std::path::PathBuf;

use model::scope::Region;

/// A validated configuration of [`crate::run`].
#[derive(Debug, Clone)]
pub struct Config {
    /// Where Versa keeps its database and code packages.
    pub data_dir: PathBuf,
    /// The region of requests that are not signed (or signed for a region name Lambda does not
    /// accept).
    pub region: Region,
    /// The account concurrency limit reported by GetAccountSettings.
    pub account_concurrency: u32,
}

impl Config {
    pub fn new(data_dir: PathBuf) -> Config {
        Config {
            data_dir,
            region: Region::parse(DEFAULT_REGION).expect("the default region is valid"),
            account_concurrency: model::limits::ACCOUNT_CONCURRENCY_DEFAULT,
        }
    }
}

pub const DEFAULT_REGION: &str = "us-east-1";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:4566";

/// Where the data lives: a directory that persists, or a temporary one removed at exit.
#[derive(Debug)]
pub enum DataDir {
    Persistent(PathBuf),
    Ephemeral(tempfile::TempDir),
}

impl DataDir {
    pub fn path(&self) -> PathBuf {
        match self {
            DataDir::Persistent(p) => p.clone(),
            DataDir::Ephemeral(t) => t.path().to_owned(),
        }
    }

    /// The per-user default: `$XDG_DATA_HOME/versa`, else `~/.local/share/versa`, else
    /// `./versa-data`.
    pub fn default_path() -> PathBuf {
        if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty()) {
            return PathBuf::from(x).join("versa");
        }
        if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            return PathBuf::from(h).join(".local/share/versa");
        }
        PathBuf::from("versa-data")
    }
}
