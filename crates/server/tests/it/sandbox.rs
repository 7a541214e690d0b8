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

/// A shell builds the shared part of its root before it has a function; once started, the root
/// is still read-only, holds only this function's code and users, and the host sees nothing of
/// it. A discarded shell leaves nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prestarted_shell_builds_its_root_ahead_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let caps = sandbox::probe(init(), Isolation::Namespaces { network: Network::Isolated }, dir.path()).await;
    assert!(matches!(caps.isolation, Isolation::Namespaces { .. }), "{caps:#?}");
    let run = dir.path().join("run");
    let unused = sandbox::Shell::spawn(&caps, &run).unwrap();
    let shell = sandbox::Shell::spawn(&caps, &run).unwrap();
    let root = shell.root_dir().to_owned();
    assert!(root.starts_with(&run), "{}", root.display());
    // Give the init time to build the shared root while it waits, as a pre-started one does.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let task = dir.path().join("task");
    std::fs::create_dir_all(&task).unwrap();
    std::fs::write(task.join("mine.txt"), "mine").unwrap();
    let spec = Spec {
        program: "/bin/sh".into(),
        args: vec![
            "-c".into(),
            "ls /var/task; cat /etc/passwd | cut -d: -f1 | tr '\\n' ' '; echo; \
             ls /etc | grep -c . ; hostname; \
             touch /etc/x 2>/dev/null && echo etc-writable || echo etc-readonly; \
             touch /var/task/x 2>/dev/null && echo task-writable || echo task-readonly; \
             mkdir /new 2>/dev/null && echo root-writable || echo root-readonly; \
             echo data > /tmp/t && echo tmp=$(cat /tmp/t); echo secret=${SECRET:-none}"
                .into(),
        ],
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        workdir: "/var/task".into(),
        root_dir: std::path::PathBuf::from("/ignored/for/a/shell"),
        mounts: vec![
            Mount { target: "/var/task".into(), kind: MountKind::ReadOnly { source: task } },
            Mount { target: "/tmp".into(), kind: MountKind::Tmpfs { size_mb: 8 } },
        ],
        listeners: Vec::new(),
        limits: Limits { open_files: 1024, processes: 1024 },
        user: None,
        hostname: "shell-one".into(),
        isolation: Isolation::Namespaces { network: Network::Isolated },
    };
    let mut sb = shell.start(&caps, spec, Some((64 << 20, 64))).await.expect("start");
    let mut out = String::new();
    sb.output.take().unwrap().read_to_string(&mut out).await.unwrap();
    let status = sb.wait().await.unwrap();
    println!("{out}");
    assert_eq!(status.code(), Some(0), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "mine.txt", "{out}");
    assert_eq!(lines[1].trim(), "root sbx_user", "{out}");
    assert!(lines.contains(&"shell-one"), "{out}");
    for l in ["etc-readonly", "task-readonly", "root-readonly", "tmp=data", "secret=none"] {
        assert!(lines.contains(&l), "{l}: {out}");
    }
    // The root was built in the shell's own namespace: empty on the host.
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0);
    sb.cleanup();
    assert!(!root.parent().unwrap().exists(), "cleanup removes the shell's directory");

    let unused_dir = unused.root_dir().parent().unwrap().to_owned();
    assert!(unused_dir.exists());
    unused.discard();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while unused_dir.exists() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(!unused_dir.exists(), "a discarded shell's directory is removed");
}
