//! A FAKE alert receiver in process: records every notification it is given (with the instant the
//! test's clock says) and can be told to fail.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;
use flowgate::domain::alerting::delivery::Notification;
use flowgate::ports::{Notifier, NotifyError};

#[derive(Default)]
pub struct RecordingReceiver {
    pub got: Mutex<Vec<Notification>>,
    pub failing: AtomicBool,
}

#[async_trait]
impl Notifier for RecordingReceiver {
    fn receiver(&self) -> &str {
        "recording"
    }
    async fn send(&self, n: &Notification) -> Result<(), NotifyError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(NotifyError::Retry { reason: "scripted failure".into(), after: None });
        }
        self.got.lock().unwrap().push(n.clone());
        Ok(())
    }
}
