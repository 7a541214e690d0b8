//! `versa deploy FUNCTION --alias A --version N [--canary P%:I | --linear P%:I | --all-at-once]
//! [--alarm NAME]… [--pre-traffic FN] [--post-traffic FN] [--wait]`, `versa deploy
//! status|stop|list` and `versa promote FUNCTION --from A --to B`: clients of a server's
//! CodeDeploy API (AWS JSON 1.1, `CodeDeploy_20141006.*`, signed for `codedeploy`), so the
//! deployment they start is the same record `aws deploy get-deployment` shows.
//!
//! A deployment implicitly creates (idempotently) the application [`APPLICATION`] (compute
//! platform Lambda), the deployment group `<function>-<alias>` (blue/green with traffic control,
//! automatic rollback on failure, alarm and stop) and, unless a predefined
//! `CodeDeployDefault.Lambda*` config matches the strategy exactly, a custom config named after
//! it (`versa-canary-10pct-30s`); intervals that are not whole minutes use Versa's
//! `"versaIntervalUnit": "SECONDS"`. The AppSpec's CurrentVersion is what the alias points at
//! now (GetAlias). `--wait` follows the deployment once a second: status, the alias's weights
//! (GetAlias) and the invocations and errors per executed version since the deployment began
//! (GetMetricData), on one rewritten line on a terminal, as plain lines otherwise.
//!
//! Exit status: 0 when the deployment started (or, waiting, ended `Succeeded`), 1 when it ended
//! `Failed` or `Stopped`, 2 for usage errors, refusals and unreachable servers.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};

use crate::client::{Answer, Signer, send_with_headers};
use crate::metrics_cli::{self, Figures, Row};

/// The application every native deployment belongs to.
pub(crate) const APPLICATION: &str = "versa";
/// CodeDeploy's JSON 1.1 target prefix.
const TARGET_PREFIX: &str = "CodeDeploy_20141006";
/// Lambda's REST API version path.
const LAMBDA_PREFIX: &str = "/2015-03-31";
/// Largest traffic percentage of one step (AWS: at most 99 %).
const PERCENT_MAX: u32 = 99;
/// Longest time between the first and the last traffic shift (AWS: 2,880 minutes).
const SHIFTING_SECONDS_MAX: u64 = 2_880 * 60;
/// How often `--wait` refreshes.
const WAIT_TICK: Duration = Duration::from_secs(1);
/// Longest `--wait` (AWS: a Lambda deployment lasts at most 50 hours).
const WAIT_MAX: Duration = Duration::from_secs(50 * 3_600);
/// Consecutive failed GetDeployment calls after which `--wait` gives up.
const WAIT_FAILURES_MAX: u32 = 10;
/// Most ListDeployments / ListDeploymentGroups pages read by `deploy list`.
const LIST_PAGES_MAX: usize = 20;
/// Most deployments `deploy list` shows.
const LIST_ROWS_MAX: usize = 100;
/// BatchGetDeployments' limit.
const BATCH_GET_MAX: usize = 25;
/// A minute in milliseconds.
const MINUTE_MS: i64 = 60_000;

/// Exit status of a deployment that ended `Succeeded` (or was started without `--wait`).
pub(crate) const EXIT_OK: i32 = 0;
/// Exit status of a deployment that ended `Failed` or `Stopped`.
pub(crate) const EXIT_FAILED: i32 = 1;
/// Exit status of usage errors, refusals and unreachable servers.
pub(crate) const EXIT_USAGE: i32 = 2;

/// Where and as whom: `--endpoint`, `--region`, `--profile`.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct ConnArgs {
    /// The server; $AWS_ENDPOINT_URL when set.
    #[arg(long, env = "AWS_ENDPOINT_URL", default_value = metrics_cli::DEFAULT_ENDPOINT, hide_env = true, global = true)]
    pub(crate) endpoint: String,
    /// The region [default: $AWS_REGION, $AWS_DEFAULT_REGION, else us-east-1].
    #[arg(long, global = true)]
    pub(crate) region: Option<String>,
    /// The shared-credentials profile [default: the environment's key, else $AWS_PROFILE, else default].
    #[arg(long, global = true)]
    pub(crate) profile: Option<String>,
}

/// How traffic moves, and what guards it; shared by `deploy`, `promote` and pipeline stages.
#[derive(clap::Args, Debug, Clone, Default)]
#[group(id = "strategy_flags", multiple = false)]
pub(crate) struct StrategyArgs {
    /// PERCENT%:INTERVAL: that share first, the rest after INTERVAL (30s, 5m, 1h).
    #[arg(long, value_name = "P%:I", group = "strategy_flags")]
    pub(crate) canary: Option<String>,
    /// PERCENT%:INTERVAL: that share more every INTERVAL (30s, 5m, 1h).
    #[arg(long, value_name = "P%:I", group = "strategy_flags")]
    pub(crate) linear: Option<String>,
    /// Everything at once (the default).
    #[arg(long, group = "strategy_flags")]
    pub(crate) all_at_once: bool,
}

/// Alarms and hooks of a deployment.
#[derive(clap::Args, Debug, Clone, Default)]
pub(crate) struct GuardArgs {
    /// A CloudWatch alarm that stops and rolls back the deployment when it fires; repeatable.
    #[arg(long = "alarm", value_name = "NAME")]
    pub(crate) alarms: Vec<String>,
    /// A function invoked before any traffic moves (BeforeAllowTraffic); it must report Succeeded.
    #[arg(long, value_name = "FN")]
    pub(crate) pre_traffic: Option<String>,
    /// A function invoked after all traffic moved (AfterAllowTraffic); it must report Succeeded.
    #[arg(long, value_name = "FN")]
    pub(crate) post_traffic: Option<String>,
    /// Follow the deployment to its end; exit 0 only if it succeeds.
    #[arg(long)]
    pub(crate) wait: bool,
}

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct DeployArgs {
    #[command(subcommand)]
    command: Option<DeployCommand>,
    /// The function whose alias moves.
    function: Option<String>,
    /// The alias that moves.
    #[arg(long)]
    alias: Option<String>,
    /// The version it moves to.
    #[arg(long)]
    version: Option<String>,
    #[command(flatten)]
    strategy: StrategyArgs,
    #[command(flatten)]
    guards: GuardArgs,
    #[command(flatten)]
    conn: ConnArgs,
}

#[derive(clap::Subcommand, Debug)]
enum DeployCommand {
    /// A deployment's status, versions, weights and error.
    Status {
        /// The deployment id (d-…).
        id: String,
    },
    /// Stop a deployment in progress.
    Stop {
        /// The deployment id (d-…).
        id: String,
        /// Move the alias back to the version it was on.
        #[arg(long)]
        rollback: bool,
    },
    /// The deployments of every alias, of a function's aliases, or of one alias, newest first.
    List {
        /// FUNCTION or FUNCTION:ALIAS.
        target: Option<String>,
    },
}

