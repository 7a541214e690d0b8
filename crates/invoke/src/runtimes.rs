//! Which host interpreter runs a Lambda runtime, and the runtime clients Versa ships.
//!
//! `provided.*` functions run their own `bootstrap`. `python3.x` and `nodejsNN.x` run on a host
//! interpreter with Versa's own runtime client (`runtimes/bootstrap.py`, `runtimes/index.mjs`):
//! the exact version when it is installed, otherwise the nearest installed version of the same
//! language, with a notice in the server's log and in the function's log stream (`INIT_NOTICE`).
//! Interpreters are found where people install them: `/usr/local/bin`, `/usr/bin`, `PATH`,
//! pyenv, uv and nvm version directories, and `--interpreter` paths.

use std::path::{Path, PathBuf};

/// Versa's Python runtime client, mounted at `/var/runtime/bootstrap.py`: a stub that imports
/// [`PYTHON_CLIENT_MODULE`] (`/var/runtime/versa_runtime.py`).
pub const PYTHON_CLIENT: &str = include_str!("../runtimes/bootstrap.py");
pub const PYTHON_CLIENT_MODULE: &str = include_str!("../runtimes/versa_runtime.py");
/// The module's file name, which the server compiles to bytecode once per interpreter.
pub const PYTHON_CLIENT_MODULE_FILE: &str = "versa_runtime.py";
/// Versa's Node.js runtime client, mounted at `/var/runtime/index.mjs`.
pub const NODE_CLIENT: &str = include_str!("../runtimes/index.mjs");
/// The client's module resolution hook: ES module imports of bare specifiers fall back to the
/// `NODE_PATH` directories, as CommonJS `require` does (`/var/runtime/resolve.mjs`).
pub const NODE_RESOLVE_HOOK: &str = include_str!("../runtimes/resolve.mjs");

/// Where Versa looks for interpreters, for messages (after `--interpreter` paths).
const SEARCHED_PYTHON: &str = "/usr/local/bin, /usr/bin, the directories on PATH, pyenv's and uv's Python versions";
const SEARCHED_NODE: &str = "/usr/local/bin, /usr/bin, the directories on PATH, nvm's Node.js versions";
/// Interpreter candidates examined at most (a bound on a pathological PATH or pyenv tree).
const CANDIDATES_MAX: usize = 20_000;

/// The places searched for interpreters besides the configured ones, in order of preference.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchPath {
    pub dirs: Vec<PathBuf>,
}

impl SearchPath {
    /// The standard places, from the environment (`get` reads a variable): `/usr/local/bin`,
    /// `/usr/bin`, every absolute directory on `PATH` except version managers' shims (scripts
    /// that exec the manager, which does not exist inside a sandbox), then each version of
    /// pyenv (`$PYENV_ROOT/versions/*/bin`, default `~/.pyenv`), of uv
    /// (`$UV_PYTHON_INSTALL_DIR/*/bin`, default `$XDG_DATA_HOME/uv/python` or
    /// `~/.local/share/uv/python`) and of nvm (`$NVM_DIR/versions/node/*/bin`, default `~/.nvm`),
    /// newest first.
    pub fn standard(get: impl Fn(&str) -> Option<std::ffi::OsString>) -> SearchPath {
        let var = |k: &str| get(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        let home = var("HOME");
        let under_home = |rel: &str| home.as_ref().map(|h| h.join(rel));
        let mut dirs: Vec<PathBuf> = vec!["/usr/local/bin".into(), "/usr/bin".into()];
        if let Some(path) = get("PATH") {
            dirs.extend(std::env::split_paths(&path).filter(|d| d.is_absolute() && !d.ends_with("shims")));
        }
        let pyenv = var("PYENV_ROOT").or_else(|| under_home(".pyenv")).map(|r| r.join("versions"));
        let uv = var("UV_PYTHON_INSTALL_DIR")
            .or_else(|| var("XDG_DATA_HOME").map(|x| x.join("uv/python")))
            .or_else(|| under_home(".local/share/uv/python"));
        let nvm = var("NVM_DIR").or_else(|| under_home(".nvm")).map(|r| r.join("versions/node"));
        for root in [pyenv, uv, nvm].into_iter().flatten() {
            dirs.extend(version_dirs(&root).into_iter().map(|v| v.join("bin")));
        }
        let mut seen = std::collections::HashSet::new();
        dirs.retain(|d| seen.insert(d.clone()));
        SearchPath { dirs }
    }
}

/// The subdirectories of a version manager's root, newest version first (`3.12.4` before
/// `3.12.1` before `3.9.18`; names without a version last).
fn version_dirs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else { return Vec::new() };
    let mut dirs: Vec<(Vec<u32>, PathBuf)> =
        entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()).map(|p| (version_key(&p), p)).collect();
    dirs.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    dirs.into_iter().map(|(_, p)| p).collect()
}

