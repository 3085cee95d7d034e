//! Harness of the fault suite (`make fault`, `tests/tests/faults.rs`): a PostgreSQL instance of
//! the suite's own (so restarting it disturbs nothing else on the machine) and the real
//! `crm-server` binary as a child process (so it can be sent SIGTERM or killed).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crm_domain::TenantId;

/// The secret the fault suite's servers sign tokens with.
pub const SECRET: &str = "fault-suite-secret-0123456789abcdef-0123";

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn pg_bin(name: &str) -> PathBuf {
    let dir = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "/usr/lib/postgresql/15/bin".into());
    Path::new(&dir).join(name)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs a PostgreSQL tool, as the `postgres` user when we are root (initdb and the server
/// refuse to run as root).
fn pg_tool(name: &str, args: &[&str]) -> std::process::Output {
    let bin = pg_bin(name);
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&bin);
        c
    } else {
        Command::new(&bin)
    };
    cmd.args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", bin.display()))
}

/// A throw-away PostgreSQL cluster in a temporary folder, on a free port, trust auth, stopped
/// and removed on drop.
pub struct ScratchPostgres {
    dir: PathBuf,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
}

impl ScratchPostgres {
    /// initdb + start. Panics with the tool's output when either fails.
    pub fn start() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "crm-fault-pg-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("create the cluster folder");
        if is_root() {
            let ok = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&dir)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(ok, "chown {} to postgres", dir.display());
        }
        let data = dir.join("data");
        let out = pg_tool(
            "initdb",
            &[
                "-D",
                &data.to_string_lossy(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pg = Self {
            dir,
            port: free_port(),
        };
        pg.pg_ctl("start");
        pg
    }

    fn pg_ctl(&self, action: &str) {
        let data = self.dir.join("data");
        let log = self.dir.join("log");
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100",
            self.port,
            self.dir.display()
        );
        let out = pg_tool(
            "pg_ctl",
            &[
                "-D",
                &data.to_string_lossy(),
                "-l",
                &log.to_string_lossy(),
                "-o",
                &opts,
                "-w",
                "-t",
                "60",
                "-m",
                "fast",
                action,
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl {action}: {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `postgres://postgres@127.0.0.1:<port>/<db>`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Restarts the server (`pg_ctl restart -m fast`: open sessions are terminated).
    pub fn restart(&self) {
        self.pg_ctl("restart");
    }

    /// Stops the server.
    pub fn stop(&self) {
        self.pg_ctl("stop");
    }

    /// Starts a stopped server.
    pub fn start_again(&self) {
        self.pg_ctl("start");
    }
}

impl Drop for ScratchPostgres {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = pg_tool(
            "pg_ctl",
            &["-D", &data.to_string_lossy(), "-m", "immediate", "stop"],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The `crm-server` binary next to the test executable (`make fault` builds it first).
pub fn server_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/..");
    let bin = dir.join("crm-server");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p crm-server` first (make fault does)",
        bin.display()
    );
    bin
}

/// The real server as a child process.
pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    env: Vec<(String, String)>,
    data_dir: tempfile::TempDir,
}

impl ServerProcess {
    /// Runs `crm-server serve` with `CRM_DATABASE_URL=url` and `extra` variables, and waits until
    /// `/health/live` answers.
    pub async fn start(url: &str, extra: &[(&str, &str)]) -> Self {
        let data_dir = tempfile::tempdir().expect("data dir");
        let port = free_port();
        let mut env: Vec<(String, String)> = vec![
            ("CRM_DATABASE_URL".into(), url.into()),
            ("CRM_BIND".into(), format!("127.0.0.1:{port}")),
            ("CRM_JWT_SECRET".into(), SECRET.into()),
            ("CRM_DATA_DIR".into(), data_dir.path().display().to_string()),
            ("CRM_LOG".into(), "error".into()),
            // The load here is the point; rate limits have tests of their own.
            ("CRM_RATE_LIMIT_PER_TOKEN".into(), "0".into()),
            ("CRM_RATE_LIMIT_PER_TENANT".into(), "0".into()),
            ("CRM_RATE_LIMIT_AUTH_FAILURES".into(), "0".into()),
        ];
        env.extend(extra.iter().map(|(k, v)| ((*k).into(), (*v).into())));
        let child = Self::spawn(&env, &["serve"]);
        let server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            env,
            data_dir,
        };
        server.wait_live().await;
        server
    }

    fn spawn(env: &[(String, String)], args: &[&str]) -> Child {
        Command::new(server_binary())
            .args(args)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn crm-server")
    }

    /// Runs a CLI subcommand against the same database and returns its standard output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(server_binary())
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("run crm-server");
        assert!(
            out.status.success(),
            "crm-server {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Creates a tenant through the CLI and returns its id.
    pub fn tenant(&self, name: &str) -> TenantId {
        let out = self.cli(&["tenant", "create", "--name", name, "--currency", "USD"]);
        let id = out
            .split_whitespace()
            .find_map(|w| uuid::Uuid::parse_str(w).ok())
            .unwrap_or_else(|| panic!("no tenant id in {out:?}"));
        TenantId::from(id)
    }

    /// The data folder (uploads live under it).
    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    async fn wait_live(&self) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(r) = http.get(format!("{}/health/live", self.base)).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("crm-server did not come up at {}", self.base);
    }

    /// Sends SIGTERM (graceful shutdown).
    pub fn terminate(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill -TERM");
    }

    /// Sends SIGKILL and reaps the process.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits up to `limit` for the process to exit.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// Starts the same server again (same database, port, data folder) after it stopped.
    pub async fn restart(&mut self) {
        self.kill();
        self.child = Self::spawn(&self.env, &["serve"]);
        self.wait_live().await;
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A bearer token for `role` in `tenant`, signed with [`SECRET`].
pub fn token(tenant: TenantId, role: &str) -> String {
    crm_http::JwtKeys::from_secret(SECRET.as_bytes())
        .mint(
            tenant,
            &format!("{role}-user"),
            &[role.to_owned()],
            Duration::from_secs(3600),
        )
        .expect("mint a token")
}

/// Creates database `name` on a PostgreSQL server reachable at `admin_url` (a `postgres`
/// database URL).
pub async fn create_database(admin_url: &str, name: &str) {
    use sea_orm::{ConnectionTrait, Database};
    let db = Database::connect(admin_url)
        .await
        .expect("connect as admin");
    db.execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create database");
    let _ = db.close().await;
}
