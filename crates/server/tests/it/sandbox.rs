//! The sandbox itself, without the invoke path: what a process inside can and cannot do.

use std::path::PathBuf;

use sandbox::{Isolation, Limits, Mount, MountKind, Network, Sandbox, Spec};
use tokio::io::AsyncReadExt;

fn init() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_versa"))
}

async fn run_sh(caps: &sandbox::Capabilities, dir: &std::path::Path, name: &str, script: &str) -> (i32, String) {
    let task = dir.join(format!("{name}-task"));
    std::fs::create_dir_all(&task).unwrap();
    std::fs::write(task.join("hello.txt"), "hi").unwrap();
    let spec = Spec {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), script.into()],
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        workdir: "/var/task".into(),
        root_dir: dir.join(name).join("root"),
        mounts: vec![
            Mount { target: "/var/task".into(), kind: MountKind::ReadOnly { source: task } },
            Mount { target: "/tmp".into(), kind: MountKind::Tmpfs { size_mb: 8 } },
        ],
        listeners: Vec::new(),
        limits: Limits { open_files: 1024, processes: 1024 },
        user: None,
        hostname: "sandbox".into(),
        isolation: Isolation::Namespaces { network: Network::Isolated },
    };
    let mut sb = Sandbox::spawn(caps, spec, Some((64 << 20, 64))).await.expect("spawn");
    let mut out = String::new();
    sb.output.take().unwrap().read_to_string(&mut out).await.unwrap();
    let status = sb.wait().await.unwrap();
    sb.cleanup();
    (status.code().unwrap_or(-1), out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandboxed_process_is_confined() {
    let dir = tempfile::tempdir().unwrap();
    let caps = sandbox::probe(init(), Isolation::Namespaces { network: Network::Isolated }, dir.path()).await;
    println!("{caps:#?}");
    let (code, out) = run_sh(
        &caps,
        dir.path(),
        "confined",
        "id -u; hostname; echo pid=$$; cat hello.txt; echo; \
         touch /var/task/x 2>/dev/null && echo task-writable || echo task-readonly; \
         touch /x 2>/dev/null && echo root-writable || echo root-readonly; \
         echo data > /tmp/t && cat /tmp/t; \
         ls /proc | grep -c '^[0-9]'; \
         cat /etc/shadow 2>/dev/null && echo shadow-visible || echo no-shadow",
    )
    .await;
    println!("{out}");
    assert_eq!(code, 0, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seccomp_landlock_and_a_neutral_pid_one() {
    let dir = tempfile::tempdir().unwrap();
    let caps = sandbox::probe(init(), Isolation::Namespaces { network: Network::Isolated }, dir.path()).await;
    assert!(matches!(caps.isolation, Isolation::Namespaces { .. }), "{caps:#?}");
    let (code, out) = run_sh(
        &caps,
        dir.path(),
        "locked",
        "echo cmdline=$(tr '\\0' '|' < /proc/1/cmdline); echo comm=$(cat /proc/1/comm); \
         grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status | tr -d ' \\t'; \
         unshare -U true 2>/dev/null && echo unshare=ok || echo unshare=refused; \
         (echo x > /proc/self/comm) 2>/dev/null && echo comm-write=ok || echo comm-write=refused; \
         echo data > /tmp/t && echo tmp=$(cat /tmp/t); \
         echo y > /dev/null && echo devnull=ok; echo devstdout=ok > /dev/stdout; \
         echo z > /dev/stderr && echo devstderr=ok",
    )
    .await;
    println!("{out}");
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.contains(&"cmdline=init|"), "{out}");
    assert!(lines.contains(&"comm=init"), "{out}");
    assert!(!out.contains(&init().display().to_string()), "{out}");
    assert!(lines.contains(&"NoNewPrivs:1"), "{out}");
    for ok in ["tmp=data", "devnull=ok", "devstdout=ok", "devstderr=ok"] {
        assert!(lines.contains(&ok), "{ok}: {out}");
    }
    if caps.seccomp {
        assert!(lines.contains(&"Seccomp:2"), "{out}");
        assert!(lines.contains(&"unshare=refused"), "{out}");
    } else {
        println!("seccomp assertions skipped: {:?}", caps.off);
    }
    match caps.landlock {
        Some(_) => assert!(lines.contains(&"comm-write=refused"), "{out}"),
        None => println!("landlock assertions skipped: {:?}", caps.off),
    }
}
