//! `versa pipeline run FILE [--version N | --from-alias A] [--yes]`: promotes one version of a
//! function alias by alias through the stages of a pipeline file, each stage a deployment
//! through the CodeDeploy API with `--wait` semantics (see [`crate::deploy_cli`]), optionally
//! preceded by a manual approval and followed by a test function invoked synchronously. The
//! first failure stops the run: a failed deployment has rolled its own alias back; a failed test
//! moves its stage's alias back to the version it was on (all at once); later stages are not
//! touched. Exit status 0 only if every stage succeeded.
//!
//! The file is a small subset of TOML (so editors highlight it and a later TOML parser reads
//! it unchanged), parsed here without a dependency: comments, `key = value` with a string,
//! a boolean or a one-line array of strings, and `[[stage]]` tables:
//!
//! ```toml
//! function = "orders"
//!
//! [[stage]]
//! alias = "beta"
//! canary = "10%:30s"          # or linear = "10%:1m"; neither: all at once
//! alarms = ["orders-errors"]
//! pre_traffic = "orders-pre"  # BeforeAllowTraffic hook
//! post_traffic = "orders-post"
//! test = "orders-smoke"       # invoked after the stage; must succeed
//! approval = true             # ask before this stage (or --yes)
//! ```

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context;
use serde_json::json;

use crate::deploy_cli::{self, Conn, ConnArgs, EXIT_FAILED, EXIT_OK, Plan, Strategy};

/// Largest pipeline file read.
const FILE_BYTES_MAX: u64 = 64 * 1024;
/// Most stages in a pipeline.
const STAGES_MAX: usize = 20;
/// Most alarms per stage (CodeDeploy: 10 per deployment group).
const ALARMS_MAX: usize = 10;

#[derive(clap::Subcommand, Debug)]
pub(crate) enum PipelineCommand {
    /// Promote a version through the file's stages, in order, stopping at the first failure.
    Run(RunArgs),
}

#[derive(clap::Args, Debug)]
#[group(id = "source", required = true, multiple = false, args = ["version", "from_alias"])]
pub(crate) struct RunArgs {
    /// The pipeline file.
    #[arg(default_value = "versa.toml")]
    file: PathBuf,
    /// The published version to promote.
    #[arg(long)]
    version: Option<String>,
    /// Promote the version this alias points at.
    #[arg(long)]
    from_alias: Option<String>,
    /// Approve every manual gate (needed when there is no terminal to ask on).
    #[arg(long)]
    yes: bool,
    #[command(flatten)]
    conn: ConnArgs,
}

/// One stage of a pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stage {
    pub(crate) alias: String,
    pub(crate) strategy: Strategy,
    pub(crate) alarms: Vec<String>,
    pub(crate) pre_traffic: Option<String>,
    pub(crate) post_traffic: Option<String>,
    pub(crate) test: Option<String>,
    pub(crate) approval: bool,
}

/// A pipeline file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pipeline {
    pub(crate) function: String,
    pub(crate) stages: Vec<Stage>,
}

/// A value of the TOML subset.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Val {
    Str(String),
    Bool(bool),
    List(Vec<String>),
}

impl Val {
    fn kind(&self) -> &'static str {
        match self {
            Val::Str(_) => "a string",
            Val::Bool(_) => "a boolean",
            Val::List(_) => "an array of strings",
        }
    }
}

/// A stage's `key = value`, with its line number.
type Entry = (String, Val, usize);

/// A quoted string at the start of `s` (TOML basic string: `\"`, `\\`, `\n`, `\t`) and the rest.
fn string_at(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.strip_prefix('"')?.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 2..])),
            '\\' => out.push(match chars.next()?.1 {
                '"' => '"',
                '\\' => '\\',
                'n' => '\n',
                't' => '\t',
                _ => return None,
            }),
            c => out.push(c),
        }
    }
    None
}

/// The rest of a line after a value: blank or a comment.
fn only_comment(rest: &str) -> bool {
    let rest = rest.trim_start();
    rest.is_empty() || rest.starts_with('#')
}

