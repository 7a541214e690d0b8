//! Deployment configurations (reference §1.5): the 17 predefined ones (code constants) and the
//! traffic-shifting plan a Lambda config gives (§1.6).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A Lambda traffic-routing rule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Routing {
    AllAtOnce,
    Canary { percentage: u32, interval: u32 },
    Linear { percentage: u32, interval: u32 },
}

/// Most minutes between the first and the last shift (AWS: 2880).
pub const SHIFTING_MINUTES_MAX: u64 = 2880;
/// Largest percentage of one step.
pub const STEP_PERCENTAGE_MAX: u32 = 99;

/// A config's effective rule: its routing and whether intervals are seconds (Versa-only).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub routing: Routing,
    pub seconds: bool,
}

/// One alias write: the primary version and the additional version with its weight (none:
/// no routing).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AliasState {
    pub primary: u32,
    pub weight: Option<(u32, f64)>,
}

impl Plan {
    /// Milliseconds between two writes.
    pub fn interval_ms(&self) -> i64 {
        let unit = if self.seconds { 1_000 } else { 60_000 };
        match self.routing {
            Routing::AllAtOnce => 0,
            Routing::Canary { interval, .. } | Routing::Linear { interval, .. } => i64::from(interval) * unit,
        }
    }

    /// The alias writes from `current` to `target` (§1.6): the last one swaps the primary
    /// version; the alias never carries weight 1.0.
    pub fn steps(&self, current: u32, target: u32) -> Vec<AliasState> {
        let weighted = |w: f64| AliasState { primary: current, weight: Some((target, w)) };
        let mut out = Vec::new();
        match self.routing {
            Routing::AllAtOnce => {}
            Routing::Canary { percentage, .. } => out.push(weighted(f64::from(percentage) / 100.0)),
            Routing::Linear { percentage, .. } => {
                let n = 100u32.div_ceil(percentage.max(1));
                for k in 1..n {
                    out.push(weighted(f64::from(k * percentage) / 100.0));
                }
            }
        }
        out.push(AliasState { primary: target, weight: None });
        out
    }
}

/// Parses a `trafficRoutingConfig` (validated as CreateDeploymentConfig does).
pub fn routing(v: &Value) -> Result<Routing, String> {
    let kind = v["type"].as_str().unwrap_or("AllAtOnce");
    let num = |o: &Value, k: &str| -> Result<u32, String> {
        o[k].as_u64().and_then(|n| u32::try_from(n).ok()).ok_or_else(|| format!("{k} must be a positive integer"))
    };
    let checked = |p: u32, i: u32| -> Result<(u32, u32), String> {
        if p == 0 || p > STEP_PERCENTAGE_MAX {
            return Err(format!("the percentage must be between 1 and {STEP_PERCENTAGE_MAX}"));
        }
        if i == 0 || u64::from(i) > SHIFTING_MINUTES_MAX {
            return Err(format!("the interval must be between 1 and {SHIFTING_MINUTES_MAX}"));
        }
        Ok((p, i))
    };
    match kind {
        "AllAtOnce" => Ok(Routing::AllAtOnce),
        "TimeBasedCanary" => {
            let o = &v["timeBasedCanary"];
            let (percentage, interval) = checked(num(o, "canaryPercentage")?, num(o, "canaryInterval")?)?;
            Ok(Routing::Canary { percentage, interval })
        }
        "TimeBasedLinear" => {
            let o = &v["timeBasedLinear"];
            let (percentage, interval) = checked(num(o, "linearPercentage")?, num(o, "linearInterval")?)?;
            let steps = u64::from(100u32.div_ceil(percentage)) - 1;
            if steps * u64::from(interval) > SHIFTING_MINUTES_MAX {
                return Err(format!("the shifting must take at most {SHIFTING_MINUTES_MAX} minutes"));
            }
            Ok(Routing::Linear { percentage, interval })
        }
        other => Err(format!("unknown traffic routing type {other}")),
    }
}

/// The `trafficRoutingConfig` of a rule.
pub fn routing_json(r: &Routing) -> Value {
    match r {
        Routing::AllAtOnce => json!({"type": "AllAtOnce"}),
        Routing::Canary { percentage, interval } => json!({"type": "TimeBasedCanary",
            "timeBasedCanary": {"canaryPercentage": percentage, "canaryInterval": interval}}),
        Routing::Linear { percentage, interval } => json!({"type": "TimeBasedLinear",
            "timeBasedLinear": {"linearPercentage": percentage, "linearInterval": interval}}),
    }
}