/// The first dotted number in a directory name: `cpython-3.12.4-linux-x86_64-gnu` → [3, 12, 4].
fn version_key(p: &Path) -> Vec<u32> {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let name = name.trim_start_matches(|c: char| !c.is_ascii_digit());
    let dotted: &str = name.split(|c: char| !(c.is_ascii_digit() || c == '.')).next().unwrap_or("");
    dotted.split('.').map_while(|n| n.parse().ok()).collect()
}

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
    /// A notice about the host (a substituted interpreter version): said once in the server's
    /// log, and as `INIT_NOTICE` in each cold start's log stream, outside the invocation's tail.
    pub warning: Option<String>,
}

/// The interpreters this host has.
#[derive(Debug, Clone, Default)]
pub struct RuntimeTable {
    pub python: Vec<Interpreter>,
    pub node: Vec<Interpreter>,
}

impl RuntimeTable {
    /// Looks for `python3.N` and `node` in `extra` (each an interpreter binary, or a directory
    /// containing them), then in `search`. The first interpreter found for each version wins;
    /// only native executables count (a script, such as a version manager's shim, does not),
    /// and symlinks are resolved so that the sandbox binds the real installation.
    pub fn discover(extra: &[PathBuf], search: &SearchPath) -> RuntimeTable {
        let mut t = RuntimeTable::default();
        let mut candidates: Vec<PathBuf> = Vec::new();
        for dir in extra.iter().chain(&search.dirs) {
            if dir.is_file() {
                candidates.push(dir.to_owned());
            } else if let Ok(entries) = std::fs::read_dir(dir) {
                let mut names: Vec<PathBuf> = entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(is_interpreter_name))
                    .collect();
                names.sort();
                candidates.extend(names);
            }
            if candidates.len() > CANDIDATES_MAX {
                break;
            }
        }
        let mut node_seen: Vec<PathBuf> = Vec::new();
        for path in candidates {
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
            let Ok(real) = std::fs::canonicalize(&path) else { continue };
            if let Some(minor) = python_minor(name) {
                if !t.python.iter().any(|i| i.minor == minor) && is_native_executable(&real) {
                    t.python.push(Interpreter { major: 3, minor, binds: binds_for(&real), path: real });
                }
            } else if name == "node" && !node_seen.contains(&real) && is_native_executable(&real) {
                node_seen.push(real.clone());
                let version = sandbox::host_command_output(&real, &["--version"]);
                let major =
                    version.as_deref().and_then(|v| v.trim().trim_start_matches('v').split('.').next()?.parse().ok());
                if let Some(major) = major
                    && !t.node.iter().any(|i| i.major == major)
                {
                    t.node.push(Interpreter { major, minor: 0, binds: binds_for(&real), path: real });
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
                     python3.N in {SEARCHED_PYTHON})"
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
                    "{runtime} cannot run: no Node.js is installed on this host (Versa looks for node in \
                     {SEARCHED_NODE})"
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

/// `python3.N` → N.
fn python_minor(name: &str) -> Option<u32> {
    name.strip_prefix("python3.").and_then(|m| m.parse::<u32>().ok())
}

fn is_interpreter_name(name: &str) -> bool {
    name == "node" || python_minor(name).is_some()
}

/// An executable ELF file: a real interpreter, not a script that execs something else.
fn is_native_executable(p: &Path) -> bool {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    let executable = std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    let mut magic = [0u8; 4];
    executable && std::fs::File::open(p).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && magic == *b"\x7fELF"
}

/// Sandbox paths an interpreter's installation cannot be bound under: the sandbox mounts its own
/// things there (the layers at `/opt`, the code, the runtime clients, `/tmp`, `/proc`, `/dev`).
pub const RESERVED_SANDBOX_PATHS: &[&str] = &["/opt", "/var/task", "/var/runtime", "/tmp", "/proc", "/dev"];

impl RuntimeTable {
    /// Drops the interpreters a sandbox cannot run, and says why for each: an installation under
    /// a path the sandbox mounts over (a Python under `/opt/conda` would be hidden by the layers),
    /// or one that would bind the whole home directory (`~/bin/python3.12` has `~` as its
    /// prefix) or `/home` into every function. Without namespaces nothing is bound, so this is
    /// only for sandboxed hosts.
    pub fn retain_bindable(&mut self, home: Option<&Path>) -> Vec<String> {
        let mut refused = Vec::new();
        let mut keep = |i: &Interpreter| match i.binds.iter().find_map(|b| unbindable(b, home)) {
            None => true,
            Some(why) => {
                refused.push(format!("{} is not used: {why}", i.path.display()));
                false
            }
        };
        self.python.retain(&mut keep);
        self.node.retain(&mut keep);
        refused
    }
}

/// Why an installation prefix cannot be bound into a sandbox, if it cannot.
fn unbindable(prefix: &Path, home: Option<&Path>) -> Option<String> {
    if let Some(r) = RESERVED_SANDBOX_PATHS.iter().find(|r| prefix.starts_with(r)) {
        return Some(format!("its installation {} is under {r}, which the sandbox mounts over", prefix.display()));
    }
    let exposes = |dir: &Path| dir.starts_with(prefix);
    if home.is_some_and(exposes) || exposes(Path::new("/home")) || exposes(Path::new("/root")) {
        return Some(format!(
            "its installation prefix {} would expose a home directory to every function",
            prefix.display()
        ));
    }
    None
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

    #[test]
    fn installations_the_sandbox_cannot_bind_are_dropped() {
        let at = |minor: u32, prefix: &str| Interpreter {
            major: 3,
            minor,
            path: format!("{prefix}/bin/python3.{minor}").into(),
            binds: vec![prefix.into()],
        };
        let mut t = RuntimeTable {
            python: vec![
                at(9, "/root/.pyenv/versions/3.9.18"),
                at(10, "/opt/conda"),
                at(11, "/home/dev"),
                at(12, "/srv/python"),
                at(13, "/var/task/py"),
            ],
            node: Vec::new(),
        };
        let refused = t.retain_bindable(Some(Path::new("/home/dev")));
        assert_eq!(t.python.iter().map(|i| i.minor).collect::<Vec<_>>(), [9, 12]);
        assert_eq!(refused.len(), 3, "{refused:?}");
        assert!(refused[0].contains("under /opt, which the sandbox mounts over"), "{refused:?}");
        assert!(refused[1].contains("would expose a home directory"), "{refused:?}");
        // `/` itself is never a prefix (binds_for leaves it out), and /usr needs no bind.
        assert_eq!(unbindable(Path::new("/srv"), None), None);
        assert!(unbindable(Path::new("/home"), None).is_some());
    }

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

    /// A fake native interpreter: the ELF magic, executable.
    fn fake_elf(path: &Path) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"\x7fELF fake").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn script(path: &Path) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"#!/usr/bin/env bash\nexec pyenv exec \"$0\" \"$@\"\n").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn the_standard_places_are_usr_path_and_version_managers_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for v in ["3.9.18", "3.12.1", "3.12.4", "3.10.13", "my-venv"] {
            std::fs::create_dir_all(root.join("pyenv/versions").join(v).join("bin")).unwrap();
        }
        std::fs::create_dir_all(root.join("home/.local/share/uv/python/cpython-3.13.0-linux-x86_64-gnu/bin")).unwrap();
        std::fs::create_dir_all(root.join("home/.nvm/versions/node/v22.1.0/bin")).unwrap();
        let path = format!("{0}/pyenv/shims:{0}/bin:relative/bin:/usr/bin", root.display());
        let env = |k: &str| -> Option<std::ffi::OsString> {
            match k {
                "HOME" => Some(root.join("home").into()),
                "PYENV_ROOT" => Some(root.join("pyenv").into()),
                "PATH" => Some(path.clone().into()),
                _ => None,
            }
        };
        let search = SearchPath::standard(env);
        let versions = root.join("pyenv/versions");
        let expected: Vec<PathBuf> = vec![
            "/usr/local/bin".into(),
            "/usr/bin".into(),
            root.join("bin"),
            versions.join("3.12.4/bin"),
            versions.join("3.12.1/bin"),
            versions.join("3.10.13/bin"),
            versions.join("3.9.18/bin"),
            versions.join("my-venv/bin"),
            root.join("home/.local/share/uv/python/cpython-3.13.0-linux-x86_64-gnu/bin"),
            root.join("home/.nvm/versions/node/v22.1.0/bin"),
        ];
        assert_eq!(search.dirs, expected, "shims and relative PATH entries are skipped, duplicates once");
    }

