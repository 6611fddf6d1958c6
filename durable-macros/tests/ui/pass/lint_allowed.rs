//! Each call the lint rejects in a handler compiles inside a step, and in a
//! handler under `#[durable::allow_nondeterministic]`.
use std::time::{Instant, SystemTime};

use durable_core::{DurableContext, DurableError, StepContext, StepError};
use durable_macros::{durable_execution, durable_step};

mod chrono {
    pub struct Utc;
    impl Utc {
        pub fn now() -> u64 { 0 }
    }
    pub struct Local;
    impl Local {
        pub fn now() -> u64 { 0 }
    }
}
mod rand {
    pub fn random() -> u64 { 4 }
    pub fn thread_rng() -> u64 { 4 }
}
mod uuid {
    pub struct Uuid;
    impl Uuid {
        pub fn new_v4() -> u64 { 0 }
    }
}
use chrono::{Local, Utc};
use uuid::Uuid;

#[durable_step]
async fn everything(_step: StepContext) -> Result<u64, StepError> {
    let _ = SystemTime::now();
    let _ = Instant::now();
    let _ = Utc::now() + Local::now() + rand::random() + rand::thread_rng() + Uuid::new_v4();
    let _ = std::env::var("HOME");
    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    let _ = tokio::spawn(async {});
    let _ = std::thread::spawn(|| {});
    tokio::select! {
        _ = async {} => {}
    }
    #[durable::allow_nondeterministic]
    let _ = SystemTime::now();
    Ok(0)
}

#[durable_execution]
async fn handler(_event: (), ctx: DurableContext) -> Result<u64, DurableError> {
    ctx.step(everything()).await?;
    ctx.step(|_: StepContext| async move {
        let _ = SystemTime::now();
        let _ = Instant::now();
        let _ = Utc::now() + Local::now() + rand::random() + rand::thread_rng() + Uuid::new_v4();
        let _ = std::env::var("HOME");
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        let _ = tokio::spawn(async {});
        let _ = std::thread::spawn(|| {});
        tokio::select! {
            _ = async {} => {}
        }
        Ok::<_, StepError>(())
    })
    .await?;
    #[durable::allow_nondeterministic]
    let started = SystemTime::now();
    #[durable::allow_nondeterministic]
    {
        let _ = Instant::now();
        let _ = std::env::var("HOME");
    }
    let _ = started;
    let random = #[durable::allow_nondeterministic] rand::random();
    Ok(random)
}

fn main() {
    let _ = durable_local::LocalRunner::new(handler);
}
