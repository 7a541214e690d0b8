//! Bucket notification configurations (parsing, S3's validation rules, the canonical XML
//! GetBucketNotificationConfiguration answers) and event records (matching and the JSON S3 sends
//! to Lambda). Pure: the destination checks and deliveries go through `Notifier`.

use std::fmt::Write as _;

use crate::encode::form_encode_key;
use crate::error::ApiError;
use crate::limits::NOTIFICATION_CONFIGURATIONS_MAX;
use crate::xml::{self, Element};

/// Every event type S3 accepts in a configuration.
const EVENTS: &[&str] = &[
    "s3:ReducedRedundancyLostObject",
    "s3:ObjectCreated:*",
    "s3:ObjectCreated:Put",
    "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectRemoved:*",
    "s3:ObjectRemoved:Delete",
    "s3:ObjectRemoved:DeleteMarkerCreated",
    "s3:ObjectRestore:*",
    "s3:ObjectRestore:Post",
    "s3:ObjectRestore:Completed",
    "s3:ObjectRestore:Delete",
    "s3:Replication:*",
    "s3:Replication:OperationFailedReplication",
    "s3:Replication:OperationNotTracked",
    "s3:Replication:OperationMissedThreshold",
    "s3:Replication:OperationReplicatedAfterThreshold",
    "s3:LifecycleTransition",
    "s3:IntelligentTiering",
    "s3:ObjectAcl:Put",
    "s3:LifecycleExpiration:*",
    "s3:LifecycleExpiration:Delete",
    "s3:LifecycleExpiration:DeleteMarkerCreated",
    "s3:ObjectTagging:*",
    "s3:ObjectTagging:Put",
    "s3:ObjectTagging:Delete",
];

/// The kind of destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Lambda,
    Queue,
    Topic,
}

impl Target {
    /// The configuration element and the ARN element, as S3's wire format names them.
    fn elements(self) -> (&'static str, &'static str) {
        match self {
            Target::Lambda => ("CloudFunctionConfiguration", "CloudFunction"),
            Target::Queue => ("QueueConfiguration", "Queue"),
            Target::Topic => ("TopicConfiguration", "Topic"),
        }
    }

    fn service(self) -> &'static str {
        match self {
            Target::Lambda => "lambda",
            Target::Queue => "sqs",
            Target::Topic => "sns",
        }
    }
}

/// One destination configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub target: Target,
    pub id: String,
    pub arn: String,
    pub events: Vec<String>,
    pub prefix: Option<String>,
    pub suffix: Option<String>,
}

/// A whole notification configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pub destinations: Vec<Destination>,
    pub event_bridge: bool,
}

fn invalid(message: &'static str, name: &str, value: &str) -> ApiError {
    ApiError::InvalidArgument { message, name: name.to_owned(), value: value.to_owned() }
}

/// `arn:<partition>:<service>:<region>:<12-digit account>:<resource>`: the region, if the ARN
/// is well-formed for `service` (Lambda: `function:<name>[:<qualifier>]`).
pub fn arn_region(arn: &str, service: &str) -> Option<String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [scheme, partition, svc, region, account, resource] = parts.as_slice() else { return None };
    let ok = *scheme == "arn"
        && partition.starts_with("aws")
        && *svc == service
        && !region.is_empty()
        && account.len() == 12
        && account.bytes().all(|c| c.is_ascii_digit())
        && !resource.is_empty();
    if !ok {
        return None;
    }
    if service == "lambda" {
        let mut r = resource.split(':');
        let (kind, name, qualifier, extra) = (r.next(), r.next(), r.next(), r.next());
        if kind != Some("function") || name.is_none_or(str::is_empty) || qualifier == Some("") || extra.is_some() {
            return None;
        }
    }
    Some((*region).to_owned())
}