#[derive(clap::Args, Debug)]
pub(crate) struct PromoteArgs {
    /// The function.
    function: String,
    /// The alias whose version is promoted.
    #[arg(long)]
    from: String,
    /// The alias that moves to it.
    #[arg(long)]
    to: String,
    #[command(flatten)]
    strategy: StrategyArgs,
    #[command(flatten)]
    guards: GuardArgs,
    #[command(flatten)]
    conn: ConnArgs,
}

/// How the alias's traffic moves from its version to the new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strategy {
    AllAtOnce,
    /// `percent` first, the rest `seconds` later.
    Canary {
        percent: u32,
        seconds: u64,
    },
    /// `percent` more every `seconds`.
    Linear {
        percent: u32,
        seconds: u64,
    },
}

impl Strategy {
    /// From the flags (none: all at once).
    pub(crate) fn from_args(args: &StrategyArgs) -> anyhow::Result<Strategy> {
        Strategy::from_parts(args.canary.as_deref(), args.linear.as_deref(), args.all_at_once)
    }

    /// From `--canary`, `--linear`, `--all-at-once` (at most one).
    pub(crate) fn from_parts(canary: Option<&str>, linear: Option<&str>, all: bool) -> anyhow::Result<Strategy> {
        match (canary, linear, all) {
            (None, None, _) => Ok(Strategy::AllAtOnce),
            (Some(c), None, false) => {
                let (percent, seconds) = parse_step(c, "--canary")?;
                anyhow::ensure!(
                    seconds <= SHIFTING_SECONDS_MAX,
                    "--canary waits at most 2880 minutes (48 hours) before shifting the rest"
                );
                Ok(Strategy::Canary { percent, seconds })
            }
            (None, Some(l), false) => {
                let (percent, seconds) = parse_step(l, "--linear")?;
                let shifts = u64::from(100u32.div_ceil(percent)) - 1;
                anyhow::ensure!(
                    shifts * seconds <= SHIFTING_SECONDS_MAX,
                    "--linear {l} shifts for longer than 2880 minutes (48 hours) from first to last step"
                );
                Ok(Strategy::Linear { percent, seconds })
            }
            _ => anyhow::bail!("choose one of --canary, --linear and --all-at-once"),
        }
    }

    /// The predefined `CodeDeployDefault.Lambda*` config that is exactly this strategy.
    pub(crate) fn predefined(&self) -> Option<&'static str> {
        Some(match *self {
            Strategy::AllAtOnce => "CodeDeployDefault.LambdaAllAtOnce",
            Strategy::Canary { percent: 10, seconds: 300 } => "CodeDeployDefault.LambdaCanary10Percent5Minutes",
            Strategy::Canary { percent: 10, seconds: 600 } => "CodeDeployDefault.LambdaCanary10Percent10Minutes",
            Strategy::Canary { percent: 10, seconds: 900 } => "CodeDeployDefault.LambdaCanary10Percent15Minutes",
            Strategy::Canary { percent: 10, seconds: 1_800 } => "CodeDeployDefault.LambdaCanary10Percent30Minutes",
            Strategy::Linear { percent: 10, seconds: 60 } => "CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
            Strategy::Linear { percent: 10, seconds: 120 } => "CodeDeployDefault.LambdaLinear10PercentEvery2Minutes",
            Strategy::Linear { percent: 10, seconds: 180 } => "CodeDeployDefault.LambdaLinear10PercentEvery3Minutes",
            Strategy::Linear { percent: 10, seconds: 600 } => "CodeDeployDefault.LambdaLinear10PercentEvery10Minutes",
            _ => return None,
        })
    }

    /// The deployment config's name: the predefined one, else `versa-<kind>-<p>pct-<interval>`.
    pub(crate) fn config_name(&self) -> String {
        if let Some(name) = self.predefined() {
            return name.to_owned();
        }
        match *self {
            Strategy::Canary { percent, seconds } => format!("versa-canary-{percent}pct-{}", interval_text(seconds)),
            Strategy::Linear { percent, seconds } => format!("versa-linear-{percent}pct-{}", interval_text(seconds)),
            Strategy::AllAtOnce => unreachable!("all at once is predefined"),
        }
    }

    /// The CreateDeploymentConfig request of a custom config (`None` for a predefined one).
    pub(crate) fn create_config_body(&self) -> Option<Value> {
        if self.predefined().is_some() {
            return None;
        }
        let (kind, member, percent_key, interval_key, percent, seconds) = match *self {
            Strategy::Canary { percent, seconds } => {
                ("TimeBasedCanary", "timeBasedCanary", "canaryPercentage", "canaryInterval", percent, seconds)
            }
            Strategy::Linear { percent, seconds } => {
                ("TimeBasedLinear", "timeBasedLinear", "linearPercentage", "linearInterval", percent, seconds)
            }
            Strategy::AllAtOnce => return None,
        };
        let whole_minutes = seconds.is_multiple_of(60);
        let interval = if whole_minutes { seconds / 60 } else { seconds };
        let mut body = json!({
            "deploymentConfigName": self.config_name(),
            "computePlatform": "Lambda",
            "trafficRoutingConfig": {"type": kind, member: {percent_key: percent, interval_key: interval}},
        });
        if !whole_minutes {
            body["versaIntervalUnit"] = json!("SECONDS");
        }
        Some(body)
    }

    /// In words, for messages.
    pub(crate) fn describe(&self) -> String {
        match *self {
            Strategy::AllAtOnce => "all at once".to_owned(),
            Strategy::Canary { percent, seconds } => {
                format!("canary {percent}%, the rest after {}", interval_text(seconds))
            }
            Strategy::Linear { percent, seconds } => format!("linear {percent}% every {}", interval_text(seconds)),
        }
    }
}

/// `90` → `90s`, `300` → `5m` (whole minutes are written in minutes).
fn interval_text(seconds: u64) -> String {
    if seconds.is_multiple_of(60) { format!("{}m", seconds / 60) } else { format!("{seconds}s") }
}

/// `10%:5m` → (10, 300).
pub(crate) fn parse_step(s: &str, flag: &str) -> anyhow::Result<(u32, u64)> {
    let (percent, interval) =
        s.split_once(':').with_context(|| format!("{flag} wants PERCENT%:INTERVAL, like 10%:5m, not {s:?}"))?;
    let percent = percent
        .strip_suffix('%')
        .and_then(|p| p.parse::<u32>().ok())
        .with_context(|| format!("{flag} wants a percentage like 10%, not {percent:?}"))?;
    anyhow::ensure!(
        (1..=PERCENT_MAX).contains(&percent),
        "{flag}: the percentage is 1% to {PERCENT_MAX}%, not {percent}%"
    );
    Ok((percent, parse_interval(interval).with_context(|| format!("{flag} {s}"))?))
}

