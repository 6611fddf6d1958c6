use std::time::{Instant, SystemTime};

use durable_core::{DurableContext, DurableError};
use durable_macros::durable_execution;

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
    pub fn rng() -> u64 { 4 }
}
mod task {
    pub fn spawn<F>(_: F) {}
}
mod uuid {
    pub struct Uuid;
    impl Uuid {
        pub fn new_v4() -> u64 { 0 }
        pub fn now_v7() -> u64 { 0 }
    }
}
use chrono::{Local, Utc};
use uuid::Uuid;

#[durable_execution]
async fn handler(_event: (), _ctx: DurableContext) -> Result<(), DurableError> {
    let _ = SystemTime::now();
    let _ = Instant::now();
    let _ = Utc::now();
    let _ = Local::now();
    let _ = rand::random();
    let _ = rand::thread_rng();
    let _ = Uuid::new_v4();
    let _ = std::env::var("HOME");
    let _ = rand::rng();
    let _ = Uuid::now_v7();
    let _ = std::env::var_os("HOME");
    task::spawn(async {});
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let _ = tokio::spawn(async {});
    let _ = std::thread::spawn(|| {});
    tokio::select! {
        _ = async {} => {}
    }
    println!("{:?}", SystemTime::now());
    Ok(())
}

fn main() {}
