//! The handler as a child process, started the way host.json says (`flowgate serve`) with the
//! host's environment: a free port in `FUNCTIONS_CUSTOMHANDLER_PORT`, the app settings, and its
//! logs in `<state>/handler.log`. Ready when `GET /` answers.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use super::functions::AppDef;
use super::invoker::Invoker;
use super::LocalOptions;

pub(super) struct Handler {
    child: Child,
    invoker: Invoker,
    command: (std::path::PathBuf, Vec<String>, std::path::PathBuf, Vec<(String, String)>),
    log: std::path::PathBuf,
    timeout: Duration,
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).map_err(|e| format!("no free port: {e}"))
}

impl Handler {
    pub(super) async fn start(opts: &LocalOptions, app: &AppDef) -> Result<Self, String> {
        let abs = |p: &std::path::Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let mut env = vec![
            ("FLOWGATE_CATALOG".to_string(), abs(&opts.catalog).display().to_string()),
            ("FLOWGATE_STATE".to_string(), abs(&opts.state).display().to_string()),
            ("FLOWGATE_DATA_DIR".to_string(), abs(&opts.data_dir).display().to_string()),
            ("FLOWGATE_LOG_FORMAT".to_string(), "text".to_string()),
            // HTTP functions accept a development identity named in X-Flowgate-Dev-Identity.
            ("FLOWGATE_DEV_IDENTITIES".to_string(), abs(&opts.state).join(crate::adapters::local::identities::FILE).display().to_string()),
            ("FUNCTIONS_WORKER_RUNTIME".to_string(), "custom".to_string()),
            ("FUNCTIONS_APP_ROOT_PATH".to_string(), abs(&app.root).display().to_string()),
        ];
        // On the virtual clock, the configuration the simulation runs under is recorded at its
        // start, not at the wall-clock moment the handler happened to start.
        if let super::Clock::Virtual { from, .. } = opts.clock {
            env.push(("FLOWGATE_CONFIG_RECORDED_AT".to_string(), from.to_rfc3339()));
        }
        env.extend(opts.settings.iter().cloned());
        let log = opts.state.join("handler.log");
        let timeout = app.function_timeout;
        let (child, invoker) = spawn(&opts.handler_exe, &app.arguments, &app.root, &env, &log, free_port()?, timeout)?;
        let mut h =
            Self { child, invoker, command: (opts.handler_exe.clone(), app.arguments.clone(), app.root.clone(), env), log, timeout };
        h.wait_ready().await?;
        Ok(h)
    }

    pub(super) fn invoker(&self) -> Invoker {
        self.invoker.clone()
    }

    pub(super) fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    pub(super) async fn restart(&mut self) -> Result<(), String> {
        let _ = self.child.kill().await;
        let (exe, args, root, env) = &self.command;
        let (child, invoker) = spawn(exe, args, root, env, &self.log, free_port()?, self.timeout)?;
        self.child = child;
        self.invoker = invoker;
        self.wait_ready().await
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if self.invoker.ping().await {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let tail = std::fs::read_to_string(&self.log).unwrap_or_default();
                let tail: Vec<&str> = tail.lines().rev().take(15).collect();
                return Err(format!(
                    "the handler exited at start-up ({status}); last lines of {}:\n{}",
                    self.log.display(),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                ));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Err("the handler did not answer GET / within 30 s".into())
    }

    /// SIGKILL, as a crash would.
    pub(super) fn kill(&mut self) {
        let _ = self.child.start_kill();
    }

    pub(super) async fn stop(&mut self) {
        let _ = self.child.kill().await;
    }
}

fn spawn(
    exe: &std::path::Path,
    args: &[String],
    root: &std::path::Path,
    env: &[(String, String)],
    log: &std::path::Path,
    port: u16,
    timeout: Duration,
) -> Result<(Child, Invoker), String> {
    let file = std::fs::OpenOptions::new().create(true).append(true).open(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = file.try_clone().map_err(|e| e.to_string())?;
    let child = Command::new(exe)
        .args(args)
        .current_dir(root)
        .envs(env.iter().cloned())
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        // The handler exits when this pipe closes: however the host goes (SIGKILL included), the
        // kernel closes its end, so no handler outlives it holding its port and state files.
        .env(crate::local_host::EXIT_WITH_HOST, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(err))
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start the handler {}: {e}", exe.display()))?;
    Ok((child, Invoker::new(port, timeout + Duration::from_secs(60))))
}