/// `30s`, `5m`, `1h` → seconds (at least 1).
pub(crate) fn parse_interval(s: &str) -> anyhow::Result<u64> {
    let bad = || anyhow::anyhow!("the interval is a whole number and s, m or h (30s, 5m, 1h), not {s:?}");
    let unit_at = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let n: u64 = s[..unit_at].parse().map_err(|_| bad())?;
    let unit = match &s[unit_at..] {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        _ => return Err(bad()),
    };
    let seconds = n.checked_mul(unit).ok_or_else(bad)?;
    anyhow::ensure!(seconds > 0, "the interval must be longer than zero, not {s:?}");
    Ok(seconds)
}

/// One deployment to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) function: String,
    pub(crate) alias: String,
    pub(crate) version: String,
    pub(crate) strategy: Strategy,
    pub(crate) alarms: Vec<String>,
    pub(crate) pre_traffic: Option<String>,
    pub(crate) post_traffic: Option<String>,
    pub(crate) description: String,
}

/// The deployment group of a function's alias.
pub(crate) fn group_name(function: &str, alias: &str) -> String {
    format!("{function}-{alias}")
}

/// The AppSpec (JSON) moving `plan.alias` from `current` to `plan.version`.
pub(crate) fn appspec(plan: &Plan, current: &str) -> String {
    let mut hooks = Vec::new();
    if let Some(f) = &plan.pre_traffic {
        hooks.push(json!({"BeforeAllowTraffic": f}));
    }
    if let Some(f) = &plan.post_traffic {
        hooks.push(json!({"AfterAllowTraffic": f}));
    }
    let mut spec = json!({
        "version": 0.0,
        "Resources": [{plan.function.as_str(): {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Name": plan.function,
                "Alias": plan.alias,
                "CurrentVersion": current,
                "TargetVersion": plan.version,
            },
        }}],
    });
    if !hooks.is_empty() {
        spec["Hooks"] = Value::Array(hooks);
    }
    spec.to_string()
}

pub(crate) fn create_application_body() -> Value {
    json!({"applicationName": APPLICATION, "computePlatform": "Lambda"})
}

/// The group of `function:alias`: blue/green with traffic control, rolled back on failure,
/// alarm and stop; its config and alarms are given per deployment.
pub(crate) fn create_group_body(function: &str, alias: &str, account: &str) -> Value {
    json!({
        "applicationName": APPLICATION,
        "deploymentGroupName": group_name(function, alias),
        "serviceRoleArn": format!("arn:aws:iam::{account}:role/versa-deploy"),
        "deploymentConfigName": "CodeDeployDefault.LambdaAllAtOnce",
        "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
        "autoRollbackConfiguration": {
            "enabled": true,
            "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_STOP_ON_REQUEST"],
        },
    })
}

/// The CreateDeployment request.
pub(crate) fn create_deployment_body(plan: &Plan, current: &str) -> Value {
    let mut body = json!({
        "applicationName": APPLICATION,
        "deploymentGroupName": group_name(&plan.function, &plan.alias),
        "deploymentConfigName": plan.strategy.config_name(),
        "description": plan.description,
        "revision": {"revisionType": "AppSpecContent", "appSpecContent": {"content": appspec(plan, current)}},
    });
    if !plan.alarms.is_empty() {
        let alarms: Vec<Value> = plan.alarms.iter().map(|a| json!({"name": a})).collect();
        body["overrideAlarmConfiguration"] = json!({"enabled": true, "alarms": alarms});
    }
    body
}

/// A CodeDeploy or Lambda error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) operation: String,
    pub(crate) status: u16,
    pub(crate) code: String,
    pub(crate) message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: the server answered {} {}: {}", self.operation, self.status, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

/// Whether `e` is a server's error answer with `code`.
pub(crate) fn is_code(e: &anyhow::Error, code: &str) -> bool {
    e.downcast_ref::<ApiError>().is_some_and(|a| a.code == code)
}

/// A server and the key that signs for it.
pub(crate) struct Conn {
    endpoint: String,
    key: server::credentials::ProfileKey,
    region: String,
}

impl Conn {
    pub(crate) fn new(args: &ConnArgs) -> anyhow::Result<Conn> {
        let key = metrics_cli::credentials(args.profile.as_deref())?;
        let endpoint = args.endpoint.trim_end_matches('/').to_owned();
        Ok(Conn { endpoint, key, region: metrics_cli::region(args.region.clone()) })
    }

    fn signer<'a>(&'a self, service: &'a str) -> Signer<'a> {
        Signer {
            access_key_id: &self.key.access_key_id,
            secret: &self.key.secret,
            session_token: self.key.session_token.as_deref(),
            region: &self.region,
            service,
        }
    }

    /// One CodeDeploy call; an error answer becomes an [`ApiError`].
    pub(crate) fn codedeploy(&self, operation: &str, body: &Value) -> anyhow::Result<Value> {
        let target = format!("{TARGET_PREFIX}.{operation}");
        let headers = [("content-type", "application/x-amz-json-1.1"), ("x-amz-target", target.as_str())];
        let signer = self.signer("codedeploy");
        let a = send_with_headers(
            &self.endpoint,
            &http::Method::POST,
            "/",
            &headers,
            body.to_string().as_bytes(),
            &signer,
        )?;
        answer_json(operation, &a)
    }

    /// GetAlias.
    pub(crate) fn get_alias(&self, function: &str, alias: &str) -> anyhow::Result<AliasState> {
        let path = format!("{LAMBDA_PREFIX}/functions/{function}/aliases/{alias}");
        let a = send_with_headers(&self.endpoint, &http::Method::GET, &path, &[], b"", &self.signer("lambda"))?;
        AliasState::from_json(&answer_json("GetAlias", &a)?)
    }

    /// A synchronous Invoke of `function` with `payload`: `Ok(None)` when it succeeded, else
    /// what went wrong (its error answer).
    pub(crate) fn invoke(&self, function: &str, payload: &Value) -> anyhow::Result<Option<String>> {
        let path = format!("{LAMBDA_PREFIX}/functions/{function}/invocations");
        let headers = [("x-amz-invocation-type", "RequestResponse")];
        let body = payload.to_string();
        let a = send_with_headers(
            &self.endpoint,
            &http::Method::POST,
            &path,
            &headers,
            body.as_bytes(),
            &self.signer("lambda"),
        )?;
        if a.status != 200 {
            answer_json("Invoke", &a)?;
        }
        Ok(a.header("x-amz-function-error").map(|kind| format!("{kind}: {}", a.body.trim())))
    }

    /// One CloudWatch call (JSON 1.0, as `versa metrics`).
    fn cloudwatch(&self, operation: &str, body: &Value) -> anyhow::Result<Value> {
        metrics_cli::call(&self.endpoint, &self.signer("monitoring"), operation, body)
    }
}

