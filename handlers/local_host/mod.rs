//! `flowgate local`: a stand-in for the Azure Functions host. It reads `host.json` and
//! `function-defs/`, starts the handler (`flowgate serve`) as a child process, and invokes it over
//! real HTTP with the host's envelope: timers on their NCRONTAB, Service Bus triggers from the
//! local queues (complete on 2xx, abandon otherwise, dead-letter at the maximum deliveries),
//! BlobCreated events for files that appear in the data folder, and HTTP triggers forwarded in
//! wrapped form. It runs on the real clock, or on a virtual one that jumps from event to event.

pub mod demo;
pub mod demo_endpoint;
/// Set for a handler the local host starts: it exits when its standard input (a pipe from the
/// host) reaches end-of-file.
pub const EXIT_WITH_HOST: &str = "FLOWGATE_EXIT_WITH_HOST";

/// In a handler started by the local host: exits the process once the host's pipe closes.
pub fn exit_with_host() {
    if std::env::var(EXIT_WITH_HOST).as_deref() != Ok("1") {
        return;
    }
    std::thread::spawn(|| {
        use std::io::Read;
        let mut buf = [0u8; 64];
        let mut stdin = std::io::stdin();
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        tracing::info!("the local host went away; the handler stops");
        std::process::exit(0);
    });
}

mod functions;
mod handler;
mod http_front;
pub mod invoker;
pub mod release_story;
pub mod summary;
mod watcher;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::Mutex;

use crate::adapters::local::{LocalQueue, QueueSettings, SqliteStore};
use crate::app::{queue_path, store_path};
use crate::ports::{queues, OutgoingMessage, Queue};
use functions::{AppDef, TriggerDef};
use handler::Handler;
use summary::{HostCounters, Summary};
use watcher::Watcher;

pub use functions::load as load_app;

/// Which clock drives the host.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    /// Wall time, until Ctrl-C or `until`.
    Real { until: Option<DateTime<Utc>> },
    /// Simulated time from `from` to `until`, as fast as the machine allows.
    Virtual { from: DateTime<Utc>, until: DateTime<Utc> },
}

/// Everything `flowgate local` is told.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    pub app_root: PathBuf,
    pub catalog: PathBuf,
    pub state: PathBuf,
    pub data_dir: PathBuf,
    pub clock: Clock,
    /// Where HTTP triggers are served (`/api/<route>`), on the real clock only.
    pub http_port: Option<u16>,
    /// Extra app settings for the handler.
    pub settings: Vec<(String, String)>,
    /// The flowgate binary that serves the handler.
    pub handler_exe: PathBuf,
    /// Faults to inject (for the chaos run); `None` in normal use.
    pub chaos: Option<Chaos>,
    /// The demo's release story (`--demo` on the virtual clock).
    pub story: Option<release_story::ReleaseStory>,
}

/// Faults the host injects to prove that nothing is lost or done twice: duplicate deliveries of
/// Service Bus messages, and the handler killed with SIGKILL in the middle of invocations. What
/// happened is written to `<state>/chaos.json`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Chaos {
    /// Share of messages delivered twice.
    pub duplicate_ratio: f64,
    /// Kill the handler during every N-th DispatchRun invocation (0: never).
    pub kill_every: u64,
    pub seed: u64,
}

#[derive(Debug, Default, serde::Serialize)]
struct ChaosLog {
    kills: u64,
    duplicate_deliveries: u64,
    /// Run key → how many invocations answered that they completed it.
    completions: std::collections::BTreeMap<String, u32>,
}

struct Host {
    app: AppDef,
    handler: Mutex<Handler>,
    queue: LocalQueue,
    counters: std::sync::Mutex<HostCounters>,
    chaos: Option<Chaos>,
    rng: std::sync::Mutex<fastrand::Rng>,
    dispatches: std::sync::atomic::AtomicU64,
    chaos_log: std::sync::Mutex<ChaosLog>,
}

impl Host {
    /// Invokes a function, restarting the handler if it died. `true` when the answer was 2xx.
    async fn invoke(&self, function: &str, envelope: &serde_json::Value) -> bool {
        self.invoke_for_body(function, envelope).await.is_some()
    }

