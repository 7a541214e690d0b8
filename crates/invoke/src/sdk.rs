//! The AWS SDKs Versa's runtimes carry, as Lambda's do: boto3 and botocore for Python, the AWS
//! SDK for JavaScript v3 for Node.js.
//!
//! `versa runtimes install` puts pinned versions into Versa's runtimes directory (one per user,
//! shared by every data dir): `<dir>/python` (a `pip install --target` tree, byte-compiled for
//! each Python on the host) and `<dir>/nodejs/node_modules`. The engine mounts them read-only
//! into each sandbox (`/var/runtime/sdk`, `/var/runtime/node_modules`) and puts them on the
//! module path after the function's own code and layers. Nothing is fetched at invoke time: a
//! missing SDK is said once at startup and in the health report, and functions still run.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::runtimes::Interpreter;

/// The Python SDK: boto3 and botocore with their dependencies, every version pinned. They are
/// the newest releases that install from wheels (nothing to compile) on Python 3.9 to 3.13.
pub const PYTHON_PACKAGES: &[(&str, &str)] = &[
    ("boto3", "1.42.97"),
    ("botocore", "1.42.97"),
    ("s3transfer", "0.16.1"),
    ("jmespath", "1.1.0"),
    ("python-dateutil", "2.9.0.post0"),
    ("six", "1.17.0"),
    ("urllib3", "2.6.3"),
];
/// The oldest Python the pinned packages support; older interpreters get no byte-compiled copy.
pub const PYTHON_MINOR_MIN: u32 = 9;

/// The version of every AWS SDK for JavaScript v3 package installed (they are released together).
pub const NODE_SDK_VERSION: &str = "3.1178.0";
/// The most used v3 clients and libraries (about 50 MB with their dependencies). Functions that
/// need another client bundle it, as they would on Lambda for a newer version.
pub const NODE_PACKAGES: &[&str] = &[
    "@aws-sdk/client-s3",
    "@aws-sdk/s3-request-presigner",
    "@aws-sdk/lib-storage",
    "@aws-sdk/client-lambda",
    "@aws-sdk/client-dynamodb",
    "@aws-sdk/lib-dynamodb",
    "@aws-sdk/client-sqs",
    "@aws-sdk/client-sns",
    "@aws-sdk/client-cloudwatch-logs",
    "@aws-sdk/client-cloudwatch",
    "@aws-sdk/client-sts",
    "@aws-sdk/client-secrets-manager",
    "@aws-sdk/client-ssm",
    "@aws-sdk/client-eventbridge",
];

/// Written last into each installed tree: the exact pins it holds.
const MARKER: &str = ".versa-sdk";

/// Versa's runtimes directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimesDir {
    pub root: PathBuf,
}

/// What one language's SDK tree holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Installed {
    Missing,
    /// The pins of this Versa.
    Current,
    /// Another set of pins (an older Versa installed it); still used. The first pin it holds.
    Other(String),
}

impl Installed {
    pub fn is_present(&self) -> bool {
        *self != Installed::Missing
    }
}

/// Both SDKs' state, for the startup log and the health report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdkStatus {
    pub python: Installed,
    pub node: Installed,
}

impl SdkStatus {
    /// The languages without an SDK.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut m = Vec::new();
        if !self.python.is_present() {
            m.push("python");
        }
        if !self.node.is_present() {
            m.push("nodejs");
        }
        m
    }

    /// `boto3 1.42.97` / `not installed` / `boto3==1.40.0 (run \`versa runtimes install\` for 1.42.97)`.
    pub fn python_summary(&self) -> String {
        let pinned = format!("boto3 {}", PYTHON_PACKAGES[0].1);
        describe(&self.python, &pinned)
    }

    pub fn node_summary(&self) -> String {
        describe(&self.node, &format!("@aws-sdk v3 {NODE_SDK_VERSION}"))
    }
}

fn describe(state: &Installed, pinned: &str) -> String {
    match state {
        Installed::Missing => "not installed".to_owned(),
        Installed::Current => pinned.to_owned(),
        Installed::Other(first) => format!("{first} (run `versa runtimes install` for {pinned})"),
    }
}

impl RuntimesDir {
    pub fn new(root: PathBuf) -> RuntimesDir {
        RuntimesDir { root }
    }