/// A JSON answer, or its error as an [`ApiError`]: the code from `x-amzn-errortype` (Lambda),
/// else the body's `__type` (JSON 1.1).
fn answer_json(operation: &str, a: &Answer) -> anyhow::Result<Value> {
    let answer: Value = serde_json::from_str(&a.body).unwrap_or(Value::Null);
    if a.status != 200 {
        let kind = a
            .header("x-amzn-errortype")
            .map(|t| t.split(':').next().unwrap_or(t))
            .or(answer["__type"].as_str())
            .unwrap_or("");
        let code = kind.rsplit('#').next().unwrap_or(kind).to_owned();
        let message = answer["message"].as_str().or(answer["Message"].as_str()).unwrap_or(&a.body).to_owned();
        return Err(ApiError { operation: operation.to_owned(), status: a.status, code, message }.into());
    }
    Ok(answer)
}

/// An alias as GetAlias shows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AliasState {
    pub(crate) version: String,
    /// AdditionalVersionWeights, by version.
    pub(crate) weights: Vec<(String, f64)>,
    pub(crate) arn: String,
}

impl AliasState {
    fn from_json(v: &Value) -> anyhow::Result<AliasState> {
        let version = v["FunctionVersion"].as_str().context("GetAlias: the answer has no FunctionVersion")?;
        let mut weights: Vec<(String, f64)> = v["RoutingConfig"]["AdditionalVersionWeights"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, w)| Some((k.clone(), w.as_f64()?)))
            .collect();
        weights.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(AliasState { version: version.to_owned(), weights, arn: v["AliasArn"].as_str().unwrap_or("").to_owned() })
    }

    /// The account in the alias's ARN.
    fn account(&self) -> Option<&str> {
        self.arn.split(':').nth(4).filter(|a| !a.is_empty())
    }

    /// The share of traffic `version` gets.
    pub(crate) fn weight_of(&self, version: &str) -> f64 {
        let extra: f64 = self.weights.iter().map(|(_, w)| w).sum();
        if version == self.version {
            return (1.0 - extra).max(0.0);
        }
        self.weights.iter().find(|(v, _)| v == version).map_or(0.0, |(_, w)| *w)
    }
}

/// A started deployment.
#[derive(Debug, Clone)]
pub(crate) struct Started {
    pub(crate) id: String,
    /// The version the alias was on.
    pub(crate) current: String,
}

/// Creates what the deployment needs (application, group, config; each may exist) and the
/// deployment itself.
pub(crate) fn start(conn: &Conn, plan: &Plan) -> anyhow::Result<Started> {
    let alias = conn.get_alias(&plan.function, &plan.alias).map_err(|e| {
        if is_code(&e, "ResourceNotFoundException") {
            anyhow::anyhow!(
                "{}:{} does not exist; create the alias first (aws lambda create-alias)",
                plan.function,
                plan.alias
            )
        } else {
            e
        }
    })?;
    anyhow::ensure!(
        alias.version != plan.version,
        "{}:{} is already on version {}",
        plan.function,
        plan.alias,
        plan.version
    );
    let account = alias.account().unwrap_or(control::keys::ROOT_ACCOUNT).to_owned();
    ignore_code(conn.codedeploy("CreateApplication", &create_application_body()), "ApplicationAlreadyExistsException")?;
    ignore_code(
        conn.codedeploy("CreateDeploymentGroup", &create_group_body(&plan.function, &plan.alias, &account)),
        "DeploymentGroupAlreadyExistsException",
    )?;
    if let Some(body) = plan.strategy.create_config_body() {
        ignore_code(conn.codedeploy("CreateDeploymentConfig", &body), "DeploymentConfigAlreadyExistsException")?;
    }
    let answer = conn.codedeploy("CreateDeployment", &create_deployment_body(plan, &alias.version))?;
    let id = answer["deploymentId"].as_str().context("CreateDeployment: the answer has no deploymentId")?;
    Ok(Started { id: id.to_owned(), current: alias.version })
}

fn ignore_code(r: anyhow::Result<Value>, code: &str) -> anyhow::Result<()> {
    match r {
        Ok(_) => Ok(()),
        Err(e) if is_code(&e, code) => Ok(()),
        Err(e) => Err(e),
    }
}

/// How a deployment ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ended {
    pub(crate) status: String,
    /// errorInformation's code and message.
    pub(crate) error: Option<(String, String)>,
    pub(crate) rollback_id: Option<String>,
}

impl Ended {
    fn from_info(info: &Value) -> Ended {
        let error = info["errorInformation"]["code"]
            .as_str()
            .map(|c| (c.to_owned(), info["errorInformation"]["message"].as_str().unwrap_or("").to_owned()));
        Ended {
            status: info["status"].as_str().unwrap_or("").to_owned(),
            error,
            rollback_id: info["rollbackInfo"]["rollbackDeploymentId"].as_str().map(str::to_owned),
        }
    }

    pub(crate) fn succeeded(&self) -> bool {
        self.status == "Succeeded"
    }

    /// `Failed: HOOK_EXECUTION_FAILURE: …; rolled back by d-…`.
    pub(crate) fn describe(&self) -> String {
        let mut s = self.status.clone();
        if let Some((code, message)) = &self.error {
            s.push_str(&format!(": {code}: {message}"));
        }
        if let Some(r) = &self.rollback_id {
            s.push_str(&format!(" (rolled back by {r})"));
        }
        s
    }
}

/// Whether a deployment status is final.
fn is_final(status: &str) -> bool {
    matches!(status, "Succeeded" | "Failed" | "Stopped")
}

/// What the progress line shows.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Progress {
    pub(crate) status: String,
    /// Per version (the current one, then the target): weight (when known), invocations, errors.
    pub(crate) versions: Vec<(String, Option<f64>, Figures)>,
}

/// `InProgress  v6 90% 120 inv 0 err  v7 10% 13 inv 2 err`.
pub(crate) fn render_progress(p: &Progress) -> String {
    let mut s = format!("{:<10}", p.status);
    for (version, weight, f) in &p.versions {
        let weight = weight.map_or_else(|| "?".to_owned(), |w| format!("{}%", round_percent(w)));
        s.push_str(&format!("  v{version} {weight} {} inv {} err", f.invocations, f.errors));
    }
    s
}

/// A weight as a percentage, without float noise (0.1 → 10, 0.125 → 12.5).
fn round_percent(w: f64) -> f64 {
    (w * 1000.0).round() / 10.0
}

/// `m:ss`.
fn elapsed_text(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}", s / 60, s % 60)
}

