//! Which host interpreter runs a Lambda runtime, and the runtime clients Versa ships.
//!
//! `provided.*` functions run their own `bootstrap`. `python3.x` and `nodejsNN.x` run on a host
//! interpreter with Versa's own runtime client (`runtimes/bootstrap.py`, `runtimes/index.mjs`):
//! the exact version when it is installed, otherwise the nearest installed version of the same
//! language, with a warning in the function's log.

use std::path::{Path, PathBuf};

/// Versa's Python runtime client, mounted at `/var/runtime/bootstrap.py`.
pub const PYTHON_CLIENT: &str = include_str!("../runtimes/bootstrap.py");
/// Versa's Node.js runtime client, mounted at `/var/runtime/index.mjs`.
pub const NODE_CLIENT: &str = include_str!("../runtimes/index.mjs");

/// Directories searched for interpreters, besides the configured extra ones.
const SEARCH_DIRS: &[&str] = &["/usr/local/bin", "/usr/bin"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// `provided.al2023`, `provided.al2`: the package's own `bootstrap`.
    Provided,
    Python,
    Node,
}

/// One interpreter on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpreter {
    pub major: u32,
    pub minor: u32,
    pub path: PathBuf,
    /// Host directories the interpreter needs that are outside `/usr` (bound at the same path).
    pub binds: Vec<PathBuf>,
}

/// How to start a function's runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub language: Language,
    /// `None` for `provided` (the program is the package's `bootstrap`).
    pub interpreter: Option<Interpreter>,
    /// `AWS_EXECUTION_ENV`, which OS-only runtimes do not set.
    pub execution_env: Option<String>,
    /// Said in the function's log on a cold start (a substituted interpreter version).
    pub warning: Option<String>,
}

/// The interpreters this host has.
#[derive(Debug, Clone, Default)]
pub struct RuntimeTable {
    pub python: Vec<Interpreter>,
    pub node: Vec<Interpreter>,
}

impl RuntimeTable {
    /// Looks for `python3.N` and `node` in the standard directories and in `extra` (each an
    /// interpreter binary, or a directory containing them).
    pub fn discover(extra: &[PathBuf]) -> RuntimeTable {
        let mut t = RuntimeTable::default();
        let mut candidates: Vec<PathBuf> = Vec::new();
        for dir in extra.iter().map(PathBuf::as_path).chain(SEARCH_DIRS.iter().map(Path::new)) {
            if dir.is_file() {
                candidates.push(dir.to_owned());
            } else if let Ok(entries) = std::fs::read_dir(dir) {
                let mut names: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
                names.sort();
                candidates.extend(names);
            }
        }
        for path in candidates {
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
            if let Some(minor) = name.strip_prefix("python3.").and_then(|m| m.parse::<u32>().ok()) {
                if !t.python.iter().any(|i| i.minor == minor) && is_executable(&path) {
                    t.python.push(Interpreter { major: 3, minor, binds: binds_for(&path), path });
                }
            } else if name == "node" && is_executable(&path) {
                let version = sandbox::host_command_output(&path, &["--version"]);
                let major =
                    version.as_deref().and_then(|v| v.trim().trim_start_matches('v').split('.').next()?.parse().ok());
                if let Some(major) = major
                    && !t.node.iter().any(|i| i.major == major)
                {
                    t.node.push(Interpreter { major, minor: 0, binds: binds_for(&path), path });
                }
            }
        }
        t
    }

    /// One line per language, for the startup log.
    pub fn summary(&self) -> String {
        let py: Vec<String> = self.python.iter().map(|i| format!("python3.{}", i.minor)).collect();
        let node: Vec<String> = self.node.iter().map(|i| format!("node {}", i.major)).collect();
        format!(
            "runtimes: provided; python: {}; nodejs: {}",
            if py.is_empty() { "none".to_owned() } else { py.join(", ") },
            if node.is_empty() { "none".to_owned() } else { node.join(", ") }
        )
    }

