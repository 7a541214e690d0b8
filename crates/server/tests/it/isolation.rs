//! What a function can and cannot do: read-only code and root, a private /tmp, no view of
//! other environments, memory and process limits, the system calls seccomp refuses, the writes
//! Landlock refuses; and the unsandboxed mode for hosts without namespaces.

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, Runtime};
use testkit::TestServer;

use crate::invoke::create_py;
use crate::support::*;

const PROBE: &str = r#"
import os, time, json
def attempt(f):
    try:
        f()
        return "ok"
    except OSError as e:
        return e.strerror
def handler(event, context):
    marker = "/tmp/marker-" + context.aws_request_id
    with open(marker, "w") as f:
        f.write("mine")
    time.sleep(event.get("sleep", 0))
    return {
        "write_task": attempt(lambda: open("/var/task/evil.py", "w")),
        "write_root": attempt(lambda: open("/evil", "w")),
        "write_usr": attempt(lambda: open("/usr/evil", "w")),
        "tmp": sorted(os.listdir("/tmp")),
        "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "shadow": attempt(lambda: open("/etc/shadow").read()),
        "hostname": os.uname().nodename,
        "uid": os.getuid(),
        "mine": marker,
        "nofile": __import__("resource").getrlimit(__import__("resource").RLIMIT_NOFILE)[0],
        "status": {k: v.strip() for k, v in (l.split(":", 1) for l in open("/proc/self/status")) if k in ("NoNewPrivs", "CapEff", "Seccomp")},
    }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environments_are_isolated_from_the_host_and_each_other() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create_py(&c, "probe", PROBE).await;
    // Two concurrent invocations: two environments, alive at the same time.
    let a = {
        let c = c.clone();
        tokio::spawn(async move {
            c.invoke().function_name("probe").payload(Blob::new(br#"{"sleep": 1.5}"#.to_vec())).send().await.unwrap()
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let b = c.invoke().function_name("probe").payload(Blob::new(br#"{"sleep": 0}"#.to_vec())).send().await.unwrap();
    let a = a.await.unwrap();
    let a: serde_json::Value = serde_json::from_slice(a.payload().unwrap().as_ref()).unwrap();
    let b: serde_json::Value = serde_json::from_slice(b.payload().unwrap().as_ref()).unwrap();
    for r in [&a, &b] {
        assert_eq!(r["write_task"], "Read-only file system", "{r}");
        assert_eq!(r["write_root"], "Read-only file system", "{r}");
        assert_eq!(r["write_usr"], "Read-only file system", "{r}");
        assert_eq!(r["shadow"], "No such file or directory", "{r}");
        assert_eq!(r["uid"], 993);
        assert_eq!(r["nofile"], 1024, "{r}");
        assert_eq!(r["status"]["NoNewPrivs"], "1", "{r}");
        assert_eq!(r["status"]["CapEff"], "0000000000000000", "no capabilities: {r}");
        // Only its own marker in its own /tmp, and only its own few processes.
        let tmp: Vec<&str> = r["tmp"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(tmp, [r["mine"].as_str().unwrap().trim_start_matches("/tmp/")], "{r}");
        let pids = r["pids"].as_array().unwrap();
        assert!(pids.len() <= 3 && pids[0] == 1, "a PID namespace of its own: {r}");
    }
    assert_ne!(a["hostname"], b["hostname"], "two environments ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tmp_is_bounded_by_ephemeral_storage() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create_py(
        &c,
        "filler",
        "def handler(e, c):\n    chunk = b'x' * (1 << 20)\n    written = 0\n    try:\n        with open('/tmp/fill', 'wb') as f:\n            for _ in range(700):\n                f.write(chunk)\n                f.flush()\n                written += 1\n    except OSError as err:\n        return {'mb': written, 'error': err.strerror}\n    return {'mb': written}\n",
    )
    .await;
    c.update_function_configuration()
        .function_name("filler")
        .memory_size(2048)
        .ephemeral_storage(aws_sdk_lambda::types::EphemeralStorage::builder().size(512).build().unwrap())
        .timeout(20)
        .send()
        .await
        .unwrap();
    let r = c.invoke().function_name("filler").send().await.unwrap();
    let body: serde_json::Value = serde_json::from_slice(r.payload().unwrap().as_ref()).unwrap();
    assert_eq!(body["error"], "No space left on device", "{body}");
    assert!(body["mb"].as_u64().unwrap() <= 512, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_limits_hold() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create_py(
        &c,
        "forker",
        "import os\ndef handler(e, c):\n    n = 0\n    try:\n        while n < 5000:\n            if os.fork() == 0:\n                os.execv('/usr/bin/sleep', ['sleep', '5'])\n            n += 1\n    except OSError as err:\n        return {'forked': n, 'error': err.strerror}\n    return {'forked': n}\n",
    )
    .await;
    c.update_function_configuration().function_name("forker").timeout(20).memory_size(2048).send().await.unwrap();
    let r = c.invoke().function_name("forker").send().await.unwrap();
    let body: serde_json::Value = serde_json::from_slice(r.payload().unwrap().as_ref()).unwrap();
    let forked = body["forked"].as_u64().unwrap_or_else(|| panic!("{body}"));
    assert!(forked < 1024, "the process limit stops a fork bomb: {body}");
    assert_eq!(body["error"], "Resource temporarily unavailable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_sandbox_functions_still_run_and_the_server_says_what_is_off() {
    let server = TestServer::start_with(|c| c.sandbox = false).await;
    let c = server.lambda();
    create_py(
        &c,
        "plain",
        "import os\ndef handler(e, c):\n    return {'root': os.environ['LAMBDA_TASK_ROOT'], 'cwd': os.getcwd()}\n",
    )
    .await;
    let r = c.invoke().function_name("plain").send().await.unwrap();
    assert_eq!(r.function_error(), None, "{}", String::from_utf8_lossy(r.payload().unwrap().as_ref()));
    let body: serde_json::Value = serde_json::from_slice(r.payload().unwrap().as_ref()).unwrap();
    assert_eq!(body["root"], body["cwd"]);
    assert_ne!(body["root"], "/var/task", "no mount namespace: the code is where it is on the host");
    let mut http = testkit::http::Client::new(server.addr);
    let health = http.send("GET", "/_versa/health", &[], b"").await.unwrap().json();
    let off = health["protectionsOff"].as_array().unwrap();
    assert!(off.iter().any(|o| o.as_str().unwrap().contains("turned off by configuration")), "{health}");
    assert!(off.iter().any(|o| o == "seccomp and landlock: turned off by configuration"), "{health}");
    assert_eq!(health["sandbox"][0], "namespaces: off");
    assert_eq!(health["sandbox"][3], "seccomp: off");
    assert_eq!(health["sandbox"][4], "landlock: off");

    // A provided bootstrap too.
    let bootstrap = "#!/bin/sh\nAPI=http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime\nwhile true; do\n  H=$(mktemp)\n  curl -sS -D $H $API/invocation/next >/dev/null\n  ID=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' $H | cut -d: -f2 | tr -d '[:space:]')\n  curl -sS -o /dev/null -X POST $API/invocation/$ID/response -d '\"plain\"'\n  rm -f $H\ndone\n";
    let zip = testkit::zip::build(&[testkit::zip::Entry::File {
        name: "bootstrap",
        data: bootstrap.as_bytes(),
        mode: 0o755,
    }]);
    c.create_function()
        .function_name("plain-sh")
        .runtime(Runtime::Providedal2)
        .role(ROLE)
        .handler("x")
        .code(FunctionCode::builder().zip_file(Blob::new(zip)).build())
        .send()
        .await
        .unwrap();
    let r = c.invoke().function_name("plain-sh").send().await.unwrap();
    assert_eq!(r.payload().unwrap().as_ref(), b"\"plain\"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_health_endpoint_reports_full_isolation_here() {
    let server = TestServer::start().await;
    let mut http = testkit::http::Client::new(server.addr);
    let health = http.send("GET", "/_versa/health", &[], b"").await.unwrap().json();
    let sandbox: Vec<&str> = health["sandbox"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    // CI and the development machines run as root with cgroups: everything is on.
    assert!(sandbox[0].starts_with("namespaces: mount, pid, ipc, uts, cgroup, network"), "{health}");
    assert!(sandbox[1].starts_with("limits: memory and processes via cgroup"), "{health}");
    assert!(sandbox[2].starts_with("user: unprivileged uid 993"), "{health}");
    // Seccomp and Landlock depend on the kernel: off only where it lacks them, and then said so.
    let (seccomp, landlock) = confinement(&health);
    if !seccomp || !landlock {
        println!("skipped (the host's kernel lacks it): seccomp {seccomp}, landlock {landlock}: {health}");
    }
    let off: Vec<&str> = health["protectionsOff"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert!(
        off.iter().all(|o| (o.starts_with("seccomp: the kernel") && !seccomp)
            || (o.starts_with("landlock: ") && !landlock && !o.contains("trial"))),
        "{health}"
    );
    assert!(seccomp || sandbox[3] == "seccomp: off", "{health}");
    assert!(landlock || sandbox[4] == "landlock: off", "{health}");
}

/// Whether the health report says seccomp is on and Landlock is on, in that order.
fn confinement(health: &serde_json::Value) -> (bool, bool) {
    let lines: Vec<&str> = health["sandbox"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    (
        lines.iter().any(|l| l.starts_with("seccomp: on;")),
        lines.iter().any(|l| l.starts_with("landlock: ABI ") && l.contains("writes only to /tmp")),
    )
}

/// Tries what seccomp and Landlock refuse, and what must keep working.
const CONFINED: &str = r#"
import ctypes, errno, os, platform, subprocess, threading
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
SYS = {"x86_64": {"keyctl": 250, "clone3": 435}, "aarch64": {"keyctl": 219, "clone3": 435}}[platform.machine()]
class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]
def call(f, *args):
    ctypes.set_errno(0)
    r = f(*args)
    return "ok" if r != -1 else errno.errorcode[ctypes.get_errno()]
def attempt(f):
    try:
        f()
        return "ok"
    except OSError as e:
        return errno.errorcode[e.errno]
def write(path, data):
    with open(path, "w") as f:
        f.write(data)
def handler(event, context):
    status = {k: v.strip() for k, v in (l.split(":", 1) for l in open("/proc/self/status")) if k in ("NoNewPrivs", "Seccomp")}
    t = threading.Thread(target=lambda: None)
    t.start()
    t.join()
    write("/tmp/ok", "tmp works")
    return {
        "status": status,
        "unshare_user": call(libc.unshare, 0x10000000),
        "unshare_net": call(libc.unshare, 0x40000000),
        "mount": call(libc.mount, b"none", b"/tmp", b"tmpfs", ctypes.c_ulong(0), None),
        "ptrace_traceme": call(libc.ptrace, 0, 0, None, None),
        "keyctl": call(libc.syscall, SYS["keyctl"], 0, -3, 0),
        "clone3": call(libc.syscall, SYS["clone3"], None, 0),
        "clock_settime": call(libc.clock_settime, 0, ctypes.byref(Timespec(0, 0))),
        "personality_no_aslr": call(libc.personality, 0x0040000),
        "write_proc_comm": attempt(lambda: write("/proc/self/comm", "renamed")),
        "write_tmp": open("/tmp/ok").read(),
        "thread": "ok",
        "subprocess": subprocess.run(["/bin/sh", "-c", "echo sub > /tmp/sub && cat /tmp/sub"], capture_output=True, text=True).stdout.strip(),
        "cmdline": open("/proc/1/cmdline", "rb").read().decode(),
        "comm": open("/proc/1/comm").read().strip(),
    }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seccomp_and_landlock_confine_the_runtime() {
    let server = TestServer::start().await;
    let mut http = testkit::http::Client::new(server.addr);
    let health = http.send("GET", "/_versa/health", &[], b"").await.unwrap().json();
    let (seccomp, landlock) = confinement(&health);
    let c = server.lambda();
    create_py(&c, "confined", CONFINED).await;
    c.update_function_configuration().function_name("confined").timeout(15).send().await.unwrap();
    let r = c.invoke().function_name("confined").send().await.unwrap();
    let body: serde_json::Value = serde_json::from_slice(r.payload().unwrap().as_ref()).unwrap();
    assert_eq!(r.function_error(), None, "{body}");
    println!("{body:#}");

    // What must keep working: /tmp, threads (clone3 refused, clone without namespace flags
    // allowed), processes.
    assert_eq!(body["write_tmp"], "tmp works", "{body}");
    assert_eq!(body["thread"], "ok", "{body}");
    assert_eq!(body["subprocess"], "sub", "{body}");
    assert_eq!(body["status"]["NoNewPrivs"], "1", "{body}");
    // The host's binary path is nowhere to be seen: pid 1 calls itself `init`.
    assert_eq!(body["cmdline"], "init\u{0}", "{body}");
    assert_eq!(body["comm"], "init", "{body}");
    let host_path = testkit::versa_binary().display().to_string();
    assert!(!body.to_string().contains(&host_path), "{body}");
    // Refused whatever the kernel: the runtime has no capabilities.
    for call in ["mount", "clock_settime", "unshare_net"] {
        assert_eq!(body[call], "EPERM", "{call}: {body}");
    }

    if seccomp {
        assert_eq!(body["status"]["Seccomp"], "2", "filter mode: {body}");
        // Each of these works for an unprivileged process; only the filter refuses them.
        for call in ["unshare_user", "ptrace_traceme", "keyctl", "personality_no_aslr"] {
            assert_eq!(body[call], "EPERM", "{call}: {body}");
        }
        assert_eq!(body["clone3"], "ENOSYS", "{body}");
    } else {
        println!("seccomp assertions skipped: the host has no seccomp filters ({})", health["protectionsOff"]);
    }
    if landlock {
        // The owner may write its own /proc/self/comm; only Landlock says no.
        assert_eq!(body["write_proc_comm"], "EACCES", "{body}");
    } else {
        println!("landlock assertions skipped: the host has no Landlock ({})", health["protectionsOff"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_network_is_loopback_only_unless_the_host_network_is_chosen() {
    let probe = "import os, socket\ndef handler(event, context):\n    try:\n        socket.create_connection(('127.0.0.1', event['port']), timeout=1).close()\n        reached = True\n    except OSError:\n        reached = False\n    return {'reached_server_port': reached, 'interfaces': sorted(n for _, n in socket.if_nameindex())}\n";
    for (host, expect_reach) in [(false, false), (true, true)] {
        let server = TestServer::start_with(|c| {
            if host {
                c.function_network = sandbox::Network::Host;
            }
        })
        .await;
        let c = server.lambda();
        create_py(&c, "net", probe).await;
        // Room for a cold start on a loaded machine: the probe itself takes milliseconds.
        c.update_function_configuration().function_name("net").timeout(15).send().await.unwrap();
        let payload = format!(r#"{{"port": {}}}"#, server.addr.port());
        let r = c.invoke().function_name("net").payload(Blob::new(payload.into_bytes())).send().await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(r.payload().unwrap().as_ref()).unwrap();
        assert_eq!(body["reached_server_port"], expect_reach, "host network {host}: {body}");
        if !host {
            assert_eq!(body["interfaces"], serde_json::json!(["lo"]), "{body}");
        }
        // Both servers of this process share its cgroup directory (`versa-<pid>`): the first
        // must be gone before the second starts, or its cleanup removes the second's cgroups.
        server.stop().await;
    }
}