/// The invocations and errors of `function:alias` per executed version since `since_ms`.
fn figures(conn: &Conn, function: &str, alias: &str, versions: &[&str], since_ms: i64) -> anyhow::Result<Vec<Figures>> {
    let now = stdx::time::now_ms();
    let start = since_ms.div_euclid(MINUTE_MS) * MINUTE_MS;
    let end = (now.div_euclid(MINUTE_MS) + 1) * MINUTE_MS;
    let rows: Vec<Row> = versions
        .iter()
        .map(|v| Row {
            label: (*v).to_owned(),
            dims: vec![
                ("ExecutedVersion".to_owned(), (*v).to_owned()),
                ("FunctionName".to_owned(), function.to_owned()),
                ("Resource".to_owned(), format!("{function}:{alias}")),
            ],
        })
        .collect();
    let answer = conn.cloudwatch("GetMetricData", &metrics_cli::get_metric_data_body(&rows, start, end, None))?;
    let mut out = vec![Figures::default(); rows.len()];
    metrics_cli::collect(&mut out, &answer);
    Ok(out)
}

/// Follows a deployment of `function:alias` from `current` to `target` to its end, printing
/// its progress once a second.
pub(crate) fn wait(
    conn: &Conn,
    id: &str,
    function: &str,
    alias: &str,
    current: &str,
    target: &str,
) -> anyhow::Result<Ended> {
    let terminal = std::io::stdout().is_terminal();
    let began = Instant::now();
    let mut failures = 0;
    let mut last_line = String::new();
    let mut out = std::io::stdout();
    loop {
        let info = match conn.codedeploy("GetDeployment", &json!({"deploymentId": id})) {
            Ok(a) => {
                failures = 0;
                a["deploymentInfo"].clone()
            }
            Err(e) if failures < WAIT_FAILURES_MAX && e.downcast_ref::<ApiError>().is_none() => {
                failures += 1;
                std::thread::sleep(WAIT_TICK);
                continue;
            }
            Err(e) => return Err(e),
        };
        let status = info["status"].as_str().unwrap_or("").to_owned();
        let created_ms = info["createTime"].as_f64().map_or_else(stdx::time::now_ms, |t| (t * 1000.0) as i64);
        let alias_state = conn.get_alias(function, alias).ok();
        let figures = figures(conn, function, alias, &[current, target], created_ms).unwrap_or_default();
        let versions = [current, target]
            .iter()
            .enumerate()
            .map(|(n, v)| {
                let weight = alias_state.as_ref().map(|a| a.weight_of(v));
                ((*v).to_owned(), weight, figures.get(n).copied().unwrap_or_default())
            })
            .collect();
        let line = render_progress(&Progress { status: status.clone(), versions });
        let elapsed = elapsed_text(began.elapsed());
        if terminal {
            write!(out, "\r\x1b[K{elapsed} {id} {line}")?;
            out.flush()?;
        } else if line != last_line {
            writeln!(out, "{elapsed} {id} {line}")?;
        }
        last_line = line;
        if is_final(&status) {
            if terminal {
                writeln!(out)?;
            }
            return Ok(Ended::from_info(&info));
        }
        anyhow::ensure!(began.elapsed() < WAIT_MAX, "gave up waiting for {id} after 50 hours");
        std::thread::sleep(WAIT_TICK);
    }
}

/// Starts `plan` and, with `wait`, follows it: the exit status.
pub(crate) fn deploy(conn: &Conn, plan: &Plan, wait_for_it: bool) -> anyhow::Result<(i32, Option<Ended>, String)> {
    let started = start(conn, plan)?;
    println!(
        "{}  {}:{} {} → {} ({})",
        started.id,
        plan.function,
        plan.alias,
        started.current,
        plan.version,
        plan.strategy.describe()
    );
    if !wait_for_it {
        return Ok((EXIT_OK, None, started.id));
    }
    let ended = wait(conn, &started.id, &plan.function, &plan.alias, &started.current, &plan.version)?;
    let on = conn.get_alias(&plan.function, &plan.alias).map(|a| a.version).unwrap_or_else(|_| "?".to_owned());
    println!("{}  {}  ({}:{} is on version {on})", started.id, ended.describe(), plan.function, plan.alias);
    let code = if ended.succeeded() { EXIT_OK } else { EXIT_FAILED };
    Ok((code, Some(ended), started.id))
}

/// A plan from the shared flags.
fn plan(
    function: &str,
    alias: &str,
    version: &str,
    s: &StrategyArgs,
    g: &GuardArgs,
    description: String,
) -> anyhow::Result<Plan> {
    anyhow::ensure!(
        !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit()),
        "--version is a published version number, not {version:?}"
    );
    Ok(Plan {
        function: function.to_owned(),
        alias: alias.to_owned(),
        version: version.to_owned(),
        strategy: Strategy::from_args(s)?,
        alarms: g.alarms.clone(),
        pre_traffic: g.pre_traffic.clone(),
        post_traffic: g.post_traffic.clone(),
        description,
    })
}

/// Prints an error and gives the usage exit status.
pub(crate) fn usage_error(e: &anyhow::Error) -> i32 {
    eprintln!("error: {e:#}");
    EXIT_USAGE
}

/// `versa deploy …`: the exit status.
pub(crate) fn run(args: DeployArgs) -> i32 {
    run_inner(args).unwrap_or_else(|e| usage_error(&e))
}

fn run_inner(args: DeployArgs) -> anyhow::Result<i32> {
    match args.command {
        Some(DeployCommand::Status { id }) => status(&Conn::new(&args.conn)?, &id),
        Some(DeployCommand::Stop { id, rollback }) => {
            let conn = Conn::new(&args.conn)?;
            let a = conn.codedeploy("StopDeployment", &json!({"deploymentId": id, "autoRollbackEnabled": rollback}))?;
            println!(
                "{id}  stop {}: {}",
                a["status"].as_str().unwrap_or("?"),
                a["statusMessage"].as_str().unwrap_or("")
            );
            Ok(EXIT_OK)
        }
        Some(DeployCommand::List { target }) => {
            let target = target.as_deref().map(parse_list_target).transpose()?;
            list(&Conn::new(&args.conn)?, target)
        }
        None => {
            let function = args.function.context("name the function: versa deploy FUNCTION --alias A --version N")?;
            let alias = args.alias.context("--alias is required")?;
            let version = args.version.context("--version is required")?;
            let description = format!("versa deploy {function} --alias {alias} --version {version}");
            let plan = plan(&function, &alias, &version, &args.strategy, &args.guards, description)?;
            Ok(deploy(&Conn::new(&args.conn)?, &plan, args.guards.wait)?.0)
        }
    }
}

/// `versa promote …`: the exit status.
pub(crate) fn run_promote(args: PromoteArgs) -> i32 {
    let inner = || -> anyhow::Result<i32> {
        Strategy::from_args(&args.strategy)?;
        let conn = Conn::new(&args.conn)?;
        let from = conn.get_alias(&args.function, &args.from)?;
        let description = format!("versa promote {} --from {} --to {}", args.function, args.from, args.to);
        if !from.weights.is_empty() {
            eprintln!(
                "note: {}:{} is shifting traffic; promoting its primary version {}",
                args.function, args.from, from.version
            );
        }
        let plan = plan(&args.function, &args.to, &from.version, &args.strategy, &args.guards, description)?;
        Ok(deploy(&conn, &plan, args.guards.wait)?.0)
    };
    inner().unwrap_or_else(|e| usage_error(&e))
}