    /// Invokes a function; the answer's body when it was 2xx.
    async fn invoke_for_body(&self, function: &str, envelope: &serde_json::Value) -> Option<serde_json::Value> {
        let invoker = self.handler.lock().await.invoker();
        let kill = self.chaos.is_some_and(|c| c.kill_every > 0 && function == "DispatchRun")
            && (self.dispatches.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1) % self.chaos.map_or(1, |c| c.kill_every.max(1))
                == 0;
        let result = if kill {
            let call = {
                let (invoker, function, envelope) = (invoker.clone(), function.to_string(), envelope.clone());
                tokio::spawn(async move { invoker.invoke(&function, &envelope).await })
            };
            tokio::time::sleep(Duration::from_millis(3)).await;
            self.handler.lock().await.kill();
            self.chaos_log.lock().unwrap_or_else(|p| p.into_inner()).kills += 1;
            call.await.unwrap_or_else(|e| Err(e.to_string()))
        } else {
            invoker.invoke(function, envelope).await
        };
        let ok = match &result {
            Ok(r) => {
                if !r.ok() {
                    let logs = r.body.get("Logs").cloned().unwrap_or_default();
                    tracing::warn!(function, status = r.status, logs = %logs, "invocation failed");
                }
                r.ok()
            }
            Err(e) => {
                tracing::warn!(function, error = %e, "invocation failed");
                let mut h = self.handler.lock().await;
                if h.exited() {
                    tracing::warn!("the handler exited; restarting it");
                    if let Err(e) = h.restart().await {
                        tracing::error!(error = %e, "the handler could not be restarted");
                    }
                    self.counters.lock().unwrap_or_else(|p| p.into_inner()).handler_restarts += 1;
                }
                false
            }
        };
        let mut c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        *c.invocations.entry(function.to_string()).or_default() += 1;
        if !ok {
            c.failed_invocations += 1;
        }
        if ok {
            result.ok().map(|r| r.body)
        } else {
            None
        }
    }

    /// Chaos bookkeeping: notes a DispatchRun answer that says it completed the run.
    fn note_completion(&self, message_body: &str, answer: &serde_json::Value) {
        if self.chaos.is_none() {
            return;
        }
        let completed = answer.get("Logs").and_then(|l| l.get(0)).and_then(|l| l.as_str()).is_some_and(|l| l.starts_with("succeeded"));
        if let (true, Ok(msg)) = (completed, serde_json::from_str::<crate::domain::messages::DispatchMessage>(message_body)) {
            *self.chaos_log.lock().unwrap_or_else(|p| p.into_inner()).completions.entry(msg.key().to_string()).or_default() += 1;
        }
    }

    /// Delivers every message of every Service Bus function that is receivable at `now`.
    async fn drain_queues(&self, now: DateTime<Utc>) -> Result<bool, String> {
        let mut any = false;
        for f in &self.app.functions {
            let TriggerDef::ServiceBus { binding, queue } = &f.trigger else {
                continue;
            };
            while let Some(m) = self.queue.receive(queue, now).await.map_err(|e| e.to_string())? {
                any = true;
                let env = invoker::service_bus_envelope(&f.name, binding, &m, now);
                let duplicate = self.chaos.is_some_and(|c| self.rng.lock().unwrap_or_else(|p| p.into_inner()).f64() < c.duplicate_ratio);
                if duplicate {
                    // The same message delivered twice (as after a lost lock).
                    self.chaos_log.lock().unwrap_or_else(|p| p.into_inner()).duplicate_deliveries += 1;
                    if let Some(answer) = self.invoke_for_body(&f.name, &env).await {
                        self.note_completion(&m.body, &answer);
                    }
                }
                let answer = self.invoke_for_body(&f.name, &env).await;
                if let Some(a) = &answer {
                    self.note_completion(&m.body, a);
                }
                if answer.is_some() {
                    if !self.queue.complete(&m.lock_token, now).await.map_err(|e| e.to_string())? {
                        tracing::warn!(message_id = %m.message_id, "lock lost before completion; the message will be redelivered");
                    }
                } else {
                    self.queue.abandon(&m.lock_token, now).await.map_err(|e| e.to_string())?;
                }
            }
        }
        Ok(any)
    }