/// Parses and validates a PutBucketNotificationConfiguration body, in S3's order: structure
/// (`MalformedXML`), then per configuration its ARN, events and filter rules, then overlaps
/// (`InvalidArgument`). Ids are generated where absent. Destinations are checked by the caller.
pub fn parse(root: &Element, bucket_region: &str) -> Result<Config, ApiError> {
    if root.name != "NotificationConfiguration" {
        return Err(ApiError::MalformedXML);
    }
    let mut config = Config::default();
    for el in &root.children {
        let target = match el.name.as_str() {
            "CloudFunctionConfiguration" => Target::Lambda,
            "QueueConfiguration" => Target::Queue,
            "TopicConfiguration" => Target::Topic,
            "EventBridgeConfiguration" => {
                config.event_bridge = true;
                continue;
            }
            _ => return Err(ApiError::MalformedXML),
        };
        if config.destinations.len() == NOTIFICATION_CONFIGURATIONS_MAX {
            return Err(invalid("Too many notification configurations", "NotificationConfiguration", ""));
        }
        config.destinations.push(parse_destination(el, target, bucket_region)?);
    }
    check_overlaps(&config.destinations)?;
    Ok(config)
}

fn parse_destination(el: &Element, target: Target, bucket_region: &str) -> Result<Destination, ApiError> {
    let (_, arn_el) = target.elements();
    let arn = el.child_text(arn_el).ok_or(ApiError::MalformedXML)?.trim().to_owned();
    let region =
        arn_region(&arn, target.service()).ok_or_else(|| invalid("The ARN could not be parsed", arn_el, &arn))?;
    if region != bucket_region {
        return Err(invalid(
            "The notification destination service region is not valid for the bucket location constraint",
            arn_el,
            &arn,
        ));
    }
    let events: Vec<String> = el.children_named("Event").map(|e| e.text.trim().to_owned()).collect();
    if events.is_empty() {
        return Err(ApiError::MalformedXML);
    }
    for e in &events {
        if !EVENTS.contains(&e.as_str()) {
            return Err(invalid("The event is not supported for notifications", "Event", e));
        }
    }
    let (mut prefix, mut suffix) = (None, None);
    if let Some(filter) = el.child("Filter") {
        let key = filter.child("S3Key").ok_or(ApiError::MalformedXML)?;
        for rule in key.children_named("FilterRule") {
            let name = rule.child_text("Name").ok_or(ApiError::MalformedXML)?;
            let value = rule.child_text("Value").unwrap_or_default().to_owned();
            let slot = match name.to_ascii_lowercase().as_str() {
                "prefix" => &mut prefix,
                "suffix" => &mut suffix,
                _ => return Err(invalid("filter rule name must be either prefix or suffix", "FilterRule.Name", name)),
            };
            if slot.is_some() {
                return Err(if name.eq_ignore_ascii_case("prefix") {
                    invalid("Cannot specify more than one prefix rule in a filter.", "FilterRule.Name", name)
                } else {
                    invalid("Cannot specify more than one suffix rule in a filter.", "FilterRule.Name", name)
                });
            }
            *slot = Some(value);
        }
    }
    let id = match el.child_text("Id").map(str::trim) {
        Some(id) if !id.is_empty() => id.to_owned(),
        _ => generated_id(),
    };
    Ok(Destination { target, id, arn, events, prefix, suffix })
}

/// An Id as S3 generates them: base64 of a UUID's text.
fn generated_id() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(uuid::Uuid::new_v4().to_string())
}

/// Whether two event types can match the same event (`s3:ObjectCreated:*` covers
/// `s3:ObjectCreated:Put`).
fn events_overlap(a: &str, b: &str) -> bool {
    fn family(e: &str) -> Option<&str> {
        e.strip_suffix(":*")
    }
    a == b
        || family(a).is_some_and(|f| b.starts_with(f) && b[f.len()..].starts_with(':'))
        || family(b).is_some_and(|f| a.starts_with(f) && a[f.len()..].starts_with(':'))
}