fn value(text: &str) -> Option<Val> {
    let text = text.trim_start();
    if text.starts_with('"') {
        let (s, rest) = string_at(text)?;
        return only_comment(rest).then_some(Val::Str(s));
    }
    if let Some(mut rest) = text.strip_prefix('[') {
        let mut items = Vec::new();
        loop {
            rest = rest.trim_start();
            if let Some(after) = rest.strip_prefix(']') {
                return only_comment(after).then_some(Val::List(items));
            }
            let (s, after) = string_at(rest)?;
            items.push(s);
            rest = after.trim_start();
            if let Some(after) = rest.strip_prefix(',') {
                rest = after;
            } else if !rest.starts_with(']') {
                return None;
            }
        }
    }
    let word = text.split('#').next()?.trim();
    match word {
        "true" => Some(Val::Bool(true)),
        "false" => Some(Val::Bool(false)),
        _ => None,
    }
}

/// Parses a pipeline file's text.
pub(crate) fn parse(text: &str) -> anyhow::Result<Pipeline> {
    let mut function = None;
    let mut tables: Vec<(usize, Vec<Entry>)> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let n = n + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            let header = line.split('#').next().unwrap_or("").trim();
            anyhow::ensure!(header == "[[stage]]", "line {n}: only [[stage]] tables are known, not {header}");
            anyhow::ensure!(tables.len() < STAGES_MAX, "line {n}: at most {STAGES_MAX} stages");
            tables.push((n, Vec::new()));
            continue;
        }
        let (key, rest) = line.split_once('=').with_context(|| format!("line {n}: expected key = value"))?;
        let key = key.trim();
        anyhow::ensure!(
            !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
            "line {n}: {key:?} is not a key"
        );
        let val = value(rest).with_context(|| {
            format!("line {n}: the value of {key} is not a \"string\", true, false or [\"list\", \"of strings\"]")
        })?;
        match tables.last_mut() {
            None => {
                anyhow::ensure!(key == "function", "line {n}: unknown key {key} (before the stages only function)");
                anyhow::ensure!(function.is_none(), "line {n}: function is set twice");
                let Val::Str(f) = val else { anyhow::bail!("line {n}: function is a string") };
                function = Some(f);
            }
            Some((_, keys)) => {
                anyhow::ensure!(keys.iter().all(|(k, _, _)| k != key), "line {n}: {key} is set twice in this stage");
                keys.push((key.to_owned(), val, n));
            }
        }
    }
    let function = function.context("the pipeline names no function (function = \"…\")")?;
    anyhow::ensure!(!function.is_empty(), "function is empty");
    anyhow::ensure!(!tables.is_empty(), "the pipeline has no [[stage]]");
    let mut stages: Vec<Stage> = Vec::new();
    for (at, keys) in tables {
        let stage = stage(at, keys)?;
        anyhow::ensure!(
            stages.iter().all(|s| s.alias != stage.alias),
            "line {at}: the alias {} has two stages",
            stage.alias
        );
        stages.push(stage);
    }
    Ok(Pipeline { function, stages })
}

fn stage(at: usize, keys: Vec<Entry>) -> anyhow::Result<Stage> {
    let (mut alias, mut canary, mut linear, mut all) = (None, None, None, false);
    let mut s = Stage {
        alias: String::new(),
        strategy: Strategy::AllAtOnce,
        alarms: vec![],
        pre_traffic: None,
        post_traffic: None,
        test: None,
        approval: false,
    };
    for (key, val, n) in keys {
        let wrong = |want: &str| anyhow::anyhow!("line {n}: {key} is {want}, not {}", val.kind());
        match (key.as_str(), &val) {
            ("alias", Val::Str(v)) => alias = Some(v.clone()),
            ("canary", Val::Str(v)) => canary = Some(v.clone()),
            ("linear", Val::Str(v)) => linear = Some(v.clone()),
            ("all_at_once", Val::Bool(v)) => all = *v,
            ("alarms", Val::List(v)) => s.alarms = v.clone(),
            ("pre_traffic", Val::Str(v)) => s.pre_traffic = Some(v.clone()),
            ("post_traffic", Val::Str(v)) => s.post_traffic = Some(v.clone()),
            ("test", Val::Str(v)) => s.test = Some(v.clone()),
            ("approval", Val::Bool(v)) => s.approval = *v,
            ("alias" | "canary" | "linear" | "pre_traffic" | "post_traffic" | "test", _) => {
                return Err(wrong("a string"));
            }
            ("all_at_once" | "approval", _) => return Err(wrong("a boolean")),
            ("alarms", _) => return Err(wrong("an array of strings")),
            _ => anyhow::bail!(
                "line {n}: unknown key {key} (a stage has alias, canary, linear, all_at_once, alarms, pre_traffic, \
                 post_traffic, test, approval)"
            ),
        }
    }
    s.alias = alias.filter(|a| !a.is_empty()).with_context(|| format!("line {at}: the stage names no alias"))?;
    s.strategy = Strategy::from_parts(canary.as_deref(), linear.as_deref(), all)
        .map_err(|e| anyhow::anyhow!("stage {}: {e}", s.alias))?;
    anyhow::ensure!(s.alarms.len() <= ALARMS_MAX, "stage {}: at most {ALARMS_MAX} alarms", s.alias);
    Ok(s)
}

