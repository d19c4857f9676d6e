//! A FAULT-INJECTING PROXY for tests and benchmarks: plain HTTP on loopback in front of an HTTPS
//! storage endpoint (Azurite), passing each request on unless the seeded dice say otherwise:
//! 5 % `503 ServerBusy` with `Retry-After: 1`, 2 % the connection dropped without an answer,
//! 1 % the request passed on and its answer never sent (the client times out; the write
//! happened), 1 % of conditional writes (`If-Match`, an append position) refused with 412 as if a
//! second writer had got there first. It counts what it did.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};

/// How often each fault happens, as fractions of requests.
#[derive(Debug, Clone, Copy)]
pub struct Faults {
    pub busy: f64,
    pub reset: f64,
    pub hang: f64,
    pub race: f64,
}

impl Faults {
    pub const CHAOS: Self = Self { busy: 0.05, reset: 0.02, hang: 0.01, race: 0.01 };
    pub const NONE: Self = Self { busy: 0.0, reset: 0.0, hang: 0.0, race: 0.0 };
}

/// What the proxy did.
#[derive(Debug, Default)]
pub struct Injected {
    pub requests: AtomicU64,
    pub busy: AtomicU64,
    pub resets: AtomicU64,
    pub hangs: AtomicU64,
    pub races: AtomicU64,
}

impl Injected {
    pub fn line(&self) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "requests={} busy={} resets={} hangs={} races={}",
            g(&self.requests),
            g(&self.busy),
            g(&self.resets),
            g(&self.hangs),
            g(&self.races)
        )
    }
}

struct Shared {
    upstream: String,
    client: reqwest::Client,
    faults: Mutex<Faults>,
    rng: Mutex<fastrand::Rng>,
    injected: Arc<Injected>,
}

/// A running proxy: its URL (`http://127.0.0.1:port` + the upstream's path) and its tallies.
pub struct FaultProxy {
    pub url: String,
    pub injected: Arc<Injected>,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// Starts a proxy for `upstream` (`https://127.0.0.1:port/account`), trusting `ca_pem`.
    pub async fn start(upstream: &str, ca_pem: &[u8], faults: Faults, seed: u64) -> Self {
        let client = reqwest::Client::builder().add_root_certificate(reqwest::Certificate::from_pem(ca_pem).unwrap()).build().unwrap();
        let (origin, path) = match upstream.splitn(4, '/').collect::<Vec<_>>()[..] {
            [scheme, "", host, path] => (format!("{scheme}//{host}"), format!("/{path}")),
            _ => (upstream.to_string(), String::new()),
        };
        let injected = Arc::new(Injected::default());
        let shared = Arc::new(Shared {
            upstream: origin,
            client,
            faults: Mutex::new(faults),
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
            injected: injected.clone(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let serving = shared.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let shared = serving.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| handle(shared.clone(), req));
                    // A dropped connection (the reset fault) ends here with an error; that is the point.
                    let _ =
                        hyper::server::conn::http1::Builder::new().serve_connection(hyper_util::rt::TokioIo::new(stream), service).await;
                });
            }
        });
        Self { url: format!("http://{addr}{path}"), injected, shared }
    }

    /// Changes the fault rates from now on (e.g. none, to read the state back).
    pub fn set_faults(&self, faults: Faults) {
        *self.shared.faults.lock().unwrap() = faults;
    }
}

#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the fault proxy")
    }
}

impl std::error::Error for Dropped {}

async fn handle(shared: Arc<Shared>, req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Dropped> {
    shared.injected.requests.fetch_add(1, Ordering::Relaxed);
    let faults = *shared.faults.lock().unwrap();
    let roll = shared.rng.lock().unwrap().f64();
    let conditional = req.headers().contains_key("if-match") || req.headers().contains_key("x-ms-blob-condition-appendpos");
    if roll < faults.busy {
        shared.injected.busy.fetch_add(1, Ordering::Relaxed);
        return Ok(Response::builder()
            .status(503)
            .header("x-ms-error-code", "ServerBusy")
            .header("retry-after", "1")
            .body(Full::new(Bytes::from_static(b"The server is busy.")))
            .unwrap());
    }
    if roll < faults.busy + faults.reset {
        shared.injected.resets.fetch_add(1, Ordering::Relaxed);
        return Err(Dropped);
    }
    let hang = roll < faults.busy + faults.reset + faults.hang;
    if !hang && conditional && roll < faults.busy + faults.reset + faults.hang + faults.race {
        shared.injected.races.fetch_add(1, Ordering::Relaxed);
        let code = if req.headers().contains_key("x-ms-blob-condition-appendpos") {
            "AppendPositionConditionNotMet"
        } else {
            "UpdateConditionNotSatisfied"
        };
        return Ok(Response::builder()
            .status(412)
            .header("x-ms-error-code", code)
            .body(Full::new(Bytes::from(format!("{{\"odata.error\":{{\"code\":\"{code}\"}}}}"))))
            .unwrap());
    }
    let answer = forward(&shared, req).await;
    if hang {
        shared.injected.hangs.fetch_add(1, Ordering::Relaxed);
        // The write happened; its answer never comes.
        std::future::pending::<()>().await;
    }
    Ok(answer)
}

async fn forward(shared: &Shared, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let url = format!("{}{}", shared.upstream, parts.uri.path_and_query().map_or("/", |p| p.as_str()));
    let mut out = shared.client.request(parts.method, url).body(body);
    for (k, v) in &parts.headers {
        if k != "host" && k != "content-length" {
            out = out.header(k, v);
        }
    }
    match out.send().await {
        Ok(r) => {
            let mut b = Response::builder().status(r.status().as_u16());
            for (k, v) in r.headers() {
                if k != "transfer-encoding" && k != "content-length" && k != "connection" {
                    b = b.header(k, v);
                }
            }
            let bytes = r.bytes().await.unwrap_or_default();
            b.body(Full::new(bytes)).unwrap()
        }
        Err(e) => Response::builder().status(502).body(Full::new(Bytes::from(e.to_string()))).unwrap(),
    }
}