    /// Raises BlobCreated for each arrival as the deployment does: onto the `arrivals` queue when
    /// a function listens there (the private deployment's path), else straight to each Event
    /// Grid triggered function (a public app's subscription).
    async fn announce(&self, arrivals: Vec<watcher::Arrival>, now: DateTime<Utc>) -> Result<(), String> {
        let queued =
            self.app.functions.iter().any(|f| matches!(&f.trigger, TriggerDef::ServiceBus { queue, .. } if queue == queues::ARRIVALS));
        for a in &arrivals {
            let event = invoker::blob_created_event(&a.container, &a.path, a.size, a.at);
            if queued {
                let message = OutgoingMessage {
                    message_id: event["id"].as_str().unwrap_or_default().to_string(),
                    correlation_id: None,
                    body: event.to_string(),
                    scheduled_enqueue_time: None,
                    time_to_live: None,
                    sent_at: now,
                };
                self.queue.send(queues::ARRIVALS, message).await.map_err(|e| e.to_string())?;
                continue;
            }
            for f in &self.app.functions {
                if let TriggerDef::EventGrid { binding } = &f.trigger {
                    self.invoke(&f.name, &invoker::blob_created_envelope(&f.name, binding, &event, now)).await;
                }
            }
        }
        Ok(())
    }

    /// Runs everything due at `now` until nothing more is.
    async fn settle(&self, watcher: &mut Watcher, now: DateTime<Utc>, mut rescan: bool) -> Result<(), String> {
        for _ in 0..100_000 {
            let arrivals = watcher.due(now, rescan);
            let announced = !arrivals.is_empty();
            self.announce(arrivals, now).await?;
            let delivered = self.drain_queues(now).await?;
            rescan = delivered;
            if !announced && !delivered {
                return Ok(());
            }
        }
        Err("the host did not settle after 100000 rounds".into())
    }