/// How a stage went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Deployed (with its deployment id), test passed if any.
    Succeeded(String),
    /// The alias was on the version already (its test passed, if any).
    AlreadyThere,
    /// The deployment ended otherwise (its own rollback applies).
    Failed(String, String),
    /// The test failed: why, and how the alias was put back.
    TestFailed(String, String),
    Declined,
    /// An error stopped the run here.
    Error(String),
    NotRun,
}

impl Outcome {
    fn ok(&self) -> bool {
        matches!(self, Outcome::Succeeded(_) | Outcome::AlreadyThere)
    }

    fn text(&self) -> String {
        match self {
            Outcome::Succeeded(id) => format!("succeeded  {id}"),
            Outcome::AlreadyThere => "already on the version".to_owned(),
            Outcome::Failed(id, why) => format!("failed     {id}  {why}"),
            Outcome::TestFailed(why, back) => format!("test failed: {why}; {back}"),
            Outcome::Declined => "not approved".to_owned(),
            Outcome::Error(e) => format!("error: {e}"),
            Outcome::NotRun => "not run".to_owned(),
        }
    }
}

/// The summary printed at the end.
pub(crate) fn summary(p: &Pipeline, version: &str, outcomes: &[Outcome]) -> String {
    let width = p.stages.iter().map(|s| s.alias.len()).max().unwrap_or(0);
    let mut out = format!("pipeline {} version {version}\n", p.function);
    for (stage, o) in p.stages.iter().zip(outcomes) {
        let mark = if o.ok() {
            "ok  "
        } else if *o == Outcome::NotRun {
            "-   "
        } else {
            "FAIL"
        };
        out.push_str(&format!("  {mark} {:<width$}  {}\n", stage.alias, o.text()));
    }
    out
}

/// The payload a stage's test function receives.
pub(crate) fn test_payload(function: &str, alias: &str, version: &str) -> serde_json::Value {
    json!({"function": function, "alias": alias, "version": version})
}

/// `versa pipeline …`: the exit status.
pub(crate) fn run(command: PipelineCommand) -> i32 {
    let PipelineCommand::Run(args) = command;
    run_inner(args).unwrap_or_else(|e| deploy_cli::usage_error(&e))
}

