//! WASI waits that never wait.
//!
//! A plugin's CPU budget is enforced by epoch interruption, which can stop
//! guest code but not a host call in progress. Of the WASI calls linked for
//! Rust's std, only the monotonic clock's subscriptions wait in real time
//! (`std::thread::sleep`, a `poll` with a timeout): a plugin sleeping in one
//! would hold its batch, and the pipeline, for as long as it asked. Time
//! stands still inside a plugin anyway (see the frozen clocks in
//! `instance.rs`), so a subscription is ready at once: a sleep returns
//! immediately and a busy wait spends the plugin's own budget.

use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::p2::{subscribe, DynPollable, Pollable};

use super::state::PluginState;

/// The monotonic clock's interface, as `wasmtime_wasi` 48 links it; guests
/// importing an older 0.2 version are matched to it.
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

struct ReadyAtOnce;

#[wasmtime_wasi::async_trait]
impl Pollable for ReadyAtOnce {
    async fn ready(&mut self) {}
}

fn ready_at_once(state: &mut PluginState) -> wasmtime::Result<Resource<DynPollable>> {
    let table = state.table();
    let resource = table.push(ReadyAtOnce)?;
    subscribe(table, resource)
}

/// Replaces the clock subscriptions `add_to_linker_sync` linked.
pub fn link_clocks_that_never_wait(linker: &mut Linker<PluginState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    clock.func_wrap("subscribe-duration", |mut store, (_,): (u64,)| {
        Ok((ready_at_once(store.data_mut())?,))
    })?;
    clock.func_wrap("subscribe-instant", |mut store, (_,): (u64,)| {
        Ok((ready_at_once(store.data_mut())?,))
    })?;
    linker.allow_shadowing(false);
    Ok(())
}