    /// How to run `runtime`, or why it cannot run here.
    pub fn resolve(&self, runtime: &str) -> Result<Launch, String> {
        if matches!(runtime, "provided" | "provided.al2" | "provided.al2023") {
            return Ok(Launch { language: Language::Provided, interpreter: None, execution_env: None, warning: None });
        }
        let execution_env = Some(format!("AWS_Lambda_{runtime}"));
        if let Some(minor) = runtime.strip_prefix("python3.").and_then(|m| m.parse::<u32>().ok()) {
            let found = nearest(&self.python, |i| i.minor, minor).ok_or_else(|| {
                format!(
                    "{runtime} cannot run: no Python interpreter is installed on this host (Versa looks for \
                     python3.N in {})",
                    SEARCH_DIRS.join(" and ")
                )
            })?;
            let warning = (found.minor != minor).then(|| {
                format!("Versa: {runtime} is not installed on this host; running python3.{} instead", found.minor)
            });
            return Ok(Launch { language: Language::Python, interpreter: Some(found.clone()), execution_env, warning });
        }
        if let Some(major) =
            runtime.strip_prefix("nodejs").and_then(|m| m.strip_suffix(".x")).and_then(|m| m.parse::<u32>().ok())
        {
            let found = nearest(&self.node, |i| i.major, major).ok_or_else(|| {
                format!(
                    "{runtime} cannot run: no Node.js is installed on this host (Versa looks for node in {})",
                    SEARCH_DIRS.join(" and ")
                )
            })?;
            let warning = (found.major != major).then(|| {
                format!("Versa: {runtime} is not installed on this host; running Node.js {} instead", found.major)
            });
            return Ok(Launch { language: Language::Node, interpreter: Some(found.clone()), execution_env, warning });
        }
        let language = runtime.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.' || c == 'x');
        Err(format!(
            "{runtime} cannot run: Versa has no {language} runtime. It runs provided.al2023, provided.al2, python3.x \
             and nodejs*.x functions"
        ))
    }
}

/// The interpreter closest to `wanted` (ties go to the newer one).
fn nearest(list: &[Interpreter], key: impl Fn(&Interpreter) -> u32, wanted: u32) -> Option<&Interpreter> {
    list.iter().min_by_key(|i| (key(i).abs_diff(wanted), u32::MAX - key(i)))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// An interpreter outside `/usr` needs its installation prefix (the parent of its `bin`).
fn binds_for(path: &Path) -> Vec<PathBuf> {
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    if real.starts_with("/usr") {
        return Vec::new();
    }
    let prefix = real.parent().and_then(Path::parent).unwrap_or(Path::new("/")).to_owned();
    if prefix == Path::new("/") { Vec::new() } else { vec![prefix] }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interp(minor: u32) -> Interpreter {
        Interpreter { major: 3, minor, path: format!("/usr/bin/python3.{minor}").into(), binds: Vec::new() }
    }

    #[test]
    fn picks_the_exact_or_nearest_version() {
        let t = RuntimeTable { python: vec![interp(9), interp(11), interp(13)], node: Vec::new() };
        let l = t.resolve("python3.11").unwrap();
        assert_eq!(l.interpreter.unwrap().minor, 11);
        assert!(l.warning.is_none());
        let l = t.resolve("python3.12").unwrap();
        assert_eq!(l.interpreter.unwrap().minor, 13, "ties go to the newer version");
        assert!(l.warning.unwrap().contains("python3.13"));
        assert_eq!(t.resolve("python3.8").unwrap().interpreter.unwrap().minor, 9);
        assert!(t.resolve("nodejs20.x").unwrap_err().contains("no Node.js is installed"));
        assert!(t.resolve("java21").unwrap_err().contains("no java runtime"));
        assert_eq!(t.resolve("provided.al2023").unwrap().language, Language::Provided);
    }
}
