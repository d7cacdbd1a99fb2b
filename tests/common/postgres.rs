//! A private PostgreSQL server for tests: one per test process, on a Unix socket in a directory
//! of its own (no TCP port), from a data directory copied from a template made once with
//! `initdb` (under `$TMPDIR/gc-pg-test/`). Run as the `postgres` user when the tests run as root
//! (PostgreSQL refuses root). When the test process exits, passed or failed, the server is
//! stopped and its data removed; should the process be killed outright, the server gets SIGQUIT
//! (immediate shutdown) as its parent-death signal, and the next test process removes the data.
//!
//! Binaries: `$GC_TEST_PG_BIN`, else `postgres` on PATH, else Debian's
//! `/usr/lib/postgresql/<version>/bin`. Missing: tests skip, or fail when
//! `GC_TEST_REQUIRE_POSTGRES=1` (`scripts/test.sh` sets it).
#![allow(dead_code)] // each test crate uses its own subset

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A running server.
pub struct PgServer {
    /// The directory holding its socket.
    pub socket_dir: PathBuf,
    /// The database every test uses (stores are separated by schema).
    pub dbname: String,
}

impl PgServer {
    /// The connection string (key-value form: a `host` starting with `/` is a socket directory).
    pub fn url(&self) -> String {
        format!("host={} port=5432 user=postgres dbname={}", self.socket_dir.display(), self.dbname)
    }
}

static SERVER: OnceLock<Option<PgServer>> = OnceLock::new();

/// The server's pid and its run directory, for [`stop_at_exit`].
static RUNNING: OnceLock<(u32, PathBuf)> = OnceLock::new();

/// When the test process exits (passed or failed): stops the server (immediate shutdown),
/// waits for it to go and removes its data. A process killed outright skips this; its server
/// then gets the parent-death signal and its data is swept by the next test process.
extern "C" fn stop_at_exit() {
    let Some((pid, run)) = RUNNING.get() else { return };
    if let Some(pid) = rustix::process::Pid::from_raw(*pid as i32) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::QUIT);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{pid}/stat")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default().contains(") Z")
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = std::fs::remove_dir_all(run);
}

/// This test process's server, started on first use; `None` (after a note) when PostgreSQL is
/// not installed and not required.
pub fn server() -> Option<&'static PgServer> {
    SERVER.get_or_init(start).as_ref()
}

/// A schema name no other store of this process uses.
pub fn fresh_schema(tag: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    format!("t_{tag}_{}_{n}", std::process::id())
}

fn bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("GC_TEST_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let on_path = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .find(|d| d.join("postgres").is_file() && d.join("initdb").is_file());
    if on_path.is_some() {
        return on_path;
    }
    let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|d| d.join("postgres").is_file())
        .collect();
    debian.sort_by_key(|d| {
        d.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    debian.pop()
}

/// The uid and gid to run PostgreSQL as: the `postgres` user when this process is root.
fn run_as() -> Option<(u32, u32)> {
    if rustix::process::geteuid().as_raw() != 0 {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let line = passwd.lines().find(|l| l.starts_with("postgres:"))?;
    let fields: Vec<&str> = line.split(':').collect();
    Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?))
}

fn command(program: &Path, user: Option<(u32, u32)>) -> Command {
    let mut cmd = Command::new(program);
    if let Some((uid, gid)) = user {
        cmd.uid(uid).gid(gid).env("HOME", "/tmp");
    }
    cmd.env_remove("PGDATA").env("LC_ALL", "C");
    cmd
}

fn chown_tree(path: &Path, user: Option<(u32, u32)>) {
    let Some((uid, gid)) = user else { return };
    for entry in walkdir::WalkDir::new(path).into_iter().filter_map(Result::ok) {
        std::os::unix::fs::lchown(entry.path(), Some(uid), Some(gid)).unwrap();
    }
}

/// Where the template and the per-process data directories live: under the system's temporary
/// directory, which the `postgres` user can reach (a checkout under a private home may not be).
fn root() -> PathBuf {
    std::env::temp_dir().join("gc-pg-test")
}

