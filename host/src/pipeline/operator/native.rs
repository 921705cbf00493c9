//! Operators compiled into the host: benchmark baselines and built-ins.

use std::sync::Arc;

use super::{Operator, OperatorContext, StateKey};
use crate::data::{Batch, Schema};
use crate::pipeline::stage::StageError;
use crate::state::StageState;

/// Logic compiled into the host, with no state and no failures.
pub trait NativeOperator: Send {
    fn output_schema(&self) -> &Arc<Schema>;
    fn process(&mut self, batch: &Batch) -> Batch;
}

/// A [`NativeOperator`] as a stage.
pub struct NativeStage(pub Box<dyn NativeOperator>);

impl Operator for NativeStage {
    fn kind(&self) -> &'static str {
        "native"
    }

    fn describe(&self) -> String {
        format!("native operator → {}", self.0.output_schema())
    }

    fn output_schema(&self) -> &Arc<Schema> {
        self.0.output_schema()
    }

    fn process(
        &mut self,
        batch: Batch,
        _cx: &mut OperatorContext<'_>,
    ) -> Result<Batch, StageError> {
        Ok(self.0.process(&batch))
    }

    fn fingerprint(&self) -> String {
        "native".into()
    }

    fn state_key(&self) -> StateKey {
        StateKey::Global
    }

    fn replicate(&self, _input: &Arc<Schema>) -> Result<Box<dyn Operator>, String> {
        Err("native operators run as one instance".into())
    }

    fn snapshot(&self) -> StageState {
        StageState::Stateless { plugin: None }
    }

    fn restore(&mut self, stage: &str, state: StageState) -> Result<(), String> {
        super::restore_stateless(stage, state)
    }
}
