//! Keyed operators: per-key state and event-time timers, owned by the host.
//!
//! The host groups nothing and stores everything: for each batch it hands the
//! plugin the state it stored for each key of the batch, and keeps the state
//! the plugin leaves. That keeps a plugin a pure function of (state, events)
//! → (state, outputs), which is what lets the host checkpoint the state,
//! restore it after a crash, and carry it over when the plugin is swapped.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::Timestamp;

/// An operator that remembers something per key (the pipeline's `key_by`
/// field), such as "how long has this sensor been hot", and can act later
/// through event-time timers, such as "alert if it is still hot 5 s after it
/// got hot" — even if the key sends nothing more.
///
/// Output rows are the key plus the fields of [`Keyed::Out`].
pub trait Keyed: Sized {
    /// The plugin's configuration.
    type Config: DeserializeOwned;
    /// The fields this operator reads.
    type In: DeserializeOwned;
    /// The fields each output row has besides the key.
    type Out: Serialize + DeserializeOwned;
    /// What is remembered per key, stored by the host (bincode).
    type State: Serialize + DeserializeOwned;

    /// The version of [`Keyed::State`]. Change it when the type changes, and
    /// list the versions [`Keyed::migrate`] converts in [`Keyed::MIGRATES_FROM`];
    /// the host refuses a swap that would leave state it cannot convert.
    const STATE_VERSION: u32 = 1;
    /// Earlier state versions [`Keyed::migrate`] converts from.
    const MIGRATES_FROM: &'static [u32] = &[];

    /// Builds the operator from its configuration.
    fn new(config: Self::Config) -> Result<Self, String>;

    /// Processes one row of the key `ctx.key()`.
    fn process(&mut self, row: Self::In, ctx: &mut Context<'_, Self::State, Self::Out>);

    /// A timer set with [`Context::set_timer`] fired: the watermark reached `at`.
    fn on_timer(&mut self, at: Timestamp, ctx: &mut Context<'_, Self::State, Self::Out>) {
        let _ = (at, ctx);
    }

    /// Converts one key's state stored under `from_version` (one of
    /// [`Keyed::MIGRATES_FROM`]); decode it with [`decode_state`].
    fn migrate(from_version: u32, state: &[u8]) -> Result<Self::State, String> {
        let _ = state;
        Err(format!("no migration from state version {from_version}"))
    }
}

/// One key's view while a row or timer of it is processed.
pub struct Context<'a, S, O> {
    pub(crate) key: &'a str,
    pub(crate) state: &'a mut Option<S>,
    pub(crate) out: &'a mut Vec<O>,
    pub(crate) timers: &'a mut Vec<i64>,
}

impl<S, O> Context<'_, S, O> {
    /// The key (its text; integer keys are in decimal).
    pub fn key(&self) -> &str {
        self.key
    }

    /// The key's state, if any is stored.
    pub fn state(&self) -> Option<&S> {
        self.state.as_ref()
    }

    /// The key's state, to change in place or to fill (`None` is nothing stored).
    pub fn state_mut(&mut self) -> &mut Option<S> {
        self.state
    }

    /// Replaces the key's state.
    pub fn set_state(&mut self, state: S) {
        *self.state = Some(state);
    }

    /// Forgets the key's state.
    pub fn clear_state(&mut self) {
        *self.state = None;
    }

    /// Emits an output row for this key.
    pub fn emit(&mut self, row: O) {
        self.out.push(row);
    }

    /// Asks for [`Keyed::on_timer`] once the watermark reaches `at`. Setting
    /// the same time twice fires once.
    pub fn set_timer(&mut self, at: Timestamp) {
        self.timers.push(at.0);
    }
}

/// Decodes state as the SDK stores it: for [`Keyed::migrate`], with the old state type.
pub fn decode_state<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    use bincode::Options;
    crate::adapter::codec()
        .deserialize(bytes)
        .map_err(|e| format!("cannot decode the stored state: {e}"))
}