/// The template data directory, made once with initdb (concurrent makers race to a rename).
fn template(bin: &Path, user: Option<(u32, u32)>) -> PathBuf {
    let template = root().join("template");
    if template.join("PG_VERSION").is_file() {
        return template;
    }
    let scratch = root().join(format!("template-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    chown_tree(&root(), user);
    let out = command(&bin.join("initdb"), user)
        .args(["-D"])
        .arg(&scratch)
        .args(["-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--no-instructions"])
        .output()
        .unwrap();
    assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
    if std::fs::rename(&scratch, &template).is_err() {
        // Another test process made it first.
        let _ = std::fs::remove_dir_all(&scratch);
    }
    template
}

/// Removes data directories of test processes that no longer run.
fn sweep_stale() {
    let Ok(entries) = std::fs::read_dir(root()) else { return };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("run-").and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn start() -> Option<PgServer> {
    let Some(bin) = bin_dir() else {
        let required = std::env::var("GC_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
        assert!(!required, "PostgreSQL is required (GC_TEST_REQUIRE_POSTGRES=1) but not found");
        eprintln!("note: no PostgreSQL (postgres, initdb) found; skipping");
        return None;
    };
    let user = run_as();
    std::fs::create_dir_all(root()).unwrap();
    sweep_stale();
    let template = template(&bin, user);
    let run = root().join(format!("run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&run);
    std::fs::create_dir_all(&run).unwrap();
    let data = run.join("data");
    let socket_dir = run.join("socket");
    std::fs::create_dir_all(&socket_dir).unwrap();
    let copied = Command::new("cp").arg("-a").arg(&template).arg(&data).status().unwrap();
    assert!(copied.success(), "copying the template data directory failed");
    chown_tree(&run, user);

    // The server is started by a thread that never ends, so the parent-death signal (sent when
    // the starting thread ends) comes only when the whole test process is gone.
    let (tx, rx) = std::sync::mpsc::channel();
    let postgres = bin.join("postgres");
    let (data_arg, socket_arg) = (data.clone(), socket_dir.clone());
    std::thread::Builder::new()
        .name("pg-keeper".into())
        .spawn(move || {
            let mut cmd = command(&postgres, user);
            cmd.arg("-D")
                .arg(&data_arg)
                .arg("-k")
                .arg(&socket_arg)
                .args(["-c", "listen_addresses=", "-c", "fsync=off", "-c", "max_connections=50"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            // SAFETY: only async-signal-safe calls between fork and exec.
            unsafe {
                cmd.pre_exec(|| {
                    rustix::process::set_parent_process_death_signal(Some(
                        rustix::process::Signal::QUIT,
                    ))
                    .map_err(std::io::Error::from)?;
                    // Its own process group: a test's group kill never reaches it by accident.
                    rustix::process::setsid().map_err(std::io::Error::from)?;
                    Ok(())
                });
            }
            let child = cmd.spawn();
            let ok = child.is_ok();
            let _ = tx.send(child.map(|c| c.id()).map_err(|e| e.to_string()));
            if ok {
                loop {
                    std::thread::park();
                }
            }
        })
        .unwrap();
    let pid = rx.recv().unwrap().unwrap_or_else(|e| panic!("starting postgres failed: {e}"));
    let _ = RUNNING.set((pid, run.clone()));
    // SAFETY: registering a plain extern "C" function.
    unsafe { libc::atexit(stop_at_exit) };
    let server = PgServer { socket_dir, dbname: "postgres".into() };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match postgres::Client::connect(&server.url(), postgres::NoTls) {
            Ok(_) => break,
            Err(e) => {
                assert!(
                    Path::new(&format!("/proc/{pid}")).exists(),
                    "postgres (pid {pid}) exited at start: {e}"
                );
                assert!(Instant::now() < deadline, "postgres did not accept connections: {e}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    Some(server)
}