/// A predefined config: name, platform, Lambda routing (None for Server configs' hosts).
pub struct Predefined {
    pub name: &'static str,
    pub platform: &'static str,
    pub routing: Option<Routing>,
    /// Server configs: `minimumHealthyHosts` (type, value).
    pub hosts: Option<(&'static str, u32)>,
}

const fn canary(p: u32, i: u32) -> Option<Routing> {
    Some(Routing::Canary { percentage: p, interval: i })
}
const fn linear(p: u32, i: u32) -> Option<Routing> {
    Some(Routing::Linear { percentage: p, interval: i })
}

/// The 17 predefined configs (§1.5).
pub const PREDEFINED: [Predefined; 17] = [
    Predefined {
        name: "CodeDeployDefault.OneAtATime",
        platform: "Server",
        routing: None,
        hosts: Some(("HOST_COUNT", 1)),
    },
    Predefined {
        name: "CodeDeployDefault.HalfAtATime",
        platform: "Server",
        routing: None,
        hosts: Some(("FLEET_PERCENT", 50)),
    },
    Predefined {
        name: "CodeDeployDefault.AllAtOnce",
        platform: "Server",
        routing: None,
        hosts: Some(("HOST_COUNT", 0)),
    },
    Predefined {
        name: "CodeDeployDefault.LambdaAllAtOnce",
        platform: "Lambda",
        routing: Some(Routing::AllAtOnce),
        hosts: None,
    },
    Predefined {
        name: "CodeDeployDefault.LambdaCanary10Percent5Minutes",
        platform: "Lambda",
        routing: canary(10, 5),
        hosts: None,
    },
    Predefined {
        name: "CodeDeployDefault.LambdaCanary10Percent10Minutes",
        platform: "Lambda",
        routing: canary(10, 10),
        hosts: None,
    },
    Predefined {
        name: "CodeDeployDefault.LambdaCanary10Percent15Minutes",
        platform: "Lambda",
        routing: canary(10, 15),
        hosts: None,
    },
    Predefined {
        name: "CodeDeployDefault.LambdaCanary10Percent30Minutes",
        platform: "Lambda",
        routing: canary(10, 30),
        hosts: None,
    },
    Predefined {
        name: "CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
        platform: "Lambda",
        routing: linear(10, 1),
        hosts: None,
    },
    Predefined {
        name: "CodeDeployDefault.LambdaLinear10PercentEvery2Minutes",
        platform: "Lambda",
        routing: linear(10, 2),
        hosts: None,
    },
    Predefined {
        name: "CodeDeployDefault.LambdaLinear10PercentEvery3Minutes",
        platform: "Lambda",
        routing: linear(10, 3),
        hosts: None,
    },
    Predefined {
        name: "CodeDeployDefault.LambdaLinear10PercentEvery10Minutes",
        platform: "Lambda",
        routing: linear(10, 10),
        hosts: None,
    },
    Predefined {
        name: "CodeDeployDefault.ECSAllAtOnce",
        platform: "ECS",
        routing: Some(Routing::AllAtOnce),
        hosts: None,
    },
    Predefined {
        name: "CodeDeployDefault.ECSCanary10Percent5Minutes",
        platform: "ECS",
        routing: canary(10, 5),
        hosts: None,
    },
    Predefined {
        name: "CodeDeployDefault.ECSCanary10Percent15Minutes",
        platform: "ECS",
        routing: canary(10, 15),
        hosts: None,
    },
    Predefined {
        name: "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
        platform: "ECS",
        routing: linear(10, 1),
        hosts: None,
    },
    Predefined {
        name: "CodeDeployDefault.ECSLinear10PercentEvery3Minutes",
        platform: "ECS",
        routing: linear(10, 3),
        hosts: None,
    },
];

pub fn predefined(name: &str) -> Option<&'static Predefined> {
    PREDEFINED.iter().find(|p| p.name == name)
}

/// A stable id for a predefined config (a UUID shape derived from its name).
pub fn predefined_id(name: &str) -> String {
    let mut h: u128 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h = (h ^ u128::from(b)).wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    let u = uuid::Uuid::from_u128(h);
    u.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_follow_the_table() {
        let c = Plan { routing: Routing::Canary { percentage: 10, interval: 5 }, seconds: false };
        assert_eq!(
            c.steps(1, 2),
            vec![AliasState { primary: 1, weight: Some((2, 0.1)) }, AliasState { primary: 2, weight: None }]
        );
        assert_eq!(c.interval_ms(), 300_000);
        let l = Plan { routing: Routing::Linear { percentage: 10, interval: 1 }, seconds: true };
        let s = l.steps(1, 2);
        assert_eq!(s.len(), 10);
        assert_eq!(s[8], AliasState { primary: 1, weight: Some((2, 0.9)) });
        let l = Plan { routing: Routing::Linear { percentage: 30, interval: 1 }, seconds: true };
        assert_eq!(l.steps(3, 4).len(), 4);
        let a = Plan { routing: Routing::AllAtOnce, seconds: false };
        assert_eq!(a.steps(1, 2), vec![AliasState { primary: 2, weight: None }]);
        assert_eq!(PREDEFINED.iter().filter(|p| p.name.starts_with("CodeDeployDefault.Lambda")).count(), 9);
    }
}