    async fn next_queue_time(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, String> {
        let mut next: Option<DateTime<Utc>> = None;
        for f in &self.app.functions {
            if let TriggerDef::ServiceBus { queue, .. } = &f.trigger {
                if let Some(t) = self.queue.next_visible_after(queue, now).await.map_err(|e| e.to_string())? {
                    next = Some(next.map_or(t, |n: DateTime<Utc>| n.min(t)));
                }
            }
        }
        Ok(next)
    }
}

/// Real clock: how often the queues are looked at when file notifications are on.
const QUEUE_POLL: chrono::TimeDelta = chrono::TimeDelta::seconds(1);
/// Real clock without file notifications: how often the data folder is rescanned.
const RESCAN_POLL: chrono::TimeDelta = chrono::TimeDelta::milliseconds(250);

struct TimerState {
    function: String,
    binding: String,
    schedule: crate::domain::schedule::Ncrontab,
    last: Option<DateTime<Utc>>,
    next: Option<DateTime<Utc>>,
}

/// Runs the host until the clock's end (or Ctrl-C on the real clock) and summarises.
pub async fn run(opts: LocalOptions) -> Result<Summary, String> {
    let app = functions::load(&opts.app_root).map_err(|e| {
        format!(
            "cannot read the function app in {} (set --app-root to the folder holding host.json and function-defs/): {e}",
            opts.app_root.display()
        )
    })?;
    std::fs::create_dir_all(&opts.state).map_err(|e| format!("{}: {e}", opts.state.display()))?;
    std::fs::create_dir_all(&opts.data_dir).map_err(|e| format!("{}: {e}", opts.data_dir.display()))?;
    let store = SqliteStore::open(&store_path(&opts.state)).map_err(|e| e.to_string())?;
    let queue = LocalQueue::open(&queue_path(&opts.state), QueueSettings::default()).map_err(|e| e.to_string())?;
    let handler = Handler::start(&opts, &app).await?;
    let (from, virtual_clock) = match opts.clock {
        Clock::Virtual { from, .. } => (from, true),
        Clock::Real { .. } => (Utc::now(), false),
    };
    let host = Arc::new(Host {
        app,
        handler: Mutex::new(handler),
        queue: queue.clone(),
        counters: Default::default(),
        chaos: opts.chaos,
        rng: std::sync::Mutex::new(fastrand::Rng::with_seed(opts.chaos.map_or(0, |c| c.seed))),
        dispatches: Default::default(),
        chaos_log: Default::default(),
    });
    let mut watcher = Watcher::new(&opts.data_dir, virtual_clock.then_some(from));
    if !virtual_clock {
        if let Err(e) = watcher.watch() {
            tracing::warn!(error = %e, folder = %opts.data_dir.display(), "no file notifications; the data folder is rescanned every 250 ms");
        }
    }
    let mut timers: Vec<TimerState> = host
        .app
        .functions
        .iter()
        .filter_map(|f| match &f.trigger {
            TriggerDef::Timer { binding, schedule } => Some(TimerState {
                function: f.name.clone(),
                binding: binding.clone(),
                schedule: schedule.clone(),
                last: None,
                next: schedule.next_after(from - chrono::Duration::milliseconds(1), chrono_tz::Tz::UTC),
            }),
            _ => None,
        })
        .collect();

    let http = match (opts.http_port, virtual_clock) {
        (Some(port), false) => Some(http_front::serve(host.clone(), port).await?),
        _ => None,
    };
    let started = Instant::now();
    let until = match opts.clock {
        Clock::Virtual { until, .. } => Some(until),
        Clock::Real { until } => until,
    };
    let mut now = from;
    let mut stop = Box::pin(tokio::signal::ctrl_c());
    let mut story = match (&opts.story, virtual_clock) {
        (Some(s), true) => Some(release_story::Player::new(&opts.state, s.clone(), from, opts.settings.clone())?),
        _ => None,
    };
    loop {
        if let Some(s) = story.as_mut() {
            s.play(now).await;
        }
        host.settle(&mut watcher, now, true).await?;
        let mut next = timers.iter().filter_map(|t| t.next).min();
        if let Some(t) = story.as_ref().and_then(|s| s.next_after(now)) {
            next = Some(next.map_or(t, |n| n.min(t)));
        }
        if let Some(q) = host.next_queue_time(now).await? {
            next = Some(next.map_or(q, |n| n.min(q)));
        }
        if virtual_clock {
            if let Some(w) = watcher.next_after(now) {
                next = Some(next.map_or(w, |n| n.min(w)));
            }
            match (next, until) {
                (Some(n), Some(u)) if n <= u => now = n,
                _ => break,
            }
        } else {
            // Files arrive by notification; the queues are looked at every second for messages
            // other processes sent (a replay from the command line).
            let poll = if watcher.notifying() { QUEUE_POLL } else { RESCAN_POLL };
            let wake = next.unwrap_or(now + chrono::Duration::seconds(60)).min(Utc::now() + poll);
            let sleep = (wake - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = watcher.changed() => {}
                _ = &mut stop => break,
            }
            now = Utc::now();
            if until.is_some_and(|u| now > u) {
                break;
            }
        }
        for t in timers.iter_mut() {
            if t.next.is_some_and(|n| n <= now) {
                let scheduled = t.next.unwrap_or(now);
                let upcoming = t.schedule.next_after(now, chrono_tz::Tz::UTC);
                let past_due = (now - scheduled) > chrono::Duration::seconds(60);
                let env = invoker::timer_envelope(&t.function, &t.binding, t.last.or(Some(scheduled)), upcoming, now, past_due);
                host.invoke(&t.function, &env).await;
                t.last = Some(scheduled);
                t.next = upcoming;
            }
        }
    }
    if let Some(h) = http {
        h.abort();
    }
    let end = if virtual_clock { until.unwrap_or(now) } else { Utc::now() };
    host.handler.lock().await.stop().await;
    if opts.chaos.is_some() {
        let log = host.chaos_log.lock().unwrap_or_else(|p| p.into_inner());
        let path = opts.state.join("chaos.json");
        std::fs::write(&path, serde_json::to_string_pretty(&*log).unwrap_or_default()).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let counters = host.counters.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut summary = summary::collect(&store, &queue, counters, from, end, started.elapsed().as_secs_f64(), opts.state.clone()).await?;
    summary.releases = match story {
        Some(s) => s.finish().await,
        None => Vec::new(),
    };
    Ok(summary)
}