    #[test]
    fn discovery_finds_real_interpreters_and_skips_shims_and_lookalikes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let versions = root.join("pyenv/versions");
        script(&root.join("pyenv/shims/python3.12"));
        script(&root.join("pyenv/shims/python3.13"));
        fake_elf(&versions.join("3.12.4/bin/python3.12"));
        fake_elf(&versions.join("3.12.1/bin/python3.12"));
        fake_elf(&versions.join("3.9.18/bin/python3.9"));
        fake_elf(&versions.join("3.9.18/bin/python3.9-config"));
        fake_elf(&versions.join("3.13.0/bin/python3.13t"));
        // uv installs behind a symlink: the real installation is what the sandbox binds.
        let uv_real = root.join("uv/python/cpython-3.13.0-linux-x86_64-gnu/bin/python3.13");
        fake_elf(&uv_real);
        std::fs::create_dir_all(root.join("local/bin")).unwrap();
        std::os::unix::fs::symlink(&uv_real, root.join("local/bin/python3.13")).unwrap();
        let search = SearchPath {
            dirs: vec![
                root.join("pyenv/shims"),
                root.join("local/bin"),
                versions.join("3.12.4/bin"),
                versions.join("3.12.1/bin"),
                versions.join("3.9.18/bin"),
                versions.join("3.13.0/bin"),
            ],
        };
        let t = RuntimeTable::discover(&[], &search);
        let real = |p: &Path| std::fs::canonicalize(p).unwrap();
        let found: Vec<(u32, PathBuf)> = t.python.iter().map(|i| (i.minor, i.path.clone())).collect();
        assert_eq!(
            found,
            vec![
                (13, real(&uv_real)),
                (12, real(&versions.join("3.12.4/bin/python3.12"))),
                (9, real(&versions.join("3.9.18/bin/python3.9"))),
            ]
        );
        let py313 = &t.python[0];
        assert_eq!(py313.binds, vec![real(&root.join("uv/python/cpython-3.13.0-linux-x86_64-gnu"))]);
        assert!(t.node.is_empty());

        // An explicit interpreter comes first, and a shim given explicitly is still no interpreter.
        let explicit = root.join("custom/python3.12");
        fake_elf(&explicit);
        let t = RuntimeTable::discover(&[explicit.clone(), root.join("pyenv/shims/python3.13")], &search);
        assert_eq!(t.python.iter().find(|i| i.minor == 12).unwrap().path, real(&explicit));
        assert_eq!(t.python.iter().find(|i| i.minor == 13).unwrap().path, real(&uv_real));
        let msg = RuntimeTable::default().resolve("python3.12").unwrap_err();
        assert!(msg.contains("pyenv's and uv's Python versions"), "{msg}");
    }
}