fn run_inner(args: RunArgs) -> anyhow::Result<i32> {
    let meta = std::fs::metadata(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
    anyhow::ensure!(meta.len() <= FILE_BYTES_MAX, "{} is larger than {FILE_BYTES_MAX} bytes", args.file.display());
    let text = std::fs::read_to_string(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
    let p = parse(&text).with_context(|| args.file.display().to_string())?;
    let interactive = std::io::stdin().is_terminal();
    anyhow::ensure!(
        args.yes || interactive || p.stages.iter().all(|s| !s.approval),
        "the pipeline has approval gates and there is no terminal to ask on; add --yes to approve them"
    );
    let conn = Conn::new(&args.conn)?;
    let version = match (&args.version, &args.from_alias) {
        (Some(v), _) => v.clone(),
        (None, Some(a)) => conn.get_alias(&p.function, a)?.version,
        (None, None) => anyhow::bail!("give --version N or --from-alias A"),
    };
    anyhow::ensure!(
        version.bytes().all(|b| b.is_ascii_digit()) && !version.is_empty(),
        "promote a published version, not {version:?}"
    );
    let mut outcomes = vec![Outcome::NotRun; p.stages.len()];
    for (n, stage) in p.stages.iter().enumerate() {
        if stage.approval && !args.yes && !ask(&format!("Promote {version} to {}? [y/N] ", stage.alias))? {
            outcomes[n] = Outcome::Declined;
            break;
        }
        println!("== stage {}: {} → {version} ({})", stage.alias, p.function, stage.strategy.describe());
        outcomes[n] =
            run_stage(&conn, &p.function, stage, &version).unwrap_or_else(|e| Outcome::Error(format!("{e:#}")));
        if !outcomes[n].ok() {
            break;
        }
    }
    print!("{}", summary(&p, &version, &outcomes));
    Ok(if outcomes.iter().all(Outcome::ok) { EXIT_OK } else { EXIT_FAILED })
}

/// Asks on the terminal; only `y`/`yes` approves.
fn ask(question: &str) -> anyhow::Result<bool> {
    let mut out = std::io::stdout();
    write!(out, "{question}")?;
    out.flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

fn run_stage(conn: &Conn, function: &str, stage: &Stage, version: &str) -> anyhow::Result<Outcome> {
    let before = conn.get_alias(function, &stage.alias)?.version;
    let deployed = if before == version {
        println!("{function}:{} is on version {version} already", stage.alias);
        None
    } else {
        let plan = Plan {
            function: function.to_owned(),
            alias: stage.alias.clone(),
            version: version.to_owned(),
            strategy: stage.strategy,
            alarms: stage.alarms.clone(),
            pre_traffic: stage.pre_traffic.clone(),
            post_traffic: stage.post_traffic.clone(),
            description: format!("versa pipeline: {function} version {version} to {}", stage.alias),
        };
        let (_, ended, id) = deploy_cli::deploy(conn, &plan, true)?;
        let ended = ended.context("the deployment was not followed")?;
        if !ended.succeeded() {
            return Ok(Outcome::Failed(id, ended.describe()));
        }
        Some(id)
    };
    if let Some(test) = &stage.test {
        println!("testing with {test}");
        if let Some(why) = conn.invoke(test, &test_payload(function, &stage.alias, version))? {
            let back = match &deployed {
                None => "the alias was already there; left as it is".to_owned(),
                Some(_) => put_back(conn, function, &stage.alias, &before, version),
            };
            return Ok(Outcome::TestFailed(why, back));
        }
    }
    Ok(deployed.map_or(Outcome::AlreadyThere, Outcome::Succeeded))
}

/// After a failed test, moves the alias back to `before` at once, through a deployment.
fn put_back(conn: &Conn, function: &str, alias: &str, before: &str, version: &str) -> String {
    let plan = Plan {
        function: function.to_owned(),
        alias: alias.to_owned(),
        version: before.to_owned(),
        strategy: Strategy::AllAtOnce,
        alarms: vec![],
        pre_traffic: None,
        post_traffic: None,
        description: format!("versa pipeline: test of version {version} failed; back to {before}"),
    };
    match deploy_cli::deploy(conn, &plan, true) {
        Ok((_, Some(e), id)) if e.succeeded() => format!("{alias} moved back to {before} by {id}"),
        Ok((_, e, id)) => {
            format!("moving {alias} back to {before} by {id} ended {}", e.map_or_else(String::new, |e| e.describe()))
        }
        Err(e) => format!("could not move {alias} back to {before}: {e:#}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
# Orders: dev, then beta, then prod.
function = "orders"

[[stage]]
alias = "dev"

[[stage]]   # beta
alias = "beta"
canary = "10%:30s"
alarms = ["orders-errors", "orders-p99"]  # both
pre_traffic = "orders-pre"
test = "orders \"smoke\""

[[stage]]
alias = "prod"
linear = "10%:1m"
post_traffic = "orders-post"
approval = true
alarms = []
"#;

    #[test]
    fn a_pipeline_file_parses_into_stages() {
        let p = parse(FILE).unwrap();
        assert_eq!(p.function, "orders");
        let aliases: Vec<&str> = p.stages.iter().map(|s| s.alias.as_str()).collect();
        assert_eq!(aliases, ["dev", "beta", "prod"]);
        assert_eq!(p.stages[0].strategy, Strategy::AllAtOnce);
        assert!(!p.stages[0].approval && p.stages[0].test.is_none());
        let beta = &p.stages[1];
        assert_eq!(beta.strategy, Strategy::Canary { percent: 10, seconds: 30 });
        assert_eq!(beta.alarms, ["orders-errors", "orders-p99"]);
        assert_eq!(beta.pre_traffic.as_deref(), Some("orders-pre"));
        assert_eq!(beta.test.as_deref(), Some("orders \"smoke\""));
        let prod = &p.stages[2];
        assert_eq!(prod.strategy, Strategy::Linear { percent: 10, seconds: 60 });
        assert_eq!(prod.post_traffic.as_deref(), Some("orders-post"));
        assert!(prod.approval && prod.alarms.is_empty());
    }

    #[test]
    fn bad_pipeline_files_are_explained_with_their_line() {
        let cases = [
            ("", "names no function"),
            ("function = \"f\"\n", "no [[stage]]"),
            ("function = \"f\"\n[stage]\n", "line 2: only [[stage]] tables"),
            ("function = \"f\"\n[[stage]]\nalias = \"a\"\nalias = \"b\"\n", "line 4: alias is set twice"),
            ("function = \"f\"\n[[stage]]\nalias = a\n", "line 3: the value of alias"),
            ("function = \"f\"\n[[stage]]\nalias = \"a\" x\n", "line 3"),
            ("function = \"f\"\n[[stage]]\nalias = \"a\n", "line 3"),
            (
                "function = \"f\"\n[[stage]]\nalias = \"a\"\napproval = \"yes\"\n",
                "line 4: approval is a boolean, not a string",
            ),
            ("function = \"f\"\n[[stage]]\nalias = \"a\"\nalarms = \"x\"\n", "line 4: alarms is an array of strings"),
            ("function = \"f\"\n[[stage]]\nalias = \"a\"\ncanary = 10\n", "line 4"),
            ("function = \"f\"\n[[stage]]\nalias = \"a\"\nspeed = \"x\"\n", "line 4: unknown key speed"),
            ("function = \"f\"\n[[stage]]\ncanary = \"10%:1m\"\n", "line 2: the stage names no alias"),
            (
                "function = \"f\"\n[[stage]]\nalias = \"a\"\ncanary = \"10%:1m\"\nlinear = \"10%:1m\"\n",
                "stage a: choose one",
            ),
            (
                "function = \"f\"\n[[stage]]\nalias = \"a\"\ncanary = \"10:1m\"\n",
                "stage a: --canary wants a percentage",
            ),
            (
                "function = \"f\"\n[[stage]]\nalias = \"a\"\n[[stage]]\nalias = \"a\"\n",
                "line 4: the alias a has two stages",
            ),
            ("region = \"x\"\n", "line 1: unknown key region"),
            ("function = \"f\"\nfunction = \"g\"\n", "line 2: function is set twice"),
            ("function = \"f\"\n[[stage]]\nalias = \"a\"\nalarms = [\"x\" \"y\"]\n", "line 4"),
            ("just words\n", "line 1: expected key = value"),
        ];
        for (text, want) in cases {
            let e = format!("{:#}", parse(text).unwrap_err());
            assert!(e.contains(want), "{text:?}: {e}");
        }
        let many: String = std::iter::once("function = \"f\"\n".to_owned())
            .chain((0..=STAGES_MAX).map(|i| format!("[[stage]]\nalias = \"a{i}\"\n")))
            .collect();
        assert!(parse(&many).unwrap_err().to_string().contains("at most 20 stages"));
        let alarms: Vec<String> = (0..=ALARMS_MAX).map(|i| format!("\"a{i}\"")).collect();
        let text = format!("function = \"f\"\n[[stage]]\nalias = \"a\"\nalarms = [{}]\n", alarms.join(", "));
        assert!(parse(&text).unwrap_err().to_string().contains("at most 10 alarms"));
    }

    #[test]
    fn the_summary_marks_each_stage() {
        let p = parse(FILE).unwrap();
        let outcomes = [
            Outcome::Succeeded("d-AAAAAAAAA".into()),
            Outcome::Failed(
                "d-BBBBBBBBB".into(),
                "Failed: HOOK_EXECUTION_FAILURE: hook failed (rolled back by d-C)".into(),
            ),
            Outcome::NotRun,
        ];
        assert_eq!(
            summary(&p, "7", &outcomes),
            "pipeline orders version 7\n  \
             ok   dev   succeeded  d-AAAAAAAAA\n  \
             FAIL beta  failed     d-BBBBBBBBB  Failed: HOOK_EXECUTION_FAILURE: hook failed (rolled back by d-C)\n  \
             -    prod  not run\n"
        );
        assert!(Outcome::AlreadyThere.ok() && !Outcome::Declined.ok() && !Outcome::NotRun.ok());
        assert_eq!(test_payload("f", "beta", "7"), json!({"function": "f", "alias": "beta", "version": "7"}));
    }
}