/// S3's rule: two configurations sharing an event type must not have overlapping prefixes and
/// overlapping suffixes (one a prefix of the other; a missing rule overlaps everything).
fn check_overlaps(ds: &[Destination]) -> Result<(), ApiError> {
    let prefixes_overlap = |a: &Option<String>, b: &Option<String>| match (a, b) {
        (Some(a), Some(b)) => a.starts_with(b.as_str()) || b.starts_with(a.as_str()),
        _ => true,
    };
    let suffixes_overlap = |a: &Option<String>, b: &Option<String>| match (a, b) {
        (Some(a), Some(b)) => a.ends_with(b.as_str()) || b.ends_with(a.as_str()),
        _ => true,
    };
    for (i, a) in ds.iter().enumerate() {
        for b in &ds[i + 1..] {
            let shared = a.events.iter().any(|ea| b.events.iter().any(|eb| events_overlap(ea, eb)));
            if shared && prefixes_overlap(&a.prefix, &b.prefix) && suffixes_overlap(&a.suffix, &b.suffix) {
                return Err(invalid(
                    "Configuration is ambiguously defined. Cannot have overlapping suffixes in two rules if the prefixes are overlapping for the same event type.",
                    "Event",
                    a.events.first().map(String::as_str).unwrap_or_default(),
                ));
            }
        }
    }
    Ok(())
}

/// The canonical document GetBucketNotificationConfiguration answers (filter rule names
/// normalised to `Prefix`/`Suffix`, as S3 does).
pub fn render(config: &Config) -> String {
    let mut w = xml::Writer::new("NotificationConfiguration");
    for d in &config.destinations {
        let (el, arn_el) = d.target.elements();
        w.open(el).elem("Id", &d.id).elem(arn_el, &d.arn);
        for e in &d.events {
            w.elem("Event", e);
        }
        if d.prefix.is_some() || d.suffix.is_some() {
            w.open("Filter").open("S3Key");
            for (name, value) in [("Prefix", &d.prefix), ("Suffix", &d.suffix)] {
                if let Some(v) = value {
                    w.open("FilterRule").elem("Name", name).elem("Value", v).close("FilterRule");
                }
            }
            w.close("S3Key").close("Filter");
        }
        w.close(el);
    }
    if config.event_bridge {
        w.open("EventBridgeConfiguration").close("EventBridgeConfiguration");
    }
    w.finish()
}

/// The Lambda configurations an event goes to: `event` is the full type
/// (`s3:ObjectCreated:Put`); filters match the key in its URL-encoded form, as S3 documents
/// (a filter value with a space must be written with `+`).
pub fn matching<'a>(config: &'a Config, event: &str, key: &str) -> Vec<&'a Destination> {
    let encoded = form_encode_key(key);
    config
        .destinations
        .iter()
        .filter(|d| d.target == Target::Lambda)
        .filter(|d| d.events.iter().any(|e| events_overlap(e, event)))
        .filter(|d| d.prefix.as_ref().is_none_or(|p| encoded.starts_with(p.as_str())))
        .filter(|d| d.suffix.as_ref().is_none_or(|s| encoded.ends_with(s.as_str())))
        .collect()
}

/// What happened to an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEvent {
    /// Full type, e.g. `s3:ObjectCreated:Put`.
    pub event: &'static str,
    pub key: String,
    /// Size and unquoted ETag (created events only).
    pub created: Option<(u64, String)>,
    pub sequencer: u64,
    pub time_ms: i64,
}

/// Who caused it, and the bucket it happened in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventContext<'a> {
    pub region: &'a str,
    pub bucket: &'a str,
    pub bucket_owner: &'a str,
    pub requester: &'a str,
    pub source_ip: &'a str,
    pub request_id: &'a str,
    pub host_id: &'a str,
}

/// The sequencer as S3 writes it: upper-case hex, fixed width (so that string order is numeric
/// order, as S3 tells readers to compare).
pub fn sequencer_text(n: u64) -> String {
    format!("{n:016X}")
}

fn json_str(out: &mut String, s: &str) {
    out.push_str(&serde_json::Value::from(s).to_string());
}