    /// The per-user default, from the environment (`get` reads a variable):
    /// `$XDG_DATA_HOME/versa/runtimes`, else `~/.local/share/versa/runtimes`.
    pub fn default_path(get: impl Fn(&str) -> Option<std::ffi::OsString>) -> PathBuf {
        let var = |k: &str| get(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        if let Some(x) = var("XDG_DATA_HOME") {
            return x.join("versa/runtimes");
        }
        if let Some(h) = var("HOME") {
            return h.join(".local/share/versa/runtimes");
        }
        PathBuf::from("versa-runtimes")
    }

    /// The Python SDK's tree (boto3 is `<this>/boto3`).
    pub fn python(&self) -> PathBuf {
        self.root.join("python")
    }

    /// The Node.js SDK's `node_modules`.
    pub fn node_modules(&self) -> PathBuf {
        self.root.join("nodejs/node_modules")
    }

    /// The Python SDK's tree when it is installed.
    pub fn installed_python(&self) -> Option<PathBuf> {
        self.python().join(MARKER).is_file().then(|| self.python())
    }

    /// The Node.js SDK's `node_modules` when it is installed.
    pub fn installed_node_modules(&self) -> Option<PathBuf> {
        self.root.join("nodejs").join(MARKER).is_file().then(|| self.node_modules())
    }

    pub fn status(&self) -> SdkStatus {
        SdkStatus {
            python: installed(&self.python().join(MARKER), &python_pins()),
            node: installed(&self.root.join("nodejs").join(MARKER), &node_pins()),
        }
    }
}

fn installed(marker: &Path, pins: &str) -> Installed {
    match std::fs::read_to_string(marker) {
        Err(_) => Installed::Missing,
        Ok(found) if found == pins => Installed::Current,
        Ok(found) => Installed::Other(found.lines().next().unwrap_or("").to_owned()),
    }
}

/// `boto3==1.42.97`, one a line.
fn python_pins() -> String {
    PYTHON_PACKAGES.iter().map(|(n, v)| format!("{n}=={v}\n")).collect()
}

/// `@aws-sdk/client-s3@3.1178.0`, one a line.
fn node_pins() -> String {
    NODE_PACKAGES.iter().map(|n| format!("{n}@{NODE_SDK_VERSION}\n")).collect()
}

/// What installing one language's SDK came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    AlreadyInstalled,
    Installed {
        seconds: f64,
        megabytes: f64,
    },
    /// The host lacks the tool that installs it (pip, npm).
    Skipped(String),
}

/// Installs the pinned Python SDK with `python3 -m pip` unless it is there, byte-compiled for
/// each of `interpreters` (Python 3.9 and newer).
pub fn install_python(dir: &RuntimesDir, interpreters: &[Interpreter]) -> Result<Outcome, String> {
    let target = dir.python();
    if installed(&target.join(MARKER), &python_pins()) == Installed::Current {
        return Ok(Outcome::AlreadyInstalled);
    }
    if run("python3", &["-m", "pip", "--version"]).is_err() {
        return Ok(Outcome::Skipped("python3 with pip is not installed on this host".to_owned()));
    }
    let began = Instant::now();
    let staging = staging_dir(dir, "python")?;
    let pins: Vec<String> = PYTHON_PACKAGES.iter().map(|(n, v)| format!("{n}=={v}")).collect();
    let mut args: Vec<&str> = vec![
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--only-binary=:all:",
        "--no-warn-conflicts",
        "--disable-pip-version-check",
        "--no-input",
        "--no-compile",
        "--target",
    ];
    let staging_str = staging.to_str().ok_or("the runtimes directory is not UTF-8")?;
    args.push(staging_str);
    args.extend(pins.iter().map(String::as_str));
    run("python3", &args).map_err(|e| format!("pip could not install the AWS SDK for Python: {e}"))?;
    // pip leaves console scripts the runtime has no use for.
    let _ = std::fs::remove_dir_all(staging.join("bin"));
    for i in interpreters.iter().filter(|i| i.major == 3 && i.minor >= PYTHON_MINOR_MIN) {
        // Byte-compiled once here: the tree is read-only in the sandbox, and importing boto3
        // from source costs every cold start about twice as much.
        let program = i.path.as_os_str();
        let args = ["-m", "compileall", "-q", "-j", "0"].map(OsStr::new);
        let compiled = run_os(program, &[&args[..], &[staging.as_os_str()]].concat());
        if let Err(e) = compiled {
            tracing::warn!("cannot byte-compile the AWS SDK for python3.{}: {e}", i.minor);
        }
    }
    std::fs::write(staging.join(MARKER), python_pins()).map_err(|e| e.to_string())?;
    replace_dir(&staging, &target)?;
    Ok(Outcome::Installed { seconds: began.elapsed().as_secs_f64(), megabytes: megabytes(&target) })
}

/// Installs the pinned Node.js SDK with `npm` unless it is there.
pub fn install_node(dir: &RuntimesDir) -> Result<Outcome, String> {
    let target = dir.root.join("nodejs");
    if installed(&target.join(MARKER), &node_pins()) == Installed::Current {
        return Ok(Outcome::AlreadyInstalled);
    }
    if run("npm", &["--version"]).is_err() {
        return Ok(Outcome::Skipped("npm is not installed on this host".to_owned()));
    }
    let began = Instant::now();
    let staging = staging_dir(dir, "nodejs")?;
    let dependencies: Vec<String> =
        NODE_PACKAGES.iter().map(|n| format!("    \"{n}\": \"{NODE_SDK_VERSION}\"")).collect();
    let manifest = format!(
        "{{\n  \"name\": \"versa-runtime-sdk\",\n  \"private\": true,\n  \"dependencies\": {{\n{}\n  }}\n}}\n",
        dependencies.join(",\n")
    );
    std::fs::write(staging.join("package.json"), manifest).map_err(|e| e.to_string())?;
    let staging_str = staging.to_str().ok_or("the runtimes directory is not UTF-8")?;
    run(
        "npm",
        &[
            "install",
            "--prefix",
            staging_str,
            "--omit=dev",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--update-notifier=false",
            "--loglevel=error",
        ],
    )
    .map_err(|e| format!("npm could not install the AWS SDK for JavaScript: {e}"))?;
    std::fs::write(staging.join(MARKER), node_pins()).map_err(|e| e.to_string())?;
    replace_dir(&staging, &target)?;
    Ok(Outcome::Installed { seconds: began.elapsed().as_secs_f64(), megabytes: megabytes(&target) })
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    run_os(OsStr::new(program), &args)
}

