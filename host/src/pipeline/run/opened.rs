//! Everything a run opens before its threads start: checkpoints (and the
//! one to resume from), the source at its position, the decoding, the
//! sinks, the dead-letter output, the sequencer and the checkpointer.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::data::Origin;
use crate::pipeline::build::Pipeline;
use crate::pipeline::checkpointing::Checkpointer;
use crate::pipeline::deliver::Commits;
use crate::pipeline::endpoints::SourceSpec;
use crate::pipeline::error::RunError;
use crate::pipeline::ingest::{Decoding, MessageFields};
use crate::pipeline::open::{decoding_for, open_checkpoints, open_input, open_sinks, resume_error};
use crate::pipeline::progress::Progress;
use crate::pipeline::sequencer::Sequencer;
use crate::pipeline::taps::Taps;
use crate::sink::{DeadLetters, FanOut, SinkStats};
use crate::source::{Source, SourceStats};
use crate::state::{Checkpoint, CheckpointStore, SourcePosition};
use crate::time::FutureLimit;

pub(super) struct Opened {
    pub origin: Origin,
    pub source_stats: Arc<SourceStats>,
    pub store: Option<CheckpointStore>,
    /// The checkpoint the run resumes from (its stages' state already restored).
    pub resumed: Option<Checkpoint>,
    pub input: Box<dyn Source>,
    pub decoding: Decoding,
    pub sink: FanOut,
    pub taps: Taps,
    pub sink_name: String,
    pub sink_stats: Arc<SinkStats>,
    /// Where dead letters are written (by the sink thread).
    pub dead_out: DeadLetters,
    /// Staged: the operators' dead letters, handed to the sink thread.
    pub dead: DeadLetters,
    pub commits: Option<Commits>,
    pub message_fields: MessageFields,
    pub sequencer: Sequencer,
    pub checkpointer: Option<Checkpointer>,
    /// A bounded file on a terminal: (where reading starts, the file's length).
    pub progress: Option<(u64, u64)>,
}

impl Opened {
    /// Opens what `pipeline` names, reading `source` instead of its own
    /// when given.
    pub fn open(
        pipeline: &mut Pipeline,
        source: Option<Box<dyn Source>>,
    ) -> Result<Self, RunError> {
        let origin = pipeline.source.origin();
        let source_stats = Arc::new(SourceStats::default());
        source_stats.watermark_ms.store(i64::MIN, Ordering::Relaxed);
        let (store, resumed) = open_checkpoints(pipeline)?;
        let mut input = match source {
            Some(source) => source,
            None => open_input(
                &pipeline.source,
                &source_stats,
                resumed.as_ref().map(|c| &c.source),
            )?,
        };
        let decoding = decoding_for(&pipeline.source, input.as_mut(), &pipeline.schema)?;
        let (sink, taps, sink_name) = open_sinks(
            pipeline,
            store.is_some(),
            resumed.as_ref().map(|c| c.sink.clone()),
        )?;
        let sink_stats = Arc::new(SinkStats::default());
        let _ = sink_stats.name.set(sink_name.clone());
        let resume_dead_letters = resumed.as_ref().map(|c| c.dead_letter_bytes);
        let dead_out = match &pipeline.dead_letter {
            Some(path) => DeadLetters::to_file(path, resume_dead_letters).map_err(|error| {
                RunError::OpenDeadLetter {
                    path: path.display().to_string(),
                    error,
                }
            })?,
            None => DeadLetters::to_stderr(),
        };
        // The operators' dead letters reach the file through the sink thread.
        let dead = dead_out.staged();
        let commits = input
            .offset_committer(&origin)
            .map(|(committer, interval)| Commits {
                committer,
                interval,
                stats: source_stats.clone(),
            });
        let (message_fields, idle_timeout) = (input.message_fields(), input.idle_timeout());
        let mut sequencer = Sequencer::new(
            pipeline.max_out_of_orderness_ms,
            idle_timeout,
            FutureLimit::new(pipeline.max_future_ms),
            origin.clone(),
        );
        if let Some(checkpoint) = &resumed {
            sequencer
                .resume(checkpoint)
                .map_err(|reason| resume_error(checkpoint, &store, reason))?;
        }
        let checkpointer = store
            .as_ref()
            .map(|s| {
                let first_id = s.next_id()?;
                Ok::<_, RunError>(Checkpointer::new(
                    &pipeline.name,
                    s.settings().interval,
                    first_id,
                ))
            })
            .transpose()?;
        // A bounded file on a terminal: (where reading starts, the file's length).
        let progress = match &pipeline.source {
            SourceSpec::File {
                path,
                follow: false,
                ..
            } if pipeline.progress != Progress::Off => std::fs::metadata(path).ok().map(|m| {
                let start = match resumed.as_ref().map(|c| &c.source) {
                    Some(SourcePosition::Lines { byte_offset, .. }) => *byte_offset,
                    _ => 0,
                };
                (start, m.len())
            }),
            _ => None,
        };
        Ok(Opened {
            origin,
            source_stats,
            store,
            resumed,
            input,
            decoding,
            sink,
            taps,
            sink_name,
            sink_stats,
            dead_out,
            dead,
            commits,
            message_fields,
            sequencer,
            checkpointer,
            progress,
        })
    }
}