/// Epoch seconds (a JSON number) → `2026-12-05 13:10:00`.
fn time_text(v: &Value) -> String {
    v.as_f64()
        .map_or_else(|| "-".to_owned(), |t| stdx::time::format_iso8601_ms((t * 1000.0) as i64)[..19].replace('T', " "))
}

fn status(conn: &Conn, id: &str) -> anyhow::Result<i32> {
    let info = conn.codedeploy("GetDeployment", &json!({"deploymentId": id}))?["deploymentInfo"].clone();
    let ended = Ended::from_info(&info);
    println!("{id}  {}", ended.describe());
    println!(
        "  group {}/{}  config {}  creator {}",
        info["applicationName"].as_str().unwrap_or("-"),
        info["deploymentGroupName"].as_str().unwrap_or("-"),
        info["deploymentConfigName"].as_str().unwrap_or("-"),
        info["creator"].as_str().unwrap_or("-"),
    );
    println!("  created {}  completed {}", time_text(&info["createTime"]), time_text(&info["completeTime"]));
    if let Some(t) = info["rollbackInfo"]["rollbackTriggeringDeploymentId"].as_str() {
        println!("  rollback of {t}");
    }
    // The target: the function, alias, versions and weight (best effort: not every server has it).
    let target = conn
        .codedeploy("ListDeploymentTargets", &json!({"deploymentId": id}))
        .ok()
        .and_then(|a| a["targetIds"][0].as_str().map(str::to_owned))
        .and_then(|t| conn.codedeploy("GetDeploymentTarget", &json!({"deploymentId": id, "targetId": t})).ok());
    if let Some(t) = target {
        let f = &t["deploymentTarget"]["lambdaTarget"]["lambdaFunctionInfo"];
        println!(
            "  {}:{}  {} → {}  target weight {}%",
            f["functionName"].as_str().unwrap_or("?"),
            f["functionAlias"].as_str().unwrap_or("?"),
            f["currentVersion"].as_str().unwrap_or("?"),
            f["targetVersion"].as_str().unwrap_or("?"),
            f["targetVersionWeight"].as_f64().map_or_else(|| "?".to_owned(), |w| round_percent(w).to_string()),
        );
    }
    Ok(EXIT_OK)
}

/// `FUNCTION` or `FUNCTION:ALIAS`.
fn parse_list_target(s: &str) -> anyhow::Result<(String, Option<String>)> {
    let (f, a) = match s.split_once(':') {
        Some((f, a)) => (f, Some(a)),
        None => (s, None),
    };
    anyhow::ensure!(
        !f.is_empty() && a.is_none_or(|a| !a.is_empty() && !a.contains(':')),
        "name FUNCTION or FUNCTION:ALIAS, not {s:?}"
    );
    Ok((f.to_owned(), a.map(str::to_owned)))
}

/// Every page of a List* call's `key`.
fn list_all(conn: &Conn, operation: &str, body: &Value, key: &str) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut body = body.clone();
    for _ in 0..LIST_PAGES_MAX {
        let a = conn.codedeploy(operation, &body)?;
        out.extend(a[key].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned)));
        match a["nextToken"].as_str() {
            Some(t) => body["nextToken"] = json!(t),
            None => break,
        }
    }
    Ok(out)
}

fn list(conn: &Conn, target: Option<(String, Option<String>)>) -> anyhow::Result<i32> {
    let groups: Option<Vec<String>> = match target {
        None => None,
        Some((f, Some(a))) => Some(vec![group_name(&f, &a)]),
        Some((f, None)) => {
            let all =
                list_all(conn, "ListDeploymentGroups", &json!({"applicationName": APPLICATION}), "deploymentGroups");
            let all = match all {
                Err(e) if is_code(&e, "ApplicationDoesNotExistException") => Vec::new(),
                other => other?,
            };
            let prefix = group_name(&f, "");
            Some(all.into_iter().filter(|g| g.starts_with(&prefix)).collect())
        }
    };
    let mut ids = Vec::new();
    let bodies: Vec<Value> = match &groups {
        None => vec![json!({"applicationName": APPLICATION})],
        Some(gs) => gs.iter().map(|g| json!({"applicationName": APPLICATION, "deploymentGroupName": g})).collect(),
    };
    for body in bodies {
        match list_all(conn, "ListDeployments", &body, "deployments") {
            Ok(found) => ids.extend(found),
            Err(e)
                if is_code(&e, "ApplicationDoesNotExistException")
                    || is_code(&e, "DeploymentGroupDoesNotExistException") => {}
            Err(e) => return Err(e),
        }
    }
    let mut infos = Vec::new();
    for chunk in ids.chunks(BATCH_GET_MAX) {
        let a = conn.codedeploy("BatchGetDeployments", &json!({"deploymentIds": chunk}))?;
        infos.extend(a["deploymentsInfo"].as_array().into_iter().flatten().cloned());
    }
    infos.sort_by(|a, b| b["createTime"].as_f64().unwrap_or(0.0).total_cmp(&a["createTime"].as_f64().unwrap_or(0.0)));
    if infos.is_empty() {
        println!("(no deployments)");
    }
    for info in infos.iter().take(LIST_ROWS_MAX) {
        println!("{}", list_row(info));
    }
    Ok(EXIT_OK)
}