/// Runs a host command; the error carries the end of its output.
fn run_os(program: &OsStr, args: &[&OsStr]) -> Result<(), String> {
    let env = [("PIP_ROOT_USER_ACTION", "ignore")];
    let out = sandbox::run_host_command(program, args, &env)
        .map_err(|e| format!("cannot run {}: {e}", program.to_string_lossy()))?;
    if out.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stdout));
    let text = text.trim();
    let start = text.len().saturating_sub(OUTPUT_SHOWN_BYTES);
    let start = (start..text.len()).find(|i| text.is_char_boundary(*i)).unwrap_or(text.len());
    Err(format!("{} exited with {}: {}", program.to_string_lossy(), out.status, &text[start..]))
}

/// The end of a failed command's output shown in the error.
const OUTPUT_SHOWN_BYTES: usize = 2000;

/// A fresh directory next to the final one (same filesystem, so the final rename is atomic).
fn staging_dir(dir: &RuntimesDir, name: &str) -> Result<PathBuf, String> {
    let staging = dir.root.join(format!(".{name}.staging-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|e| format!("cannot create {}: {e}", staging.display()))?;
    Ok(staging)
}

/// Puts `staging` in `target`'s place. A server mounting the old tree keeps it until its
/// environments stop (a bind mount holds the directory, not its path).
fn replace_dir(staging: &Path, target: &Path) -> Result<(), String> {
    let old = target.with_file_name(format!(
        ".{}.old-{}",
        target.file_name().and_then(OsStr::to_str).unwrap_or("sdk"),
        std::process::id()
    ));
    if target.exists() {
        std::fs::rename(target, &old).map_err(|e| format!("cannot move {} aside: {e}", target.display()))?;
    }
    std::fs::rename(staging, target).map_err(|e| format!("cannot install {}: {e}", target.display()))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

fn megabytes(dir: &Path) -> f64 {
    fn size(p: &Path) -> u64 {
        match std::fs::symlink_metadata(p) {
            Ok(m) if m.is_dir() => std::fs::read_dir(p).into_iter().flatten().flatten().map(|e| size(&e.path())).sum(),
            Ok(m) => m.len(),
            Err(_) => 0,
        }
    }
    size(dir) as f64 / (1024.0 * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_reads_each_trees_pins() {
        let dir = tempfile::tempdir().unwrap();
        let r = RuntimesDir::new(dir.path().to_owned());
        assert_eq!(r.status(), SdkStatus { python: Installed::Missing, node: Installed::Missing });
        assert_eq!(r.status().missing(), ["python", "nodejs"]);
        assert_eq!(r.installed_python(), None);
        std::fs::create_dir_all(r.python()).unwrap();
        std::fs::write(r.python().join(MARKER), python_pins()).unwrap();
        std::fs::create_dir_all(r.node_modules()).unwrap();
        std::fs::write(dir.path().join("nodejs").join(MARKER), "@aws-sdk/client-s3@3.1.0\n").unwrap();
        let s = r.status();
        assert_eq!(s.python, Installed::Current);
        assert_eq!(s.node, Installed::Other("@aws-sdk/client-s3@3.1.0".to_owned()));
        assert!(s.missing().is_empty());
        assert_eq!(s.python_summary(), format!("boto3 {}", PYTHON_PACKAGES[0].1));
        assert!(s.node_summary().contains("run `versa runtimes install`"), "{}", s.node_summary());
        assert_eq!(r.installed_python(), Some(r.python()));
        assert_eq!(r.installed_node_modules(), Some(r.node_modules()));
        // Installing over a current tree does nothing.
        assert_eq!(install_python(&r, &[]).unwrap(), Outcome::AlreadyInstalled);
    }

    #[test]
    fn the_default_directory_is_per_user() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| std::ffi::OsString::from(v))
        };
        assert_eq!(
            RuntimesDir::default_path(env(&[("XDG_DATA_HOME", "/x"), ("HOME", "/h")])),
            Path::new("/x/versa/runtimes")
        );
        assert_eq!(RuntimesDir::default_path(env(&[("HOME", "/h")])), Path::new("/h/.local/share/versa/runtimes"));
    }
}