/// `{"Records":[…]}` with one record, fields in the order AWS's documentation shows them.
pub fn record(cx: &EventContext<'_>, configuration_id: &str, ev: &ObjectEvent) -> Vec<u8> {
    let mut o = String::with_capacity(768);
    o.push_str(r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"#);
    json_str(&mut o, cx.region);
    o.push_str(r#","eventTime":"#);
    json_str(&mut o, &stdx::time::format_iso8601_ms(ev.time_ms));
    o.push_str(r#","eventName":"#);
    json_str(&mut o, ev.event.strip_prefix("s3:").unwrap_or(ev.event));
    o.push_str(r#","userIdentity":{"principalId":"#);
    json_str(&mut o, &format!("AWS:{}", cx.requester));
    o.push_str(r#"},"requestParameters":{"sourceIPAddress":"#);
    json_str(&mut o, cx.source_ip);
    o.push_str(r#"},"responseElements":{"x-amz-request-id":"#);
    json_str(&mut o, cx.request_id);
    o.push_str(r#","x-amz-id-2":"#);
    json_str(&mut o, cx.host_id);
    o.push_str(r#"},"s3":{"s3SchemaVersion":"1.0","configurationId":"#);
    json_str(&mut o, configuration_id);
    o.push_str(r#","bucket":{"name":"#);
    json_str(&mut o, cx.bucket);
    o.push_str(r#","ownerIdentity":{"principalId":"#);
    json_str(&mut o, cx.bucket_owner);
    o.push_str(r#"},"arn":"#);
    json_str(&mut o, &format!("arn:aws:s3:::{}", cx.bucket));
    o.push_str(r#"},"object":{"key":"#);
    json_str(&mut o, &form_encode_key(&ev.key));
    if let Some((size, etag)) = &ev.created {
        let _ = write!(o, r#","size":{size},"eTag":"#);
        json_str(&mut o, etag);
    }
    o.push_str(r#","sequencer":"#);
    json_str(&mut o, &sequencer_text(ev.sequencer));
    o.push_str("}}}]}");
    o.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:lambda:us-east-1:000000000000:function:f";

    fn doc(inner: &str) -> Element {
        xml::parse(
            format!(r#"<NotificationConfiguration xmlns="{}">{inner}</NotificationConfiguration>"#, xml::NS).as_bytes(),
        )
        .unwrap()
    }

    fn lambda(id: &str, events: &[&str], prefix: Option<&str>, suffix: Option<&str>) -> String {
        let mut s = format!("<CloudFunctionConfiguration><Id>{id}</Id><CloudFunction>{ARN}</CloudFunction>");
        for e in events {
            let _ = write!(s, "<Event>{e}</Event>");
        }
        if prefix.is_some() || suffix.is_some() {
            s.push_str("<Filter><S3Key>");
            if let Some(p) = prefix {
                let _ = write!(s, "<FilterRule><Name>prefix</Name><Value>{p}</Value></FilterRule>");
            }
            if let Some(x) = suffix {
                let _ = write!(s, "<FilterRule><Name>Suffix</Name><Value>{x}</Value></FilterRule>");
            }
            s.push_str("</S3Key></Filter>");
        }
        s.push_str("</CloudFunctionConfiguration>");
        s
    }

    fn code_and_message(r: Result<Config, ApiError>) -> (&'static str, String) {
        let e = r.unwrap_err();
        (e.code(), e.message())
    }

    #[test]
    fn arns_are_checked() {
        assert_eq!(arn_region(ARN, "lambda").as_deref(), Some("us-east-1"));
        assert_eq!(arn_region(&format!("{ARN}:live"), "lambda").as_deref(), Some("us-east-1"));
        assert_eq!(arn_region("arn:aws:sqs:eu-west-1:111111111111:q", "sqs").as_deref(), Some("eu-west-1"));
        for bad in [
            "invalid-queue",
            "arn:aws:lambda:us-east-1:0000:function:f",
            "arn:aws:lambda:us-east-1:000000000000:layer:f",
            "arn:aws:lambda:us-east-1:000000000000:function:",
            "arn:aws:lambda:us-east-1:000000000000:function:f:",
            "arn:aws:lambda:us-east-1:000000000000:function:f:1:2",
            "arn:aws:sqs:us-east-1:000000000000:function:f",
        ] {
            assert_eq!(arn_region(bad, "lambda"), None, "{bad}");
        }
    }

    #[test]
    fn parses_renders_and_keeps_ids() {
        let c = parse(
            &doc(&format!(
                "{}{}",
                lambda("a", &["s3:ObjectCreated:*"], Some("in/"), Some(".jpg")),
                lambda("", &["s3:ObjectRemoved:*"], None, None)
            )),
            "us-east-1",
        )
        .unwrap();
        assert_eq!(c.destinations.len(), 2);
        assert_eq!(c.destinations[0].prefix.as_deref(), Some("in/"));
        let generated = &c.destinations[1].id;
        assert!(!generated.is_empty());
        let out = render(&c);
        assert!(out.contains(&format!("<CloudFunctionConfiguration><Id>a</Id><CloudFunction>{ARN}</CloudFunction><Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule><Name>Prefix</Name><Value>in/</Value></FilterRule><FilterRule><Name>Suffix</Name><Value>.jpg</Value></FilterRule></S3Key></Filter></CloudFunctionConfiguration>")), "{out}");
        // Re-parsing the canonical form gives the same configuration (ids kept).
        assert_eq!(parse(&xml::parse(out.as_bytes()).unwrap(), "us-east-1").unwrap(), c);
        assert_eq!(parse(&doc(""), "us-east-1").unwrap(), Config::default());
    }

    #[test]
    fn validation_errors() {
        let r = |inner: &str| parse(&doc(inner), "us-east-1");
        assert_eq!(
            code_and_message(r(&lambda("a", &["s3:ObjectCreated:Bogus"], None, None))).1,
            "The event is not supported for notifications"
        );
        assert_eq!(
            code_and_message(r("<CloudFunctionConfiguration><CloudFunction>x</CloudFunction><Event>s3:ObjectCreated:*</Event></CloudFunctionConfiguration>")).1,
            "The ARN could not be parsed"
        );
        assert_eq!(
            code_and_message(r(&lambda("a", &["s3:ObjectCreated:*"], None, None).replace("us-east-1", "eu-west-1"))).1,
            "The notification destination service region is not valid for the bucket location constraint"
        );
        let bad_rule = lambda("a", &["s3:ObjectCreated:*"], Some("p"), None)
            .replace("<Name>prefix</Name>", "<Name>INVALID</Name>");
        let e = r(&bad_rule).unwrap_err();
        assert_eq!(
            e,
            ApiError::InvalidArgument {
                message: "filter rule name must be either prefix or suffix",
                name: "FilterRule.Name".into(),
                value: "INVALID".into()
            }
        );
        let two_prefixes = lambda("a", &["s3:ObjectCreated:*"], Some("p"), None)
            .replace("</S3Key>", "<FilterRule><Name>Prefix</Name><Value>q</Value></FilterRule></S3Key>");
        assert_eq!(code_and_message(r(&two_prefixes)).1, "Cannot specify more than one prefix rule in a filter.");
        let many: String = (0..=NOTIFICATION_CONFIGURATIONS_MAX)
            .map(|i| lambda(&i.to_string(), &["s3:ObjectCreated:*"], Some(&format!("p{i}/")), None))
            .collect();
        assert_eq!(code_and_message(r(&many)).1, "Too many notification configurations");
        assert_eq!(code_and_message(r("<Bogus/>")).0, "MalformedXML");
        assert_eq!(
            code_and_message(r(&format!(
                "<CloudFunctionConfiguration><CloudFunction>{ARN}</CloudFunction></CloudFunctionConfiguration>"
            )))
            .0,
            "MalformedXML"
        );
        assert_eq!(code_and_message(parse(&xml::parse(b"<Other/>").unwrap(), "us-east-1")).0, "MalformedXML");
    }

    #[test]
    fn overlap_rules() {
        let overlap = "Configuration is ambiguously defined. Cannot have overlapping suffixes in two rules if the prefixes are overlapping for the same event type.";
        let r = |a: String, b: String| parse(&doc(&format!("{a}{b}")), "us-east-1");
        // Same event, no filters.
        assert_eq!(
            code_and_message(r(
                lambda("a", &["s3:ObjectCreated:Put"], None, None),
                lambda("b", &["s3:ObjectCreated:Put"], None, None)
            ))
            .1,
            overlap
        );
        // Wildcard covers the specific type; nested prefixes overlap; missing suffixes overlap.
        assert!(
            r(
                lambda("a", &["s3:ObjectCreated:*"], Some("a/"), None),
                lambda("b", &["s3:ObjectCreated:Copy"], Some("a/b/"), Some(".x"))
            )
            .is_err()
        );
        // Disjoint prefixes, disjoint suffixes, or different event families are fine.
        assert!(
            r(
                lambda("a", &["s3:ObjectCreated:*"], Some("a/"), None),
                lambda("b", &["s3:ObjectCreated:*"], Some("b/"), None)
            )
            .is_ok()
        );
        assert!(
            r(
                lambda("a", &["s3:ObjectCreated:*"], Some("a/"), Some(".jpg")),
                lambda("b", &["s3:ObjectCreated:*"], Some("a/"), Some(".png"))
            )
            .is_ok()
        );
        assert!(
            r(lambda("a", &["s3:ObjectCreated:*"], None, None), lambda("b", &["s3:ObjectRemoved:*"], None, None))
                .is_ok()
        );
        assert!(
            r(lambda("a", &["s3:ObjectCreated:Put"], None, None), lambda("b", &["s3:ObjectCreated:Copy"], None, None))
                .is_ok()
        );
        // Overlapping suffixes (".jpg" ends ".pg") with the same prefix overlap.
        assert!(
            r(
                lambda("a", &["s3:ObjectCreated:*"], None, Some(".jpg")),
                lambda("b", &["s3:ObjectCreated:*"], None, Some("jpg"))
            )
            .is_err()
        );
    }

    #[test]
    fn matching_uses_wildcards_and_encoded_keys() {
        let c = parse(
            &doc(&format!(
                "{}{}",
                lambda("put", &["s3:ObjectCreated:Put"], Some("in/my+"), Some(".jpg")),
                lambda("rm", &["s3:ObjectRemoved:*"], None, None)
            )),
            "us-east-1",
        )
        .unwrap();
        let ids =
            |event: &str, key: &str| matching(&c, event, key).into_iter().map(|d| d.id.as_str()).collect::<Vec<_>>();
        assert_eq!(ids("s3:ObjectCreated:Put", "in/my photo.jpg"), ["put"]);
        assert!(ids("s3:ObjectCreated:Copy", "in/my photo.jpg").is_empty());
        assert!(ids("s3:ObjectCreated:Put", "in/my photo.png").is_empty());
        assert!(ids("s3:ObjectCreated:Put", "out/my photo.jpg").is_empty());
        assert_eq!(ids("s3:ObjectRemoved:Delete", "anything"), ["rm"]);
    }

    #[test]
    fn records_have_aws_shape() {
        let cx = EventContext {
            region: "us-east-1",
            bucket: "b",
            bucket_owner: "000000000000",
            requester: "000000000000",
            source_ip: "127.0.0.1",
            request_id: "RID",
            host_id: "HID",
        };
        let ev = ObjectEvent {
            event: "s3:ObjectCreated:Put",
            key: "a b/c@d".into(),
            created: Some((3, "abc".into())),
            sequencer: 26,
            time_ms: 0,
        };
        let json: serde_json::Value = serde_json::from_slice(&record(&cx, "cfg", &ev)).unwrap();
        let r = &json["Records"][0];
        assert_eq!(r["eventVersion"], "2.1");
        assert_eq!(r["eventName"], "ObjectCreated:Put");
        assert_eq!(r["eventTime"], "1970-01-01T00:00:00.000Z");
        assert_eq!(r["userIdentity"]["principalId"], "AWS:000000000000");
        assert_eq!(r["s3"]["configurationId"], "cfg");
        assert_eq!(r["s3"]["bucket"]["arn"], "arn:aws:s3:::b");
        assert_eq!(r["s3"]["object"]["key"], "a+b/c%40d");
        assert_eq!(r["s3"]["object"]["size"], 3);
        assert_eq!(r["s3"]["object"]["sequencer"], "000000000000001A");
        let ev = ObjectEvent { event: "s3:ObjectRemoved:Delete", created: None, ..ev };
        let json: serde_json::Value = serde_json::from_slice(&record(&cx, "cfg", &ev)).unwrap();
        let obj = json["Records"][0]["s3"]["object"].as_object().unwrap();
        assert_eq!(obj.keys().collect::<Vec<_>>(), ["key", "sequencer"]);
    }
}