/// `d-…  Succeeded  fn-prod  2026-12-05 13:10:00  CodeDeployDefault.LambdaAllAtOnce`.
fn list_row(info: &Value) -> String {
    let mut row = format!(
        "{}  {:<10}  {}  {}  {}",
        info["deploymentId"].as_str().unwrap_or("?"),
        info["status"].as_str().unwrap_or("?"),
        info["deploymentGroupName"].as_str().unwrap_or("-"),
        time_text(&info["createTime"]),
        info["deploymentConfigName"].as_str().unwrap_or("-"),
    );
    if let Some(code) = info["errorInformation"]["code"].as_str() {
        row.push_str(&format!("  {code}"));
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_of(strategy: Strategy) -> Plan {
        Plan {
            function: "orders".into(),
            alias: "prod".into(),
            version: "7".into(),
            strategy,
            alarms: vec![],
            pre_traffic: None,
            post_traffic: None,
            description: "d".into(),
        }
    }

    /// `versa ARGS` parsed as the binary does.
    fn cli(args: &[&str]) -> Result<crate::Command, clap::Error> {
        use clap::Parser;
        crate::Cli::try_parse_from(std::iter::once("versa").chain(args.iter().copied())).map(|c| c.command)
    }

    #[test]
    fn the_command_lines_parse() {
        let args = [
            "deploy",
            "f",
            "--alias",
            "prod",
            "--version",
            "7",
            "--canary",
            "10%:30s",
            "--alarm",
            "a",
            "--alarm",
            "b",
            "--pre-traffic",
            "pre",
            "--wait",
            "--endpoint",
            "http://h:1",
            "--profile",
            "p",
        ];
        let Ok(crate::Command::Deploy(d)) = cli(&args) else { panic!("{:?}", cli(&args)) };
        assert!(d.command.is_none());
        assert_eq!(
            (d.function.as_deref(), d.alias.as_deref(), d.version.as_deref()),
            (Some("f"), Some("prod"), Some("7"))
        );
        let p = plan("f", "prod", "7", &d.strategy, &d.guards, String::new()).unwrap();
        assert_eq!(p.strategy, Strategy::Canary { percent: 10, seconds: 30 });
        assert_eq!(
            (p.alarms.as_slice(), p.pre_traffic.as_deref(), p.post_traffic.as_deref()),
            (&["a".to_owned(), "b".to_owned()][..], Some("pre"), None)
        );
        assert!(d.guards.wait);
        assert_eq!((d.conn.endpoint.as_str(), d.conn.profile.as_deref()), ("http://h:1", Some("p")));
        assert!(plan("f", "prod", "latest", &d.strategy, &d.guards, String::new()).is_err());

        let Ok(crate::Command::Deploy(d)) = cli(&["deploy", "stop", "d-AAAAAAAAA", "--rollback"]) else { panic!() };
        assert!(matches!(d.command, Some(DeployCommand::Stop { ref id, rollback: true }) if id == "d-AAAAAAAAA"));
        let Ok(crate::Command::Deploy(d)) = cli(&["deploy", "list", "f:prod"]) else { panic!() };
        assert!(matches!(d.command, Some(DeployCommand::List { target: Some(ref t) }) if t == "f:prod"));
        let Ok(crate::Command::Promote(p)) =
            cli(&["promote", "f", "--from", "beta", "--to", "prod", "--linear", "10%:1m"])
        else {
            panic!()
        };
        assert_eq!(Strategy::from_args(&p.strategy).unwrap(), Strategy::Linear { percent: 10, seconds: 60 });
        // One strategy at most; promote needs both aliases; stop needs an id.
        assert!(cli(&["deploy", "f", "--canary", "10%:1m", "--all-at-once"]).is_err());
        assert!(cli(&["promote", "f", "--from", "beta"]).is_err());
        assert!(cli(&["deploy", "stop"]).is_err());
        // The pipeline: the file defaults to versa.toml; exactly one of --version and --from-alias.
        assert!(matches!(cli(&["pipeline", "run", "--version", "7"]), Ok(crate::Command::Pipeline(_))));
        assert!(cli(&["pipeline", "run", "p.toml"]).is_err());
        assert!(cli(&["pipeline", "run", "p.toml", "--version", "7", "--from-alias", "dev"]).is_err());
    }

    #[test]
    fn steps_and_intervals_parse() {
        assert_eq!(parse_step("10%:5m", "--canary").unwrap(), (10, 300));
        assert_eq!(parse_step("25%:30s", "--canary").unwrap(), (25, 30));
        assert_eq!(parse_step("99%:1h", "--canary").unwrap(), (99, 3_600));
        assert_eq!(parse_interval("90s").unwrap(), 90);
        for bad in
            ["10:5m", "10%", "%:5m", "0%:5m", "100%:5m", "10%:5", "10%:5x", "10%:0s", "10%:-1m", "10%:m", "x%:1m"]
        {
            let e = parse_step(bad, "--canary").unwrap_err();
            assert!(format!("{e:#}").contains("--canary"), "{bad}: {e:#}");
        }
        let e = parse_step("10:5m", "--linear").unwrap_err().to_string();
        assert_eq!(e, "--linear wants a percentage like 10%, not \"10\"");
        let e = format!("{:#}", parse_step("10%:5d", "--canary").unwrap_err());
        assert!(e.contains("s, m or h"), "{e}");
        assert!(parse_interval("99999999999999999999h").is_err());
    }

    #[test]
    fn strategies_come_from_one_flag() {
        assert_eq!(Strategy::from_parts(None, None, false).unwrap(), Strategy::AllAtOnce);
        assert_eq!(Strategy::from_parts(None, None, true).unwrap(), Strategy::AllAtOnce);
        assert_eq!(
            Strategy::from_parts(Some("10%:30s"), None, false).unwrap(),
            Strategy::Canary { percent: 10, seconds: 30 }
        );
        assert_eq!(
            Strategy::from_parts(None, Some("20%:1m"), false).unwrap(),
            Strategy::Linear { percent: 20, seconds: 60 }
        );
        assert!(Strategy::from_parts(Some("10%:1m"), Some("10%:1m"), false).is_err());
        assert!(Strategy::from_parts(Some("10%:1m"), None, true).is_err());
        // 48 hours at most: a canary may wait 2880 minutes; linear 10% shifts 9 times.
        assert!(Strategy::from_parts(Some("10%:2880m"), None, false).is_ok());
        assert!(Strategy::from_parts(Some("10%:2881m"), None, false).is_err());
        assert!(Strategy::from_parts(None, Some("10%:320m"), false).is_ok());
        let e = Strategy::from_parts(None, Some("10%:321m"), false).unwrap_err().to_string();
        assert!(e.contains("2880 minutes"), "{e}");
    }

    #[test]
    fn configs_are_predefined_when_they_match_else_named_after_the_strategy() {
        let c = |p, s| Strategy::Canary { percent: p, seconds: s };
        let l = |p, s| Strategy::Linear { percent: p, seconds: s };
        assert_eq!(Strategy::AllAtOnce.config_name(), "CodeDeployDefault.LambdaAllAtOnce");
        assert_eq!(c(10, 300).config_name(), "CodeDeployDefault.LambdaCanary10Percent5Minutes");
        assert_eq!(c(10, 1_800).config_name(), "CodeDeployDefault.LambdaCanary10Percent30Minutes");
        assert_eq!(l(10, 60).config_name(), "CodeDeployDefault.LambdaLinear10PercentEvery1Minute");
        assert_eq!(l(10, 600).config_name(), "CodeDeployDefault.LambdaLinear10PercentEvery10Minutes");
        assert_eq!(c(10, 30).config_name(), "versa-canary-10pct-30s");
        assert_eq!(c(20, 300).config_name(), "versa-canary-20pct-5m");
        assert_eq!(l(25, 90).config_name(), "versa-linear-25pct-90s");
        assert_eq!(c(10, 3_600).config_name(), "versa-canary-10pct-60m");
        for s in [Strategy::AllAtOnce, c(10, 300), l(10, 180)] {
            assert_eq!(s.create_config_body(), None, "{s:?}");
        }
        assert_eq!(
            c(10, 30).create_config_body().unwrap(),
            json!({
                "deploymentConfigName": "versa-canary-10pct-30s",
                "computePlatform": "Lambda",
                "trafficRoutingConfig": {"type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": 10, "canaryInterval": 30}},
                "versaIntervalUnit": "SECONDS",
            })
        );
        // Whole minutes: AWS's own config, no Versa member.
        assert_eq!(
            l(25, 120).create_config_body().unwrap(),
            json!({
                "deploymentConfigName": "versa-linear-25pct-2m",
                "computePlatform": "Lambda",
                "trafficRoutingConfig": {"type": "TimeBasedLinear", "timeBasedLinear": {"linearPercentage": 25, "linearInterval": 2}},
            })
        );
        assert_eq!(c(10, 30).describe(), "canary 10%, the rest after 30s");
        assert_eq!(l(10, 60).describe(), "linear 10% every 1m");
    }

    #[test]
    fn the_appspec_and_requests_name_the_alias_versions_hooks_and_alarms() {
        let mut p = plan_of(Strategy::Canary { percent: 10, seconds: 30 });
        let spec: Value = serde_json::from_str(&appspec(&p, "6")).unwrap();
        assert_eq!(
            spec,
            json!({"version": 0.0, "Resources": [{"orders": {"Type": "AWS::Lambda::Function",
                "Properties": {"Name": "orders", "Alias": "prod", "CurrentVersion": "6", "TargetVersion": "7"}}}]})
        );
        p.pre_traffic = Some("pre".into());
        p.post_traffic = Some("post".into());
        p.alarms = vec!["errors".into(), "latency".into()];
        let body = create_deployment_body(&p, "6");
        let spec: Value =
            serde_json::from_str(body["revision"]["appSpecContent"]["content"].as_str().unwrap()).unwrap();
        assert_eq!(spec["Hooks"], json!([{"BeforeAllowTraffic": "pre"}, {"AfterAllowTraffic": "post"}]));
        assert_eq!(body["applicationName"], "versa");
        assert_eq!(body["deploymentGroupName"], "orders-prod");
        assert_eq!(body["deploymentConfigName"], "versa-canary-10pct-30s");
        assert_eq!(body["revision"]["revisionType"], "AppSpecContent");
        assert_eq!(
            body["overrideAlarmConfiguration"],
            json!({"enabled": true, "alarms": [{"name": "errors"}, {"name": "latency"}]})
        );
        assert!(create_deployment_body(&plan_of(Strategy::AllAtOnce), "6").get("overrideAlarmConfiguration").is_none());

        assert_eq!(create_application_body(), json!({"applicationName": "versa", "computePlatform": "Lambda"}));
        let g = create_group_body("orders", "prod", "000000000000");
        assert_eq!(g["deploymentGroupName"], "orders-prod");
        assert_eq!(g["serviceRoleArn"], "arn:aws:iam::000000000000:role/versa-deploy");
        assert_eq!(
            g["deploymentStyle"],
            json!({"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"})
        );
        assert_eq!(
            g["autoRollbackConfiguration"],
            json!({"enabled": true, "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_STOP_ON_REQUEST"]})
        );
    }

    #[test]
    fn errors_and_aliases_are_read_from_answers() {
        let answer = |status, headers: &[(&str, &str)], body: &str| Answer {
            status,
            headers: headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            body: body.to_owned(),
        };
        let body = r#"{"__type":"com.amazonaws#ApplicationAlreadyExistsException","message":"x"}"#;
        let e = answer_json("CreateApplication", &answer(400, &[], body)).unwrap_err();
        assert!(is_code(&e, "ApplicationAlreadyExistsException"));
        assert_eq!(e.to_string(), "CreateApplication: the server answered 400 ApplicationAlreadyExistsException: x");
        let lambda = answer(
            404,
            &[("x-amzn-errortype", "ResourceNotFoundException:http://internal.amazon.com/")],
            r#"{"Type":"User","Message":"Alias not found"}"#,
        );
        let e = answer_json("GetAlias", &lambda).unwrap_err();
        assert!(is_code(&e, "ResourceNotFoundException"), "{e}");
        assert_eq!(e.downcast_ref::<ApiError>().unwrap().message, "Alias not found");
        assert_eq!(answer_json("GetAlias", &answer(200, &[], "{}")).unwrap(), json!({}));
        assert!(!is_code(&anyhow::anyhow!("cannot reach"), "X"));
        let a = AliasState::from_json(&json!({
            "AliasArn": "arn:aws:lambda:us-east-1:123456789012:function:orders:prod",
            "FunctionVersion": "6",
            "RoutingConfig": {"AdditionalVersionWeights": {"7": 0.1}},
        }))
        .unwrap();
        assert_eq!(a.account(), Some("123456789012"));
        assert!((a.weight_of("6") - 0.9).abs() < 1e-9);
        assert!((a.weight_of("7") - 0.1).abs() < 1e-9);
        assert_eq!(a.weight_of("8"), 0.0);
        assert!(AliasState::from_json(&json!({})).is_err());
    }

    #[test]
    fn the_progress_line_shows_status_weights_and_figures() {
        let f = |i, e| Figures { invocations: i, errors: e, ..Figures::default() };
        let p = Progress {
            status: "InProgress".into(),
            versions: vec![("6".into(), Some(0.9), f(120.0, 0.0)), ("7".into(), Some(0.1), f(13.0, 2.0))],
        };
        assert_eq!(render_progress(&p), "InProgress  v6 90% 120 inv 0 err  v7 10% 13 inv 2 err");
        let p = Progress { status: "Created".into(), versions: vec![("6".into(), None, f(0.0, 0.0))] };
        assert_eq!(render_progress(&p), "Created     v6 ? 0 inv 0 err");
        assert_eq!(round_percent(0.125), 12.5);
        assert_eq!(elapsed_text(Duration::from_secs(125)), "2:05");
        let ended = Ended::from_info(&json!({
            "status": "Stopped",
            "errorInformation": {"code": "ALARM_ACTIVE", "message": "One or more alarms have been activated"},
            "rollbackInfo": {"rollbackDeploymentId": "d-ROLLBACK1"},
        }));
        assert!(!ended.succeeded());
        assert_eq!(
            ended.describe(),
            "Stopped: ALARM_ACTIVE: One or more alarms have been activated (rolled back by d-ROLLBACK1)"
        );
        assert!(is_final("Failed") && !is_final("InProgress"));
        assert_eq!(
            list_row(&json!({"deploymentId": "d-A1B2C3D4E", "status": "Failed", "deploymentGroupName": "orders-prod",
                "createTime": 1_700_000_040.5, "deploymentConfigName": "versa-canary-10pct-30s",
                "errorInformation": {"code": "HOOK_EXECUTION_FAILURE"}})),
            "d-A1B2C3D4E  Failed      orders-prod  2023-11-14 22:14:00  versa-canary-10pct-30s  HOOK_EXECUTION_FAILURE"
        );
        assert_eq!(parse_list_target("f:prod").unwrap(), ("f".to_owned(), Some("prod".to_owned())));
        assert!(parse_list_target("f:").is_err() && parse_list_target(":a").is_err());
    }
}
